#!/usr/bin/env bash
# Command 2: every test of credits against a throwaway PostgreSQL 15.
#   C++ unit tests (ctest), pg_regress and isolation specs (make installcheck),
#   stress tests (test/stress/*.sh); then the server log is scanned for crashes.
# Ends with "N passed, N failed"; exits non-zero if anything failed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

passed=0
failed=0
failures=()
record() { # record <name> <ok:0|1>
	if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok     $1"; else failed=$((failed + 1)); failures+=("$1"); echo "FAILED $1"; fi
}
finish() {
	[ ${#failures[@]} -gt 0 ] && printf '\nfailed: %s\n' "${failures[*]}"
	echo
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

ensure_packages || { record setup 1; finish; }
build_and_install || { record build 1; finish; }

# run_unit_tests <label> <build dir> [cmake options]: builds the C++ core's
# GoogleTest suite and records every test.
run_unit_tests() {
	local label=$1 dir=$2
	shift 2
	local build_log
	build_log=$(mktemp /tmp/credits-cmake.XXXXXX)
	if cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Debug "$@" >"$build_log" 2>&1 &&
		cmake --build "$dir" -j2 --target credits_unit_tests >>"$build_log" 2>&1; then
		ctest --test-dir "$dir" --output-on-failure -j2 >"$dir/ctest.log" 2>&1
		local line name
		while read -r line; do
			name=$(sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) .*/\1/' <<<"$line")
			if grep -q ' Passed' <<<"$line"; then record "$label/$name" 0; else record "$label/$name" 1; fi
		done < <(grep -E '^ *[0-9]+/[0-9]+ Test +#' "$dir/ctest.log")
		grep -qE '^ *[0-9]+/[0-9]+ Test +#' "$dir/ctest.log" || { cat "$dir/ctest.log"; record "$label/ctest" 1; }
	else
		tail -30 "$build_log"
		record "$label/build" 1
	fi
}

log "C++ unit tests (GoogleTest, ctest)"
run_unit_tests unit "$ROOT/build"
log "C++ unit tests under AddressSanitizer and UndefinedBehaviorSanitizer"
run_unit_tests unit-asan "$ROOT/build-asan" -DCREDITS_SANITIZE=ON

start_server || { record server 1; finish; }

log "pg_regress and isolation specs (make installcheck)"
make -s installcheck PG_CONFIG="$PG_BIN/pg_config" >"$RUN_DIR/installcheck.log" 2>&1
installcheck_rc=$?
while read -r line; do
	name=$(sed -E 's/^[ ]*(test )?([A-Za-z0-9_-]+) +\.\.\. .*/\2/' <<<"$line")
	kind=regress
	[ -f "test/isolation/specs/$name.spec" ] && kind=isolation
	if grep -qE '\.\.\. ok' <<<"$line"; then record "$kind/$name" 0; else record "$kind/$name" 1; fi
done < <(grep -E '^ *(test )?[A-Za-z0-9_-]+ +\.\.\. ' "$RUN_DIR/installcheck.log")
if [ $installcheck_rc -ne 0 ]; then
	for d in regression.diffs test/isolation/output/regression.diffs; do
		[ -s "$d" ] && { echo "--- $d"; head -200 "$d"; }
	done
	grep -qE '\.\.\. (FAILED|failed)' "$RUN_DIR/installcheck.log" || { tail -30 "$RUN_DIR/installcheck.log"; record installcheck 1; }
fi

log "stress tests"
for t in test/stress/*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	if bash "$t" >"$RUN_DIR/stress-$name.log" 2>&1; then
		tail -3 "$RUN_DIR/stress-$name.log"; record "stress/$name" 0
	else
		tail -40 "$RUN_DIR/stress-$name.log"; record "stress/$name" 1
	fi
done

log "server log"
if grep -E 'terminated by signal|PANIC' "$SERVER_LOG"; then record server-log/no-crash 1; else record server-log/no-crash 0; fi

finish
