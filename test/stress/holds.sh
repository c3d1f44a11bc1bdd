#!/usr/bin/env bash
# 16 clients reserve on one pool, then capture all, capture part or
# release at random (some holds are left to lapse). At the end verify() is
# empty and held + available + consumed equals what was granted.
set -euo pipefail
db=credits_stress_holds
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $db <<'SQL'
CREATE EXTENSION credits;
SELECT FROM credits.create_pool('hot');
SELECT credits.grant('hot', 2000, 'free', expires_at => now() + interval '1 day');
SELECT credits.grant('hot', 3000, 'plan');
SELECT credits.grant('hot', 50000, 'purchased');
SQL
script=$(mktemp)
trap 'rm -f "$script"' EXIT
cat >"$script" <<'SQL'
\set amount random(1, 20)
\set action random(1, 10)
\set part random(0, 20)
SELECT credits.reserve('hot', 'member-' || :client_id, :amount, ttl => '1 hour') AS hold_id \gset
SELECT CASE WHEN :action <= 4 THEN (credits.capture(:hold_id)).status
            WHEN :action <= 7 THEN (credits.capture(:hold_id, least(:part, :amount))).status
            WHEN :action <= 9 THEN credits.release(:hold_id)::text
            ELSE 'left pending' END;
SQL
out=$(pgbench -n -c 16 -j 4 -t 150 -f "$script" $db 2>&1) || { echo "$out"; exit 1; }
grep -E 'processed|failed|tps' <<<"$out"
grep -q 'processed: 2400/2400' <<<"$out" || { echo "$out" | tail -20; exit 1; }

# Every pending hold left behind is released by expire_holds in the future.
psql -X -At -v ON_ERROR_STOP=1 -d $db -c "CALL credits.expire_holds(now() + interval '2 hours')" >/dev/null
read -r granted available held consumed pending problems < <(psql -X -At -F ' ' -d $db -c "
	SELECT (SELECT sum(amount) FROM credits.grant_balances),
	       (SELECT available FROM credits.pool_balances WHERE pool = 'hot'),
	       (SELECT held FROM credits.pool_balances WHERE pool = 'hot'),
	       (SELECT coalesce(sum(credits), 0) FROM credits.transaction_log WHERE operation = 'capture' AND status = 'succeeded'),

	       (SELECT count(*) FROM credits.holds WHERE status = 'pending'),
	       (SELECT count(*) FROM credits.verify())")
echo "granted=$granted available=$available held=$held consumed=$consumed pending=$pending verify_problems=$problems"
ok=$(psql -X -At -d $db -c "SELECT $available + $held + $consumed = $granted")
psql -X -q -d postgres -c "DROP DATABASE $db"
[ "$ok" = t ] && [ "$problems" = 0 ] && [ "$pending" = 0 ]
