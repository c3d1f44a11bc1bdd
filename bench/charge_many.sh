#!/usr/bin/env bash
# Batch charges: credits.charge_many with 100 and 1,000 events per call
# against single credits.charge calls, on random pools out of 10,000, at 2
# and 8 clients, in one run. Reports events per second and each batch size's
# ratio to single calls at the same number of clients (the issue's target:
# 1,000 events per call >= 10x single calls at 8 clients).
#
#   bash bench/charge_many.sh     # BENCH_SECONDS per run (default 10)
#
# Environment: BENCH_SECONDS, BENCH_ROUNDS (3: each cell is the median of
# its rounds, taken in turn), BENCH_SYNC (off).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/more_common.sh"

SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
SYNC=${BENCH_SYNC:-off}
POOLS=10000

bench_server
log "loading $POOLS pools (3 grants each, 5 members each enrolled)"
psql_q -c "ALTER SYSTEM SET synchronous_commit = $SYNC" -c "SELECT pg_reload_conf()" >/dev/null
psql_q <<SQL >/dev/null
SELECT credits.create_pool('p' || g) FROM generate_series(1, $POOLS) g;
SELECT credits.grant('p' || g, 1e9, 'free', now() + interval '1 year'), credits.grant('p' || g, 1e9, 'plan', now() + interval '2 years'),
       credits.grant('p' || g, 1e9, 'purchased') FROM generate_series(1, $POOLS) g;
SQL
psql_q -c "SELECT count(*) FROM (SELECT credits.charge('p' || g, 'u' || m, 0) FROM generate_series(1, $POOLS) g, generate_series(1, 5) m) x" >/dev/null
psql_q -c "VACUUM ANALYZE" >/dev/null

cat >"$WORK/single.sql" <<SQL
\set p random(1, $POOLS)
\set m random(1, 5)
SELECT credits.charge('p' || :p, 'u' || :m, 1);
SQL
for n in 100 1000; do
	cat >"$WORK/batch$n.sql" <<SQL
SELECT count(*) FROM credits.charge_many(
	ARRAY(SELECT 'p' || (1 + floor(random() * $POOLS))::int FROM generate_series(1, $n)),
	ARRAY(SELECT 'u' || (1 + floor(random() * 5))::int FROM generate_series(1, $n)),
	array_fill(1::numeric, ARRAY[$n]));
SQL
done

declare -A runs
for clients in 2 8; do
	for round in $(seq "$ROUNDS"); do
		for kind in single batch100 batch1000; do
			per=1
			[ "$kind" = batch100 ] && per=100
			[ "$kind" = batch1000 ] && per=1000
			tps=$(pgbench -n -M prepared -c "$clients" -j 2 -T "$SECS" -f "$WORK/$kind.sql" postgres 2>&1 |
				awk '/^tps/ {print $3}')
			events=$(awk -v t="$tps" -v n="$per" 'BEGIN {printf "%d", t * n}')
			runs[$kind,$clients]="${runs[$kind,$clients]:-} $events"
			psql_q -c "VACUUM credits.pools, credits.members, credits.grants" >/dev/null
		done
	done
done
verify_empty

echo
bench_header
echo "synchronous_commit=$SYNC, $SECS s per run, median of $ROUNDS rounds; events per second"
printf '%-8s %12s %12s %12s %10s %10s\n' clients single batch100 batch1000 '100/single' '1000/single'
for clients in 2 8; do
	s=$(echo ${runs[single,$clients]} | median)
	b1=$(echo ${runs[batch100,$clients]} | median)
	b2=$(echo ${runs[batch1000,$clients]} | median)
	printf '%-8s %12.0f %12.0f %12.0f %10.2f %10.2f   (rounds: single%s; 100%s; 1000%s)\n' "$clients" "$s" "$b1" "$b2" \
		"$(echo "$b1 / $s" | bc -l)" "$(echo "$b2 / $s" | bc -l)" \
		"${runs[single,$clients]}" "${runs[batch100,$clients]}" "${runs[batch1000,$clients]}"
done
