#!/usr/bin/env bash
# 32 clients race try_charge(1) on one pool of 1,000 credits, 1,600 attempts
# in all: exactly 1,000 succeed, 600 are refused, the balance ends at 0 and
# verify() is empty. Runs against the server scripts/test.sh started
# (PGHOST/PGPORT/PGUSER in the environment).
set -euo pipefail
db=credits_stress_last
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d $db <<'SQL'
CREATE EXTENSION credits;
SELECT credits.create_pool('hot');
SELECT credits.grant('hot', 1000);
SQL
script=$(mktemp)
trap 'rm -f "$script"' EXIT
echo "SELECT status FROM credits.try_charge('hot', 'member-' || :client_id, 1);" >"$script"
pgbench -n -M prepared -c 32 -j 4 -t 50 -f "$script" $db | grep -E 'processed|failed|tps' || true

read -r succeeded refused balance problems < <(psql -X -At -F ' ' -d $db -c "
	SELECT count(*) FILTER (WHERE status = 'succeeded'),
	       count(*) FILTER (WHERE status = 'insufficient_credits'),
	       credits.balance('hot'),
	       (SELECT count(*) FROM credits.verify())
	  FROM credits.transaction_log WHERE pool = 'hot'")
echo "succeeded=$succeeded refused=$refused balance=$balance verify_problems=$problems"
psql -X -q -d postgres -c "DROP DATABASE $db"
[ "$succeeded" = 1000 ] && [ "$refused" = 600 ] && [ "$balance" = 0 ] && [ "$problems" = 0 ]
