#!/usr/bin/env bash
# CPU instructions per charge (valgrind --tool=callgrind), for the same three
# variants as bench/run.sh: credits.charge, the PL/pgSQL charge and the
# floor. Unlike TPS this does not move with other load on the machine, so it
# is the figure to compare when a change to credits is meant to save work.
#
#   bash bench/instructions.sh        # BENCH_CALLS charges per variant (2000)
#   BENCH_VARIANTS=credits BENCH_SETUP=/tmp/change.sql bash bench/instructions.sh
#                                     # what a schema change would save: the
#                                     # SQL file runs after loading
#
# Loads the data (bench/load.sql) into a throwaway server, stops it, then
# runs a single-user backend (postgres --single) under callgrind executing a
# prepared statement (PREPARE once, EXECUTE per charge: random pools, 4
# members) BENCH_CALLS times and BENCH_CALLS/10 times; the difference divided
# by the difference in calls is the cost of one charge, start-up excluded.
# Also shows the part spent in ExecConstraints (CHECK constraints).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/../scripts/lib.sh"
cd "$ROOT"

CALLS=${BENCH_CALLS:-2000}
FEW=$((CALLS / 10))
POOLS=${BENCH_POOLS:-10000}
MEMBERS=${BENCH_MEMBERS:-4}
VARIANTS=${BENCH_VARIANTS:-credits plpgsql floor}
SETUP=${BENCH_SETUP:-}
PACKAGES+=(valgrind)

ensure_packages
build_and_install
start_server
log "loading $POOLS pools x 3 grants, $MEMBERS members each"
psql -X -q -At -v ON_ERROR_STOP=1 -v pools="$POOLS" -v members="$MEMBERS" -f "$BENCH_DIR/load.sql" >/dev/null
if [ -n "$SETUP" ]; then
	log "applying $SETUP"
	psql -X -q -v ON_ERROR_STOP=1 -f "$SETUP"
fi
as_server_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null

prepare_of() {
	case $1 in
	credits) echo "PREPARE c(text, text, numeric) AS SELECT * FROM credits.charge(\$1, \$2, \$3, 'bench');" ;;
	plpgsql) echo "PREPARE c(text, text, numeric) AS SELECT * FROM bench_plpgsql.charge(\$1, \$2, \$3, 'bench');" ;;
	floor)
		# The floor's script, with pgbench's variables as the statement's parameters.
		echo "PREPARE c(text, text, numeric) AS $(grep -v '^--' "$BENCH_DIR/floor.sql" |
			sed "s/'p' || :pool/\$1/; s/'u' || :member/\$2/g; s/:amount::numeric/\$3/g" | tr '\n\t' '  ')"
		;;
	esac
}

# callgrind_run <variant> <calls>: prints the instructions the backend ran.
callgrind_run() {
	local variant=$1 calls=$2 sql=$RUN_DIR/$1-$2.sql out=$RUN_DIR/$1-$2.callgrind
	{
		prepare_of "$variant"
		awk -v n="$calls" -v pools="$POOLS" -v members="$MEMBERS" -v seed="$calls" 'BEGIN {
			srand(seed)
			for (i = 0; i < n; i++)
				printf "EXECUTE c(%cp%d%c, %cu%d%c, 1);\n", 39, int(rand() * pools) + 1, 39, 39, int(rand() * members) + 1, 39
		}'
	} >"$sql"
	chmod 644 "$sql"
	as_server_user valgrind --tool=callgrind --callgrind-out-file="$out" \
		"$PG_BIN/postgres" --single -D "$PGDATA_DIR" -c shared_preload_libraries= -c synchronous_commit=off \
		postgres <"$sql" >"$RUN_DIR/$1-$2.log" 2>&1
	if grep -q 'ERROR' "$RUN_DIR/$1-$2.log"; then
		grep 'ERROR' "$RUN_DIR/$1-$2.log" | head -5 >&2
		return 1
	fi
	sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$RUN_DIR/$1-$2.log"
}

chmod 777 "$RUN_DIR"
log "callgrind: $FEW and $CALLS charges per variant (single-user backend, synchronous_commit off)"
echo "credits built from $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'an unknown commit')"
printf '| variant | instructions per charge | in ExecConstraints (CHECK constraints) |\n'
printf '|---------|------------------------:|---------------------------------------:|\n'
for variant in $VARIANTS; do
	few=$(callgrind_run "$variant" "$FEW")
	many=$(callgrind_run "$variant" "$CALLS")
	per=$(((many - few) / (CALLS - FEW)))
	checks=$(callgrind_annotate --inclusive=yes "$RUN_DIR/$variant-$CALLS.callgrind" 2>/dev/null |
		awk '/:ExecConstraints / && !n++ { gsub(",", "", $1); c = $1 } END { print c }')
	printf '| %-7s | %23s | %38s |\n' "$variant" "$per" \
		"$(awk -v c="${checks:-0}" -v n="$CALLS" -v p="$per" 'BEGIN { printf "%d (%.0f%%)", c / n, 100 * c / n / p }')"
done
