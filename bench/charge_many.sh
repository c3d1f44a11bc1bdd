#!/usr/bin/env bash
# Batch charges: credits.charge_many with 100 and 1,000 events per call
# against single credits.charge calls, on random pools out of 10,000, at 2
# and 8 clients, in one run; and, in the same run, the floor of a batch: the
# writes the same events must do (each pool, member and grant updated once
# with the events' sum, one ledger row per event, pools locked in key order
# first) as one plain statement on lean tables, like the shared charge
# yardstick's floor. Reports events per second, each batch size's ratio to
# single calls at the same number of clients (the issue's target: 1,000
# events per call >= 10x single calls at 8 clients), and the floor's.
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
# the floor's lean tables, with the same pools, members and grants
psql_q <<'SQL' >/dev/null
CREATE TABLE floor_pools AS SELECT pool_id AS id, pool AS key, 3000000000000000::bigint AS balance FROM credits.pools;
ALTER TABLE floor_pools ADD PRIMARY KEY (id);
CREATE UNIQUE INDEX ON floor_pools (key);
CREATE TABLE floor_members AS SELECT pool_id, member AS key, used FROM credits.members;
ALTER TABLE floor_members ADD PRIMARY KEY (pool_id, key);
CREATE TABLE floor_grants AS SELECT grant_id AS id, pool_id, remaining FROM credits.grants;
ALTER TABLE floor_grants ADD PRIMARY KEY (id);
-- the grant a charge takes first: the pool's free grant (lowest rank)
CREATE TABLE floor_first AS SELECT DISTINCT ON (pool_id) pool_id, grant_id FROM credits.grants ORDER BY pool_id, rank, grant_id;
ALTER TABLE floor_first ADD PRIMARY KEY (pool_id);
CREATE TABLE floor_ledger (id bigserial PRIMARY KEY, pool_id bigint NOT NULL, grant_id bigint, amount numeric NOT NULL,
                           created_at timestamptz NOT NULL DEFAULT now());
SQL
psql_q -c "VACUUM ANALYZE" >/dev/null

cat >"$WORK/single.sql" <<SQL
\\set p random(1, $POOLS)
\\set m random(1, 5)
SELECT credits.charge('p' || :p, 'u' || :m, 1);
SQL
cat >"$WORK/floor_single.sql" <<SQL
\\set p random(1, $POOLS)
\\set m random(1, 5)
WITH pool AS (UPDATE floor_pools SET balance = balance - 1 WHERE key = 'p' || :p RETURNING id),
     mem AS (UPDATE floor_members SET used = used + 1 WHERE pool_id = (SELECT id FROM pool) AND key = 'u' || :m RETURNING pool_id),
     g AS (UPDATE floor_grants SET remaining = remaining - 1
            WHERE id = (SELECT f.grant_id FROM floor_first f WHERE f.pool_id = (SELECT id FROM pool)) RETURNING id)
INSERT INTO floor_ledger (pool_id, grant_id, amount) SELECT mem.pool_id, g.id, -1 FROM mem, g;
SQL
# A batch's events come from a seed, so that credits and the floor can be
# given the same kind of events: event i of seed s charges pool
# p<1 + h(s, i) mod pools>, member u<1 + h(s, i + 50000) mod 5>.
events() { # events <n> <pools|members>
	local salt=0 mod=$POOLS prefix=p
	[ "$2" = members ] && salt=50000 mod=5 prefix=u
	echo "ARRAY(SELECT '$prefix' || (1 + (hashint8(:s::int8 * 100000 + $salt + i) & 2147483647) % $mod) FROM generate_series(1, $1) i)"
}
for n in 100 1000; do
	cat >"$WORK/batch$n.sql" <<SQL
\\set s random(1, 2000000000)
SELECT count(*) FROM credits.charge_many($(events $n pools), $(events $n members), array_fill(1::numeric, ARRAY[$n]));
SQL
	cat >"$WORK/floor_batch$n.sql" <<SQL
\\set s random(1, 2000000000)
BEGIN;
SELECT count(*) FROM (SELECT 1 FROM floor_pools WHERE key = ANY ($(events $n pools)) ORDER BY key FOR UPDATE) x;
WITH ev AS (SELECT * FROM unnest($(events $n pools), $(events $n members)) AS e(pkey, mkey)),
     pool AS (UPDATE floor_pools p SET balance = p.balance - c.n
                FROM (SELECT pkey, count(*) AS n FROM ev GROUP BY pkey) c WHERE p.key = c.pkey RETURNING p.id, p.key),
     mem AS (UPDATE floor_members m SET used = m.used + c.n
               FROM (SELECT pool.id, ev.mkey, count(*) AS n FROM ev JOIN pool ON pool.key = ev.pkey GROUP BY 1, 2) c
              WHERE m.pool_id = c.id AND m.key = c.mkey RETURNING 1),
     g AS (UPDATE floor_grants g SET remaining = g.remaining - c.n
             FROM (SELECT f.grant_id, count(*) AS n FROM ev JOIN pool ON pool.key = ev.pkey JOIN floor_first f ON f.pool_id = pool.id
                    GROUP BY 1) c
            WHERE g.id = c.grant_id RETURNING 1)
INSERT INTO floor_ledger (pool_id, grant_id, amount)
SELECT pool.id, f.grant_id, -1 FROM ev JOIN pool ON pool.key = ev.pkey JOIN floor_first f ON f.pool_id = pool.id
 WHERE (SELECT count(*) FROM mem) >= 0 AND (SELECT count(*) FROM g) >= 0;
COMMIT;
SQL
done

declare -A runs
for clients in 2 8; do
	for round in $(seq "$ROUNDS"); do
		for kind in single batch100 batch1000 floor_single floor_batch100 floor_batch1000; do
			per=1
			case $kind in *batch100) per=100 ;; *batch1000) per=1000 ;; esac
			tps=$(pgbench -n -M prepared -c "$clients" -j 2 -T "$SECS" -f "$WORK/$kind.sql" postgres 2>&1 |
				awk '/^tps/ {print $3}')
			events=$(awk -v t="$tps" -v n="$per" 'BEGIN {printf "%d", t * n}')
			runs[$kind,$clients]="${runs[$kind,$clients]:-} $events"
			psql_q -c "VACUUM credits.pools, credits.members, credits.grants, floor_pools, floor_members, floor_grants" >/dev/null
		done
	done
done
verify_empty

echo
bench_header
echo "synchronous_commit=$SYNC, $SECS s per run, median of $ROUNDS rounds; events per second"
printf '%-8s %-10s %12s %12s %12s %10s %10s\n' clients '' single batch100 batch1000 '100/single' '1000/single'
for clients in 2 8; do
	s=$(echo ${runs[single,$clients]} | median)
	for who in credits floor; do
		p=
		[ $who = floor ] && p=floor_
		one=$(echo ${runs[${p}single,$clients]} | median)
		b1=$(echo ${runs[${p}batch100,$clients]} | median)
		b2=$(echo ${runs[${p}batch1000,$clients]} | median)
		# both rows divide by credits' single charges: the floor row says
		# what the writes alone allow against the same yardstick
		printf '%-8s %-10s %12.0f %12.0f %12.0f %10.2f %10.2f   (rounds: single%s; 100%s; 1000%s)\n' "$clients" "$who" \
			"$one" "$b1" "$b2" "$(echo "$b1 / $s" | bc -l)" "$(echo "$b2 / $s" | bc -l)" \
			"${runs[${p}single,$clients]}" "${runs[${p}batch100,$clients]}" "${runs[${p}batch1000,$clients]}"
	done
done
echo "(both rows' ratios are to credits' single charges; the floor row's 'single' is the shared yardstick's floor)"
