#!/usr/bin/env bash
# Holds benchmark: reserve + capture pairs per second, credits.reserve then
# credits.capture in one transaction, against the same pair hand-written in
# PL/pgSQL (bench/holds_plpgsql.sql, schema bench_holds_plpgsql).
#
#   bash bench/holds.sh
#
# Environment (defaults): HOLDS_SECONDS (15: measured seconds per run, after
# 1 s of warm-up), HOLDS_ROUNDS (2: the matrix is run this many times, the
# variants taking turns; TPS = median), HOLDS_POOLS (1000), HOLDS_MEMBERS (4),
# HOLDS_CLIENTS ("1 8"), KEEP_SERVER_DIR (keep the server directory and the
# pgbench logs).
#
# Each pool has a free grant (expires in a year), a plan grant (two months)
# and a purchased grant (never), 10^9 credits each; members have no limit.
# Each transaction, on a random pool and member: reserve 2 credits (ttl 15
# minutes, feature 'bench'), capture 1 (the first part is captured, the rest
# released). pgbench -n -M prepared, synchronous_commit off. Every run must
# be valid: pgbench exits 0, no failed transaction, and the variant's
# captured holds grew by exactly the transactions pgbench counted. Ends with
# credits.verify() and the same balance checks on the PL/pgSQL tables.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/more_common.sh"

SECS=${HOLDS_SECONDS:-15}
ROUNDS=${HOLDS_ROUNDS:-2}
POOLS=${HOLDS_POOLS:-1000}
MEMBERS=${HOLDS_MEMBERS:-4}
CLIENTS=${HOLDS_CLIENTS:-1 8}
WARMUP=1

bench_server
log "loading $POOLS pools x 3 grants, $MEMBERS members each, into credits and bench_holds_plpgsql"
psql_q -f "$BENCH_DIR/holds_plpgsql.sql" >/dev/null
psql_q -v pools="$POOLS" -v members="$MEMBERS" -v copies='{bench_holds_plpgsql}' -f "$BENCH_DIR/pools_load.sql" >/dev/null
verify_empty

for v in credits plpgsql; do
	schema=$([ $v = credits ] && echo credits || echo bench_holds_plpgsql)
	cat >"$WORK/$v.sql" <<PGB
\\set pool random(1, $POOLS)
\\set member random(1, $MEMBERS)
BEGIN;
SELECT $schema.reserve('p' || :pool, 'u' || :member, 2, interval '15 minutes', 'bench') AS hold_id \\gset
SELECT * FROM $schema.capture(:hold_id::bigint, 1);
END;
PGB
done
schema_of() { [ "$1" = credits ] && echo credits || echo bench_holds_plpgsql; }
captured_in() { psql_q -c "SELECT count(*) FROM $(schema_of "$1").holds WHERE status = 'captured'"; }

declare -A RUNS
run_one() { # run_one <round> <variant> <clients>
	local round=$1 v=$2 c=$3 schema out rc=0 before after processed failed tps
	schema=$(schema_of "$v")
	psql_q -c "VACUUM (ANALYZE) $schema.pools, $schema.members, $schema.grants, $schema.holds, $schema.hold_parts" -c CHECKPOINT
	before=$(captured_in "$v")
	out=$WORK/pgbench-$round-$v-$c.log
	PGOPTIONS="-c synchronous_commit=off" pgbench -n -M prepared -T $((SECS + WARMUP)) --progress=1 \
		-c "$c" -j $((c < 2 ? c : 2)) -f "$WORK/$v.sql" >"$out" 2>&1 || rc=$?
	after=$(captured_in "$v")
	processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	tps=$(awk -v w="$WARMUP" '/^progress: / { if ($2 + 0 > w + 0.5) { s += $4; n++ } } END { if (n) printf "%.1f", s / n }' "$out")
	if [ $rc -ne 0 ] || [ -z "$processed" ] || [ "$processed" = 0 ] || [ "${failed:-0}" != 0 ] ||
		grep -q aborted "$out" || [ $((after - before)) -ne "$processed" ] || [ -z "$tps" ]; then
		echo "INVALID RUN: $v c=$c (exit $rc, processed ${processed:-?}, failed ${failed:-?}, captured $((after - before)))" >&2
		grep -E 'ERROR|error|aborted' "$out" | sort | uniq -c | head >&2 || true
		exit 1
	fi
	RUNS[$v,$c]+=" $tps"
	printf '  round %s  %-7s c=%-2s %8.0f pairs/s  (%s transactions, 0 failed)\n' "$round" "$v" "$c" "$tps" "$processed"
}

log "pgbench -M prepared, synchronous_commit off, $SECS s per run after $WARMUP s of warm-up, $ROUNDS round(s)"
for round in $(seq 1 "$ROUNDS"); do
	for c in $CLIENTS; do
		for v in credits plpgsql; do run_one "$round" "$v" "$c"; done
	done
done

log "results"
echo "reserve(2) + capture(1) in one transaction; random pool of $POOLS, $MEMBERS members each; pgbench -M prepared;" \
	"synchronous_commit off; $SECS s per run; TPS = median of $ROUNDS round(s) of the steady per-second rate"
bench_header
echo
echo "| clients | credits pairs/s | plpgsql pairs/s | credits / plpgsql | runs (credits; plpgsql) |"
echo "|--------:|----------------:|----------------:|------------------:|-------------------------|"
for c in $CLIENTS; do
	a=$(median <<<"${RUNS[credits,$c]}")
	b=$(median <<<"${RUNS[plpgsql,$c]}")
	printf '| %7s | %15.0f | %15.0f | %17s | %s;%s |\n' "$c" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')" \
		"${RUNS[credits,$c]}" "${RUNS[plpgsql,$c]}"
done

log "consistency after the runs"
verify_empty
n=$(psql_q <<'SQL'
SELECT (SELECT count(*) FROM bench_holds_plpgsql.grants g
          LEFT JOIN (SELECT pool_id, grant_id, sum(amount) AS a, sum(held) AS h FROM bench_holds_plpgsql.ledger
                      WHERE grant_id IS NOT NULL GROUP BY 1, 2) l USING (pool_id, grant_id)
         WHERE g.remaining <> coalesce(l.a, 0) OR g.held <> coalesce(l.h, 0))
     + (SELECT count(*) FROM bench_holds_plpgsql.members m
          LEFT JOIN (SELECT pool_id, member, sum(held) AS h FROM bench_holds_plpgsql.ledger
                      WHERE entry_type IN ('hold', 'capture', 'release') GROUP BY 1, 2) l USING (pool_id, member)
         WHERE m.held <> coalesce(l.h, 0));
SQL
)
echo "bench_holds_plpgsql: $n grants or members differ from their ledger"
[ "$n" = 0 ]
