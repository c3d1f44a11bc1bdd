#!/usr/bin/env bash
# credits_router's cost: charges per second through the router against the
# same charges sent directly to a partition, in one run, on one server that
# holds the router database and 4 partition databases (PL/Proxy connects over
# the unix socket). Cases:
#   direct  — pgbench on partition 0, charge on a random pool of partition 0;
#   router  — pgbench on the router, the same pools (so the same partition);
#   spread  — pgbench on the router, random pools of all 4 partitions;
#   charge_many of 100 events: directly on partition 0 (its pools), and
#   through the router (pools of all partitions: split into 4 calls).
# On this machine every partition shares the same cores, so "spread" shows
# the router's own cost at full load, not what 4 machines would do
# (docs/scale-out.md works that out from these figures).
#
#   bash bench/router.sh     # BENCH_SECONDS per case (default 10)
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/more_common.sh"

SECS=${BENCH_SECONDS:-10}
POOLS=4000

bench_server
psql_q -c "ALTER SYSTEM SET synchronous_commit = off" -c "SELECT pg_reload_conf()" >/dev/null
conninfos=()
for i in 0 1 2 3; do
	psql_q -c "CREATE DATABASE part$i"
	psql_q -d part$i -c "CREATE EXTENSION credits"
	conninfos+=("'host=$PGHOST port=$PGPORT dbname=part$i'")
done
psql_q -c "CREATE DATABASE router"
psql_q -d router -c "SET client_min_messages = warning" -c "CREATE EXTENSION credits_router CASCADE" \
	-c "SELECT credits_router.set_partitions(ARRAY[$(IFS=,; echo "${conninfos[*]}")])" >/dev/null
log "loading $POOLS pools through the router"
psql_q -d router <<SQL >/dev/null
SELECT credits.create_pool('p' || g), credits.grant('p' || g, 1e9) FROM generate_series(1, $POOLS) g;
SELECT count(*) FROM (SELECT credits.charge('p' || g, 'u' || m, 0) FROM generate_series(1, $POOLS) g, generate_series(1, 5) m) x;
-- Numbered pools: all of them, and those of partition 0.
CREATE TABLE bench_all AS SELECT row_number() OVER (ORDER BY g)::int AS n, 'p' || g AS pool FROM generate_series(1, $POOLS) g;
CREATE TABLE bench_p0 AS
	SELECT row_number() OVER (ORDER BY g)::int AS n, 'p' || g AS pool FROM generate_series(1, $POOLS) g
	WHERE credits_router.partition_of('p' || g) = 0;
ALTER TABLE bench_all ADD PRIMARY KEY (n);
ALTER TABLE bench_p0 ADD PRIMARY KEY (n);
SQL
P0=$(psql_q -d router -c "SELECT count(*) FROM bench_p0")
psql_q -d router -c "COPY bench_p0 TO STDOUT" | psql_q -d part0 -c "CREATE TABLE bench_p0 (n int PRIMARY KEY, pool text)" -c "COPY bench_p0 FROM STDIN"
for i in 0 1 2 3; do psql_q -d part$i -c "VACUUM ANALYZE" >/dev/null; done
psql_q -d router -c "VACUUM ANALYZE" >/dev/null

one() { # one <table> <pool count>: a charge on a random pool of the table
	cat <<SQL
\set p random(1, $2)
\set m random(1, 5)
SELECT credits.charge(pool, 'u' || :m, 1) FROM $1 WHERE n = :p;
SQL
}
many() { # many <table> <pool count>: charge_many of 100 events on random pools of the table
	cat <<SQL
SELECT count(*) FROM credits.charge_many(
	ARRAY(SELECT (SELECT b.pool FROM $1 b WHERE b.n = r.i) FROM (SELECT 1 + floor(random() * $2)::int AS i FROM generate_series(1, 100)) r),
	ARRAY(SELECT 'u' || (1 + floor(random() * 5))::int FROM generate_series(1, 100)),
	array_fill(1::numeric, ARRAY[100]));
SQL
}
one bench_p0 "$P0" >"$WORK/p0.sql"
one bench_all $POOLS >"$WORK/all.sql"
many bench_p0 "$P0" >"$WORK/many_p0.sql"
many bench_all $POOLS >"$WORK/many_all.sql"
run() { # run <db> <clients> <script> → transactions per second
	pgbench -n -M prepared -c "$2" -j 2 -T "$SECS" -f "$3" "$1" 2>&1 | awk '/^tps/ {printf "%d", $3}'
}
declare -A tps
for clients in 1 4 8; do
	tps[direct,$clients]=$(run part0 $clients "$WORK/p0.sql")
	tps[router,$clients]=$(run router $clients "$WORK/p0.sql")
	log "$clients clients: direct ${tps[direct,$clients]}/s, router ${tps[router,$clients]}/s"
done
tps[spread,8]=$(run router 8 "$WORK/all.sql")
log "8 clients, all partitions through the router: ${tps[spread,8]}/s"
for kind in direct router spread; do
	db=router script=$WORK/many_p0.sql
	[ $kind = direct ] && db=part0
	[ $kind = spread ] && script=$WORK/many_all.sql
	tps[many_$kind]=$(run $db 2 "$script")
	log "charge_many of 100, 2 clients, $kind: ${tps[many_$kind]} calls/s"
done
for i in 0 1 2 3; do
	n=$(psql_q -d part$i -c "SELECT count(*) FROM credits.verify()")
	[ "$n" = 0 ] || { echo "verify() on part$i: $n problems" >&2; exit 1; }
done

echo
bench_header
echo "synchronous_commit=off, $SECS s per case, one run; router and 4 partition databases on this one server"
echo "credits.charge, charges per second (one pool of partition 0 a call, random among its $P0 pools):"
printf '%-8s %10s %10s %14s %18s\n' clients direct router 'router/direct' 'router cost/call'
for clients in 1 4 8; do
	d=${tps[direct,$clients]} r=${tps[router,$clients]}
	printf '%-8s %10d %10d %14.2f %15.3f ms\n' "$clients" "$d" "$r" "$(echo "$r / $d" | bc -l)" \
		"$(echo "$clients * 1000 / $r - $clients * 1000 / $d" | bc -l)"
done
echo "8 clients through the router, random pools of all 4 partitions: ${tps[spread,8]} charges/s"
echo "charge_many of 100 events, 2 clients, events per second:"
printf '  direct on partition 0: %d; router, pools of partition 0: %d (%.2f of direct); router, pools of all 4 partitions: %d\n' \
	"$((tps[many_direct] * 100))" "$((tps[many_router] * 100))" "$(echo "${tps[many_router]} / ${tps[many_direct]}" | bc -l)" \
	"$((tps[many_spread] * 100))"
