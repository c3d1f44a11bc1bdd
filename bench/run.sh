#!/usr/bin/env bash
# The charge benchmark: credits.charge against the same charge hand-written
# in PL/pgSQL (bench/plpgsql_charge.sql) and against the floor, one plain SQL
# statement doing the fewest writes a charge needs (bench/floor.sql).
#
#   bash bench/run.sh            # BENCH_SECONDS per run (default 10)
#   bash bench/run.sh --quick    # 3 s per run (same as BENCH_QUICK=1)
#
# Environment: BENCH_SECONDS (per run), BENCH_ROUNDS (1: repeat the whole
# matrix and report the median of each cell), BENCH_POOLS (10000),
# BENCH_MEMBERS (members per pool, 4), BENCH_SYNC ("off on"), BENCH_OUT (also
# write the result table to this file), KEEP_SERVER_DIR (keep the server
# directory, with every pgbench log).
#
# Builds and installs credits, starts a throwaway PostgreSQL 15 (unix socket
# only), loads identical data into the three variants, then runs pgbench
# -M prepared for every variant: a random pool at 1, 8 and 32 clients, one
# hot pool at 8 and 32 clients, with synchronous_commit off and on. TPS is
# the steady rate: each run lasts 1 s more than BENCH_SECONDS, and pgbench's
# per-second progress for that first second is left out. Every run
# must be valid: pgbench exits 0, 0 failed transactions, no aborted client,
# and the variant's ledger grew by exactly the transactions pgbench counted.
# Ends with the TPS table, the ratios to the floor, and credits.verify().
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/more_common.sh"

SECS=${BENCH_SECONDS:-10}
if [ "${1:-}" = "--quick" ] || [ -n "${BENCH_QUICK:-}" ]; then SECS=3; fi
ROUNDS=${BENCH_ROUNDS:-1}
WARMUP=1 # seconds run before the measured BENCH_SECONDS, not counted
POOLS=${BENCH_POOLS:-10000}
MEMBERS=${BENCH_MEMBERS:-4}
SYNC_MODES=${BENCH_SYNC:-off on}
VARIANTS=(credits plpgsql floor)
# scenario: name clients pool-expression
SCENARIOS=("random 1" "random 8" "random 32" "hot 8" "hot 32")

bench_server

log "loading $POOLS pools x 3 grants, $MEMBERS members each, into credits, bench_plpgsql and bench_floor"
load_start=$(date +%s)
psql_q -v pools="$POOLS" -v members="$MEMBERS" -f "$BENCH_DIR/load.sql"
echo "loaded in $(($(date +%s) - load_start)) s"
problems=$(psql_q -c "SELECT count(*) FROM credits.verify()")
[ "$problems" = 0 ] || { echo "credits.verify() reports $problems problems after loading" >&2; exit 1; }

# One pgbench script per variant and scenario.
SCRIPTS=$RUN_DIR/scripts
mkdir -p "$SCRIPTS"
chmod 755 "$SCRIPTS"
for scenario in random hot; do
	if [ $scenario = random ]; then
		prologue="\\set pool random(1, $POOLS)"
	else
		prologue="\\set pool 1"
	fi
	prologue+=$'\n'"\\set member random(1, $MEMBERS)"$'\n'"\\set amount 1"
	printf '%s\n%s\n' "$prologue" \
		"SELECT * FROM credits.charge('p' || :pool, 'u' || :member, :amount, 'bench');" >"$SCRIPTS/credits-$scenario.sql"
	printf '%s\n%s\n' "$prologue" \
		"SELECT * FROM bench_plpgsql.charge('p' || :pool, 'u' || :member, :amount, 'bench');" >"$SCRIPTS/plpgsql-$scenario.sql"
	printf '%s\n%s\n' "$prologue" "$(grep -v '^--' "$BENCH_DIR/floor.sql")" >"$SCRIPTS/floor-$scenario.sql"
done

schema_of() { case $1 in credits) echo credits ;; plpgsql) echo bench_plpgsql ;; floor) echo bench_floor ;; esac; }
charges_in() { psql_q -c "SELECT count(*) FROM $(schema_of "$1").ledger WHERE entry_type = 'charge'"; }

declare -A TPS
run_one() { # run_one <round> <sync> <variant> <scenario> <clients>
	local round=$1 sync=$2 variant=$3 scenario=$4 clients=$5 schema out rc before after processed failed tps
	schema=$(schema_of "$variant")
	psql_q -c "VACUUM (ANALYZE) $schema.pools, $schema.members, $schema.grants" -c "CHECKPOINT"
	before=$(charges_in "$variant")
	out=$RUN_DIR/pgbench-$round-$sync-$variant-$scenario-$clients.log
	rc=0
	PGOPTIONS="-c synchronous_commit=$sync" pgbench -n -M prepared -T $((SECS + WARMUP)) --progress=1 \
		-c "$clients" -j $((clients < 2 ? clients : 2)) -f "$SCRIPTS/$variant-$scenario.sql" >"$out" 2>&1 || rc=$?
	after=$(charges_in "$variant")
	processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	# Steady state: the mean of the per-second rates after the warm-up (in
	# its first second every new backend fills its caches and prepares its
	# plans, and on a hot pool the others queue behind it).
	tps=$(awk -v warmup="$WARMUP" '/^progress: / { t = $2 + 0; if (t > warmup + 0.5) { sum += $4; n++ } }
		END { if (n) printf "%.1f", sum / n }' "$out")
	[ -n "$tps" ] || tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out")
	if [ $rc -ne 0 ] || [ -z "$processed" ] || [ "${failed:-0}" != 0 ] || grep -q 'aborted' "$out" ||
		[ "$processed" = 0 ] || [ $((after - before)) -ne "$processed" ]; then
		echo "INVALID RUN: $variant $scenario c=$clients synchronous_commit=$sync (pgbench exit $rc," \
			"processed ${processed:-?}, failed ${failed:-?}, ledger grew by $((after - before)))" >&2
		grep -E 'ERROR|aborted|error' "$out" | sort | uniq -c | head -20 >&2 || true
		exit 1
	fi
	RUNS[$sync,$variant,$scenario,$clients]+=" $tps"
	printf '  round %s  sync %-3s  %-7s %-6s c=%-3s %8.0f tps  (%s transactions, 0 failed)\n' \
		"$round" "$sync" "$variant" "$scenario" "$clients" "$tps" "$processed"
}

log "pgbench -M prepared, $SECS s per run after $WARMUP s of warm-up, $ROUNDS round(s)"
declare -A RUNS
for round in $(seq 1 "$ROUNDS"); do
	for sync in $SYNC_MODES; do
		for s in "${SCENARIOS[@]}"; do
			read -r scenario clients <<<"$s"
			# The variants take turns, so drift on the machine hits all three alike.
			for variant in "${VARIANTS[@]}"; do
				run_one "$round" "$sync" "$variant" "$scenario" "$clients"
			done
		done
	done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
for key in "${!RUNS[@]}"; do
	TPS[$key]=$(median <<<"${RUNS[$key]}")
done

# ratio <variant> <sync> <scenario> <clients>: the variant's TPS over the
# floor's, paired by round (the two ran seconds apart), median over rounds.
ratio() {
	local a=${RUNS[$2,$1,$3,$4]} b=${RUNS[$2,floor,$3,$4]}
	paste <(tr ' ' '\n' <<<"$a" | grep .) <(tr ' ' '\n' <<<"$b" | grep .) |
		awk '{ print ($2 > 0 ? $1 / $2 : 0) }' | median | awk '{ printf "%.2f", $1 }'
}
table() {
	echo "pgbench -M prepared, $SECS s per run after $WARMUP s of warm-up$([ "$ROUNDS" -gt 1 ] &&
		echo ", $ROUNDS rounds: TPS = median, ratio = median of the per-round ratios");" \
		"$POOLS pools x 3 grants, $MEMBERS members each; charge of 1 credit"
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1);" \
		"$(psql_q -c 'SHOW server_version')"
	echo "credits $(psql_q -c "SELECT extversion FROM pg_extension WHERE extname = 'credits'") built from $BUILT_FROM"
	echo
	printf '| sync_commit | pool   | clients | credits TPS | plpgsql TPS | floor TPS | credits/floor | plpgsql/floor |\n'
	printf '|-------------|--------|--------:|------------:|------------:|----------:|--------------:|--------------:|\n'
	for sync in $SYNC_MODES; do
		for s in "${SCENARIOS[@]}"; do
			read -r scenario clients <<<"$s"
			local c=${TPS[$sync,credits,$scenario,$clients]} p=${TPS[$sync,plpgsql,$scenario,$clients]}
			local f=${TPS[$sync,floor,$scenario,$clients]}
			printf '| %-11s | %-6s | %7s | %11.0f | %11.0f | %9.0f | %13s | %13s |\n' "$sync" "$scenario" "$clients" \
				"$c" "$p" "$f" "$(ratio credits "$sync" "$scenario" "$clients")" \
				"$(ratio plpgsql "$sync" "$scenario" "$clients")"
		done
	done
	if [[ " $SYNC_MODES " == *" off "* ]]; then
		echo
		local r1 r2
		r1=$(ratio credits off random 8)
		r2=$(ratio credits off hot 32)
		echo "target credits >= 0.80 x floor (synchronous_commit off):" \
			"random pool, 8 clients: $r1 $(awk -v r="$r1" 'BEGIN { print (r >= 0.8 ? "met" : "MISSED") }');" \
			"hot pool, 32 clients: $r2 $(awk -v r="$r2" 'BEGIN { print (r >= 0.8 ? "met" : "MISSED") }')"
	fi
}

log "results"
table | tee "${BENCH_OUT:-/dev/null}"

log "consistency after the runs"
# Fresh statistics first (autovacuum was off): with the ones taken at load
# time, when the ledger held only grant entries, verify()'s per-member usage
# query picks a partial index it then scans in full for every member.
psql_q -c "ANALYZE"
verify_start=$(date +%s)
problems=$(psql_q -c "SELECT count(*) FROM credits.verify()")
echo "  credits.verify() took $(($(date +%s) - verify_start)) s on $(psql_q -c "SELECT count(*) FROM credits.ledger") ledger rows"
psql -X -d postgres -c "SELECT * FROM credits.verify() LIMIT 20" | sed 's/^/  /'
# The hand-written variants: every grant's remaining equals its ledger sum.
for schema in bench_plpgsql bench_floor; do
	n=$(psql_q -c "SELECT count(*) FROM $schema.grants g
	                 LEFT JOIN (SELECT pool_id, grant_id, sum(amount) AS s FROM $schema.ledger
	                             WHERE grant_id IS NOT NULL GROUP BY 1, 2) l USING (pool_id, grant_id)
	                WHERE g.remaining <> coalesce(l.s, 0)")
	echo "  $schema: $n grants whose remaining differs from the ledger"
	[ "$n" = 0 ] || problems=$((problems + n))
done
if [ "$problems" != 0 ]; then
	echo "credits.verify() or a variant's check reports problems" >&2
	exit 1
fi
echo "  credits.verify() is empty"
