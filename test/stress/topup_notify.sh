#!/usr/bin/env bash
# Auto top-up notifications: a psql session LISTENs on credits_topups and
# receives, when the transaction that takes the pool below the threshold
# commits, one notification whose JSON payload has the request's fields
# (request_id, pool, at, amount, idempotency_key, status) as in
# credits.topup_requests; a rolled-back drop and a drop with a request
# already open send nothing. Runs against the server scripts/test.sh started
# (PGHOST/PGPORT/PGUSER).
set -euo pipefail
db=credits_stress_topup_notify
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
	-c "CREATE DATABASE $db"
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION credits;
SELECT credits.create_pool('acme');
SELECT credits.grant('acme', 100);
SELECT credits.set_auto_topup('acme', 50, 500);
SQL

# One session: psql prints a notification after the statement that
# committed it.
out=$(psql -X -v ON_ERROR_STOP=1 -d $db 2>&1 <<'SQL'
LISTEN credits_topups;
BEGIN;
SELECT (credits.charge('acme', 'alice', 60)).status;
ROLLBACK;
\echo after-rollback
SELECT (credits.charge('acme', 'alice', 60)).status;
\echo after-commit
SELECT (credits.charge('acme', 'alice', 1)).status;
\echo after-second-drop
SQL
)
fail=0
notes=$(grep -c '^Asynchronous notification "credits_topups"' <<<"$out" || true)
if [ "$notes" -ne 1 ]; then
	echo "expected exactly 1 notification, got $notes:"; echo "$out"; fail=1
fi
# the notification comes after the committed charge, not after the rollback
if ! sed -n '/after-rollback/,/after-commit/p' <<<"$out" | grep -q '^Asynchronous notification "credits_topups"'; then
	echo "the notification did not follow the committed charge:"; echo "$out"; fail=1
fi
payload=$(sed -n 's/^Asynchronous notification "credits_topups" with payload "\(.*\)" received from server process with PID [0-9]*\.$/\1/p' <<<"$out")
# the payload is the request's row
same=$(psql -X -At -d $db -v payload="$payload" <<'SQL'
SELECT (:'payload'::jsonb = jsonb_build_object('request_id', r.request_id, 'pool', r.pool, 'at', r.at,
                                                'amount', r.amount, 'idempotency_key', r.idempotency_key,
                                                'status', 'open'))::text
  FROM credits.topup_requests r;
SQL
)
if [ "$same" != "true" ]; then
	echo "payload does not match credits.topup_requests: $payload"; fail=1
fi
echo "topup_notify: notifications=$notes payload=$payload"
echo "failures=$fail"
exit $fail
