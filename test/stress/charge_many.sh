#!/usr/bin/env bash
# charge_many batches and single charges together: 8 clients send batches of
# 20 events over 20 pools in random order (so batches name the same pools in
# opposite orders), 8 clients send single try_charge calls, until the pools'
# 4,000 credits run out. No call may fail (a deadlock would), no pool may be
# overdrawn, every pool's balance must equal its grant less what succeeded,
# and verify() must be empty. Runs against the server scripts/test.sh
# started (PGHOST/PGPORT/PGUSER in the environment).
set -euo pipefail
db=credits_stress_many
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION credits;
SELECT credits.create_pool('p' || i) FROM generate_series(1, 20) i;
SELECT credits.grant('p' || i, 200) FROM generate_series(1, 20) i;
SELECT credits.set_member_limit('p' || i, 'm0', 50) FROM generate_series(1, 20) i;
SQL
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/batch.sql" <<'SQL'
SELECT count(*) FROM credits.charge_many(
	ARRAY(SELECT 'p' || (1 + floor(random() * 20))::int FROM generate_series(1, 20)),
	ARRAY(SELECT 'm' || floor(random() * 4)::int FROM generate_series(1, 20)),
	ARRAY(SELECT 1::numeric FROM generate_series(1, 20)));
SQL
cat >"$work/single.sql" <<'SQL'
\set p random(1, 20)
\set m random(0, 3)
SELECT status FROM credits.try_charge('p' || :p, 'm' || :m, 1);
SQL
pgbench -n -M prepared -c 8 -j 2 -t 40 -f "$work/batch.sql" $db >"$work/batch.log" 2>&1 &
batch=$!
pgbench -n -M prepared -c 8 -j 2 -t 200 -f "$work/single.sql" $db >"$work/single.log" 2>&1 || true
wait $batch || true
grep -hE 'failed|tps' "$work/batch.log" "$work/single.log" || true
failed=$(grep -hE '^number of failed transactions' "$work/batch.log" "$work/single.log" | awk '{s += $5} END {print s + 0}')
errors=$(cat "$work/batch.log" "$work/single.log" | { grep -ciE 'error|deadlock' || true; })
read -r attempts succeeded wrong negative problems < <(psql -X -At -F ' ' -d $db -c "
	WITH s AS (SELECT p.pool, credits.balance(p.pool) AS balance,
	                  (SELECT coalesce(sum(credits), 0) FROM credits.transaction_log t
	                    WHERE t.pool = p.pool AND t.status = 'succeeded') AS spent
	             FROM credits.pools p)
	SELECT (SELECT count(*) FROM credits.transaction_log),
	       (SELECT count(*) FROM credits.transaction_log WHERE status = 'succeeded'),
	       (SELECT count(*) FROM s WHERE balance + spent <> 200),
	       (SELECT count(*) FROM s WHERE balance < 0),
	       (SELECT count(*) FROM credits.verify())")
echo "attempts=$attempts succeeded=$succeeded failed_calls=$failed errors=$errors pools_off=$wrong overdrawn=$negative verify_problems=$problems"
psql -X -q -d postgres -c "DROP DATABASE $db"
[ "$attempts" = $((8 * 40 * 20 + 8 * 200)) ] && [ "$succeeded" -le 4000 ] && [ "$failed" = 0 ] && [ "$errors" = 0 ] &&
	[ "$wrong" = 0 ] && [ "$negative" = 0 ] && [ "$problems" = 0 ]
