-- Operations (docs/operations.md): maintenance_runs as runs start, commit
-- batches, finish, fail or are interrupted; its week of history;
-- record_verify(); the metrics functions the exporter reads (their changes
-- for a scenario: other tests share this database); a failing batch fails
-- its run and its error reaches the caller with all its fields. Timestamps
-- and pids are never printed.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'UTC';

-- what other tests left to do is done first
CALL credits.maintain();
SELECT coalesce(max(run_id), 0) AS first_run FROM credits.maintenance_log \gset
CREATE TEMP TABLE before AS SELECT * FROM credits.metrics();

-------------------------------------------------------------------------------
-- A scenario for the metrics
-------------------------------------------------------------------------------
SELECT credits.create_pool('ops_empty') > 0 AS created;
SELECT credits.create_pool('ops_low') > 0 AS created;
SELECT credits.grant('ops_low', 5) > 0 AS granted;
SELECT credits.set_alert('ops_low', 'pool_balance_below', 10);
-- a grant past its expires_at, not yet expired
SELECT credits.grant('ops_low', 1, 'promo', effective_at => '2020-01-01 00:00+00',
                     expires_at => '2020-02-01 00:00+00') > 0 AS granted;
-- a subscription whose next period is due (as if renew_subscriptions had not run)
SELECT credits.subscribe('ops_low', 'ops-plan', 1) > 0 AS subscribed;
UPDATE credits.subscriptions SET issued_through = issued_through - 1
 WHERE pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'ops_low');
SELECT status FROM credits.try_charge('ops_low', 'alice', 1000);
SELECT status FROM credits.try_charge('ops_low', 'alice', 1);

SELECT a.ledger_entries_total - b.ledger_entries_total AS ledger_entries,
       a.pools_at_zero - b.pools_at_zero AS pools_at_zero,
       a.pools_below_alert - b.pools_below_alert AS pools_below_alert,
       a.grants_overdue - b.grants_overdue AS grants_overdue,
       a.subscriptions_due - b.subscriptions_due AS subscriptions_due
  FROM credits.metrics() a, before b;
-- every status has a row
SELECT status FROM credits.metrics_charge_attempts();

-------------------------------------------------------------------------------
-- Runs: a top-level CALL commits its row, then each batch
-------------------------------------------------------------------------------
CALL credits.expire_grants();
CALL credits.renew_subscriptions();
CALL credits.record_verify();
SELECT job, state, batches, rows_done, problems, error, finished_at >= started_at AS finished
  FROM credits.maintenance_runs WHERE run_id > :first_run ORDER BY run_id;
SELECT a.grants_overdue - b.grants_overdue AS grants_overdue,
       a.subscriptions_due - b.subscriptions_due AS subscriptions_due, a.verify_problems
  FROM credits.metrics() a, before b;

-- inside a transaction block the run is part of that transaction
BEGIN;
CALL credits.expire_holds();
SELECT job, state FROM credits.maintenance_runs WHERE run_id > :first_run AND job = 'expire_holds';
ROLLBACK;
SELECT count(*) AS rolled_back_runs FROM credits.maintenance_runs WHERE run_id > :first_run AND job = 'expire_holds';

-- credits.maintenance_pause: a top-level run pauses after each batch
SHOW credits.maintenance_pause;
SET credits.maintenance_pause = 0.5;
CALL credits.expire_holds();
SET credits.maintenance_pause = -1;
RESET credits.maintenance_pause;
-- credits.maintenance_nice: a top-level run lowers its backend's CPU
-- priority (here to nice 1; the session may keep it until it ends)
SHOW credits.maintenance_nice;
SET credits.maintenance_nice = 1;
CALL credits.expire_holds();
SET credits.maintenance_nice = 20;
RESET credits.maintenance_nice;

-------------------------------------------------------------------------------
-- States: a run whose session is gone is interrupted; an error is failed.
-- (test/stress/maintenance_progress.sh kills a real one,
-- test/stress/exporter.sh fails one.)
-------------------------------------------------------------------------------
SELECT credits._maintenance_run_start('expire_holds', now()) AS dead_run \gset
-- as if its backend had died: a pid no session has
UPDATE credits.maintenance_log SET pid = 0 WHERE run_id = :dead_run;
SELECT credits._maintenance_run_start('expire_holds', now()) AS failed_run \gset
SELECT credits._maintenance_run_batch(:failed_run, 7);
SELECT credits._maintenance_run_end(:failed_run, '55P03', 'canceling statement due to lock timeout');
SELECT job, state, batches, rows_done, error FROM credits.maintenance_runs
 WHERE run_id IN (:dead_run, :failed_run) ORDER BY run_id;
SELECT job, running, failed_last_hour, interrupted_last_hour
  FROM credits.metrics_maintenance() ORDER BY job;

-- a week of history: older runs of a job go when it starts again
INSERT INTO credits.maintenance_log (job, as_of, pid, started_at, finished_at)
SELECT 'expire_holds', now(), 0, now() - interval '8 days' - i * interval '1 hour', now() - interval '8 days'
  FROM generate_series(1, 3) i;
SELECT count(*) AS old_runs FROM credits.maintenance_log WHERE job = 'expire_holds' AND started_at < now() - interval '7 days';
CALL credits.expire_holds();
SELECT count(*) AS old_runs FROM credits.maintenance_log WHERE job = 'expire_holds' AND started_at < now() - interval '7 days';

-------------------------------------------------------------------------------
-- A batch that fails is rolled back, its run fails (committed), and its
-- error reaches the caller with its SQLSTATE, message, detail and hint
-------------------------------------------------------------------------------
CREATE FUNCTION public.ops_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'CR001', DETAIL = 'some detail', HINT = 'some hint';
END
$$;
CREATE TRIGGER ops_refuse BEFORE INSERT ON credits.ledger
	FOR EACH ROW WHEN (NEW.reason = 'grant expired') EXECUTE FUNCTION public.ops_refuse();
SELECT credits.grant('ops_low', 1, 'promo', effective_at => '2020-01-01 00:00+00',
                     expires_at => '2020-02-01 00:00+00') AS refused_grant \gset
CALL credits.expire_grants();
\echo :LAST_ERROR_SQLSTATE
SELECT job, state, batches, rows_done, error FROM credits.maintenance_runs
 WHERE run_id > :first_run AND job = 'expire_grants' ORDER BY run_id DESC LIMIT 1;
SELECT expired_at IS NULL AS not_expired, remaining FROM credits.grants WHERE grant_id = :refused_grant;
-- an unknown job fails its first batch
CALL credits._run_maintenance('no_such_job', now());
\echo :LAST_ERROR_SQLSTATE
SELECT job, state, batches, error FROM credits.maintenance_runs
 WHERE run_id > :first_run AND job = 'no_such_job';
DROP TRIGGER ops_refuse ON credits.ledger;
DROP FUNCTION public.ops_refuse();
CALL credits.expire_grants();
SELECT expired_at IS NOT NULL AS expired, remaining FROM credits.grants WHERE grant_id = :refused_grant;

SELECT count(*) AS problems FROM credits.verify();
