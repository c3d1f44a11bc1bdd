#!/usr/bin/env bash
# pg_cron really runs the one scheduled line of docs/subscriptions-and-expiry.md:
#   SELECT cron.schedule('credits', '* * * * *', 'CALL credits.maintain()');
# The server must preload pg_cron (scripts/lib.sh: start_server) with
# cron.database_name = 'postgres' and cron.use_background_workers = on (the
# test server listens on a unix socket only). Waits up to 130 s for a run
# that succeeded and did the work (a lapsed grant expired, dated at its
# expires_at), then unschedules the job. Fails otherwise.
set -euo pipefail
export PGDATABASE=postgres
psql() { command psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

[ "$(psql -c "SHOW shared_preload_libraries")" = pg_cron ] ||
	{ echo "the server does not preload pg_cron"; exit 1; }

psql <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_cron;
DROP EXTENSION IF EXISTS credits CASCADE;
CREATE EXTENSION credits;
SELECT FROM credits.create_pool('cron_acme');
-- work for expire_grants: a grant that lapsed yesterday
SELECT FROM credits.grant('cron_acme', 5, 'promo', effective_at => now() - interval '2 days',
                          expires_at => now() - interval '1 day', external_ref => 'lapsed');
-- work for renew_subscriptions: one-minute periods
SELECT FROM credits.subscribe('cron_acme', 'per-minute', 1, period => '1 minute');
SQL

jobid=$(psql -c "SELECT cron.schedule('credits', '* * * * *', 'CALL credits.maintain()')")
trap 'psql -c "SELECT cron.unschedule($jobid)" >/dev/null 2>&1 || true' EXIT
echo "scheduled job $jobid at $(date -u +%T); waiting for it to run"

status=
for _ in $(seq 1 130); do
	status=$(psql -c "SELECT string_agg(DISTINCT status, ',') FROM cron.job_run_details
	                   WHERE jobid = $jobid AND status IN ('succeeded', 'failed')")
	[ -n "$status" ] && break
	sleep 1
done
psql -F ' | ' -c "SELECT runid, status, return_message, start_time, end_time
                    FROM cron.job_run_details WHERE jobid = $jobid ORDER BY runid"
case $status in
*failed*) echo "FAILED: a run of CALL credits.maintain() failed"; exit 1 ;;
succeeded) ;;
*) echo "FAILED: CALL credits.maintain() did not run within 130 s"; exit 1 ;;
esac

# The run did the work: the lapsed grant was expired, dated at its expires_at.
ok=$(psql -c "SELECT count(*) = 1 FROM credits.ledger l
               JOIN credits.grants g USING (pool_id, grant_id)
              WHERE g.external_ref = 'lapsed' AND l.entry_type = 'expire'
                AND l.amount = -5000000 AND l.at = g.expires_at AND g.expired_at = g.expires_at")
problems=$(psql -c "SELECT count(*) FROM credits.verify()")
echo "lapsed grant expired by the job: $ok; verify() problems: $problems"
[ "$ok" = t ] && [ "$problems" = 0 ] || { echo "FAILED: the job did not do its work"; exit 1; }
psql -c "SELECT cron.unschedule($jobid)" >/dev/null
trap - EXIT
psql -c "DROP EXTENSION credits CASCADE"
echo "pg_cron ran CALL credits.maintain(): succeeded"
