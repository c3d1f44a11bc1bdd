#!/usr/bin/env bash
# Reports benchmark: the report queries on one pool of a big ledger, balance()
# on a big ledger vs a tiny one, and charge TPS on the big database vs a
# small one.
#
#   bash bench/reports.sh
#
# Environment (defaults): REPORTS_POOLS (10000) and REPORTS_ROWS_PER_POOL
# (1000): the big ledger has POOLS x ROWS_PER_POOL rows over 24 months (the
# issue's 10^7); REPORTS_RUNS (25: timed runs per query, each on another
# random pool; median and p90), REPORTS_CHARGE_SECONDS (10), REPORTS_ROUNDS
# (2: big and small databases take turns), REPORTS_CLIENTS (8),
# REPORTS_VERIFY (1: run credits.verify() on the big database at the end,
# timed), KEEP_SERVER_DIR.
#
# Four databases, loaded by bench/reports_load.sql (bulk SQL straight into
# credits' tables, consistent with the ledger, then VACUUM ANALYZE):
#   big:  POOLS pools x ROWS_PER_POOL ledger rows (24 grants, the
#         rest charges, all pools interleaved in time order);
#   plainkey: a copy of big whose ledger primary key is 0.1's plain
#         (pool_id, entry_id), without the columns the reports read
#         (INCLUDE): the reports and charges without what they need;
#   tiny: 1 pool x ROWS_PER_POOL rows: the same pool shape, a ledger of
#         ROWS_PER_POOL rows (10^3 by default);
#   small: POOLS pools x 24 grants and no charges (ledger 24 x POOLS rows).
# Times, server-side (clock_timestamp() around EXECUTE, every column of every
# row computed: WHERE s IS NOT NULL),
# monthly_summary, statement(..., 'day') over the last year, pool_balances
# and balance() on big (and the first two on plainkey), and balance() of one
# pool read over and over on big and on tiny; prints the plans of one run
# of each (auto_explain, nested statements). Then pgbench -M prepared
# charges of 1 credit on random pools at REPORTS_CLIENTS clients,
# synchronous_commit off, on big, plainkey and small in turns.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/more_common.sh"

POOLS=${REPORTS_POOLS:-10000}
RPP=${REPORTS_ROWS_PER_POOL:-1000}
RUNS=${REPORTS_RUNS:-25}
CSECS=${REPORTS_CHARGE_SECONDS:-10}
ROUNDS=${REPORTS_ROUNDS:-2}
CLIENTS=${REPORTS_CLIENTS:-8}
VERIFY=${REPORTS_VERIFY:-1}

bench_server
# (not in database postgres: pg_cron's launcher stays connected to it, and
# plainkey is copied from big with CREATE DATABASE ... TEMPLATE)
psql_q -c "CREATE DATABASE big" -c "CREATE DATABASE small" -c "CREATE DATABASE tiny"
for db in big small tiny; do psql_q -d $db -c "SET client_min_messages = warning" -c "CREATE EXTENSION credits"; done

load() { # load <db> <pools> <rows per pool>
	local t0 t1
	t0=$(date +%s.%N)
	psql_q -d "$1" -v pools="$2" -v rows_per_pool="$3" -f "$BENCH_DIR/reports_load.sql"
	psql_q -d "$1" -c "VACUUM (ANALYZE) credits.pools, credits.members, credits.grants, credits.ledger"
	t1=$(date +%s.%N)
	printf '  %-8s %6d pools x %5d rows = %9d ledger rows, loaded and analyzed in %.0f s; ledger %s\n' "$1" "$2" "$3" \
		"$(psql_q -d "$1" -c 'SELECT count(*) FROM credits.ledger')" "$(echo "$t1 - $t0" | bc)" \
		"$(psql_q -d "$1" -c "SELECT pg_size_pretty(pg_total_relation_size('credits.ledger'))")"
}
log "loading"
load big "$POOLS" "$RPP"
load tiny 1 "$RPP"
load small "$POOLS" 24
t0=$(date +%s.%N)
psql_q -c "CREATE DATABASE plainkey TEMPLATE big"
psql_q -d plainkey <<'SQL'
ALTER TABLE credits.ledger DROP CONSTRAINT ledger_pkey, ADD CONSTRAINT ledger_pkey PRIMARY KEY (pool_id, entry_id);
ANALYZE credits.ledger;
SQL
printf '  plainkey: big copied, its ledger key rebuilt without INCLUDE in %.0f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)"

# The timing helper, in each database: runs `sql` (parameter $1 = a pool
# key) `runs` times on random pools after one warm-up run, every row
# fetched; returns the milliseconds of each run.
for db in big plainkey tiny; do
	psql_q -d $db <<'SQL'
CREATE FUNCTION public.bench_time(sql text, runs int, pools int)
RETURNS SETOF double precision
LANGUAGE plpgsql AS $$
DECLARE
	t timestamptz;
	n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM (%s) s WHERE s IS NOT NULL', sql) INTO n USING 'p' || (1 + floor(random() * pools))::int;
	FOR i IN 1 .. runs LOOP
		t := clock_timestamp();
		EXECUTE format('SELECT count(*) FROM (%s) s WHERE s IS NOT NULL', sql) INTO n USING 'p' || (1 + floor(random() * pools))::int;
		RETURN NEXT extract(epoch FROM clock_timestamp() - t) * 1000;
	END LOOP;
END
$$;
SQL
done
# time_query <db> <pools> <sql>: "median p90 rows" in ms
time_query() {
	psql_q -d "$1" -v sql="$3" -v runs="$RUNS" -v pools="$2" <<'SQL'
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY t)::numeric, 2) || ' ' ||
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY t)::numeric, 2)
  FROM public.bench_time(:'sql', :runs, :pools) t;
SQL
}
rows_of() { psql_q -d "$1" -c "SELECT count(*) FROM ($2) s" 2>/dev/null || true; }

Q_MONTHLY="SELECT * FROM credits.monthly_summary WHERE pool = \$1"
Q_STATEMENT="SELECT * FROM credits.statement(\$1, now() - interval '1 year', now(), 'day')"
Q_POOLBAL="SELECT * FROM credits.pool_balances WHERE pool = \$1"
# 0.3: statement in an admin's time zone, by kind, balance_at and usage
Q_STATEMENT_TZ="SELECT * FROM credits.statement(\$1, now() - interval '1 year', now(), 'day', 'America/Los_Angeles')"
Q_BY_KIND="SELECT * FROM credits.statement_by_kind(\$1, now() - interval '1 year', now(), 'month')"
Q_BALANCE_AT="SELECT credits.balance_at(\$1, now() - random() * interval '730 days')"
Q_USAGE="SELECT * FROM credits.usage(\$1, date_trunc('month', now()) - interval '1 month', date_trunc('month', now()))"
Q_BALANCE="SELECT credits.balance(\$1)"

log "timing the report queries: $RUNS runs each on random pools, after one warm-up run"
declare -A T
T[monthly]=$(time_query big "$POOLS" "$Q_MONTHLY")
T[statement]=$(time_query big "$POOLS" "$Q_STATEMENT")
T[poolbal]=$(time_query big "$POOLS" "$Q_POOLBAL")
T[statement_tz]=$(time_query big "$POOLS" "$Q_STATEMENT_TZ")
T[by_kind]=$(time_query big "$POOLS" "$Q_BY_KIND")
T[balance_at]=$(time_query big "$POOLS" "$Q_BALANCE_AT")
T[usage]=$(time_query big "$POOLS" "$Q_USAGE")
T[balance]=$(time_query big "$POOLS" "$Q_BALANCE")
T[balance_one]=$(time_query big 1 "$Q_BALANCE")
T[balance_tiny]=$(time_query tiny 1 "$Q_BALANCE")
T[monthly_plain]=$(time_query plainkey "$POOLS" "$Q_MONTHLY")
T[statement_plain]=$(time_query plainkey "$POOLS" "$Q_STATEMENT")
for k in "${!T[@]}"; do echo "  $k: ${T[$k]}"; done

log "plans of one run each on pool p1 (auto_explain, nested statements included)"
PLANS=$RUN_DIR/plans.log
: >"$WORK/mark"
lines_before=$(wc -l <"$SERVER_LOG")
psql -X -q -d big >/dev/null <<'SQL'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_timing = on;
SET auto_explain.log_nested_statements = on;
SELECT * FROM credits.monthly_summary WHERE pool = 'p1';
SELECT * FROM credits.statement('p1', now() - interval '1 year', now(), 'day');
SELECT * FROM credits.pool_balances WHERE pool = 'p1';
SELECT credits.balance('p1');
SQL
sleep 1
tail -n +"$((lines_before + 1))" "$SERVER_LOG" >"$PLANS"
# The top-level plan of each statement, and the statement's inner query.
grep -v -E '^\s*$' "$PLANS" | sed -n '/duration:/,$p' | cut -c1-200 | head -150

log "charges: pgbench -M prepared, $CLIENTS clients, random pools of $POOLS, synchronous_commit off, $CSECS s per run, $ROUNDS round(s)"
cat >"$WORK/charge.sql" <<PGB
\\set pool random(1, $POOLS)
\\set member random(1, 4)
SELECT * FROM credits.charge('p' || :pool, 'u' || :member, 1, 'bench');
PGB
declare -A CT
for round in $(seq 1 "$ROUNDS"); do
	for db in big plainkey small; do
		psql_q -d $db -c "VACUUM (ANALYZE) credits.pools, credits.members, credits.grants" -c CHECKPOINT
		out=$WORK/pgbench-$round-$db.log
		rc=0
		PGOPTIONS="-c synchronous_commit=off" pgbench -d $db -n -M prepared -T $((CSECS + 1)) --progress=1 \
			-c "$CLIENTS" -j 2 -f "$WORK/charge.sql" >"$out" 2>&1 || rc=$?
		if [ $rc -ne 0 ] || grep -q -E 'aborted|^number of failed transactions: [1-9]' "$out"; then
			echo "INVALID RUN $db (exit $rc)" >&2
			grep -E 'ERROR|error|aborted' "$out" | sort | uniq -c | head >&2 || true
			exit 1
		fi
		tps=$(awk '/^progress: / { if ($2 + 0 > 1.5) { s += $4; n++ } } END { if (n) printf "%.1f", s / n }' "$out")
		CT[$db]+=" $tps"
		printf '  round %s  %-8s %8.0f charges/s\n' "$round" "$db" "$tps"
	done
done

log "results"
echo "big ledger: $POOLS pools x $RPP rows = $((POOLS * RPP)) ledger rows over 24 months; median (p90) of $RUNS runs on random pools, server-side"
bench_header
echo
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { printf "%s (%.1fx)", (v < t ? "met" : "MISSED"), v / t }'; }
echo "| query | median ms | p90 ms | target | |"
echo "|-------|----------:|-------:|-------:|---|"
row() { # row <label> <key> <target ms or ->
	read -r med p90 <<<"${T[$2]}"
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$med" "$p90" "$3" "$([ "$3" = - ] && echo || verdict "$med" "$3")"
}
row "monthly_summary WHERE pool = \$1 (24 rows)" monthly 20
row "statement(\$1, now() - 1 year, now(), 'day') (366 rows)" statement 50
row "pool_balances WHERE pool = \$1" poolbal 2
row "statement(\$1, now() - 1 year, now(), 'day', 'America/Los_Angeles') (366 rows)" statement_tz 50
row "statement_by_kind(\$1, now() - 1 year, now(), 'month') (13 x 4 rows)" by_kind 50
row "balance_at(\$1, a random instant of the 24 months)" balance_at 5
row "usage(\$1, last month) " usage 20
row "monthly_summary, primary key without INCLUDE (plainkey)" monthly_plain 20
row "statement(...), primary key without INCLUDE (plainkey)" statement_plain 50
row "balance(\$1), ledger of $((POOLS * RPP)) rows, random pools" balance -
row "balance('p1'), ledger of $((POOLS * RPP)) rows, the same pool each run" balance_one -
row "balance('p1'), ledger of $RPP rows, the same pool each run" balance_tiny -
echo
echo "| database | ledger rows | charges/s at $CLIENTS clients (median) | runs |"
echo "|----------|------------:|----------------:|------|"
for db in big plainkey small; do
	printf '| %s | %s | %.0f | %s |\n' "$db" \
		"$(psql_q -d $db -c 'SELECT count(*) FROM credits.ledger')" "$(median <<<"${CT[$db]}")" "${CT[$db]}"
done
echo
awk -v a="$(median <<<"${CT[big]}")" -v b="$(median <<<"${CT[plainkey]}")" 'BEGIN {
	r = a / b
	printf "charge() with the reports covering key / without (big / plainkey): %.2f (target >= 0.90: %s)\n", r, (r >= 0.9 ? "met" : "MISSED") }'

if [ "$VERIFY" = 1 ]; then
	log "consistency"
	t0=$(date +%s.%N)
	PGDATABASE=big verify_empty
	printf 'credits.verify() on the big database took %.0f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
	for db in small tiny; do PGDATABASE=$db verify_empty; done
fi
