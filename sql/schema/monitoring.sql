-- Monitoring: the progress of maintenance runs, a cached verify(), and the
-- aggregates monitoring/queries.yaml reads for prometheus-postgres-exporter
-- (docs/operations.md: what each costs at 10^7 ledger rows).

-- Whether the session `p_pid`, started by `p_since`, is still busy (running
-- a statement). Runs as the extension's owner, who sees every session.
CREATE FUNCTION credits._session_busy(p_pid integer, p_since timestamptz)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT FROM pg_catalog.pg_stat_activity a
                WHERE a.pid = p_pid AND coalesce(a.backend_start <= p_since, true)
                  AND a.state IS DISTINCT FROM 'idle');

-- One row per maintenance run of the last week. state: running, finished,
-- failed, or interrupted (unfinished, and its session is gone or idle: it
-- was killed, or its server stopped).
CREATE VIEW credits.maintenance_runs AS
SELECT l.run_id,
       l.job,
       CASE WHEN l.finished_at IS NOT NULL THEN CASE WHEN l.error IS NULL THEN 'finished' ELSE 'failed' END
            WHEN credits._session_busy(l.pid, l.started_at) THEN 'running'
            ELSE 'interrupted' END AS state,
       l.as_of,
       l.started_at,
       l.last_batch_at,
       l.finished_at,
       l.batches,
       l.rows_done,
       l.problems,
       l.error,
       l.pid
  FROM credits.maintenance_log l;

-- verify() as a job: its problem count is kept in maintenance_log, so that
-- monitoring reads it for nothing (verify() itself reads the whole ledger).
-- Schedule it hourly:
--   SELECT cron.schedule('credits-verify', '7 * * * *', 'CALL credits.record_verify()');
CREATE PROCEDURE credits.record_verify()
LANGUAGE plpgsql
AS $$
BEGIN
	CALL credits._run_maintenance('verify', pg_catalog.now());
END
$$;

-- The gauges of monitoring/queries.yaml, one row; only counts leave it.
CREATE FUNCTION credits.metrics()
RETURNS TABLE (ledger_entries_total bigint, pools_at_zero bigint, pools_below_alert bigint, holds_overdue bigint,
               grants_overdue bigint, subscriptions_due bigint, verify_problems bigint, topup_requests_open bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT
	-- ids handed out: entries written (plus any rolled back)
	coalesce(pg_catalog.pg_sequence_last_value('credits.ledger_entry_id_seq'), 0),
	-- available = 0 in pool_balances: no live grant with credits left, nor
	-- with a part of a lapsed hold to give back
	(SELECT count(*) FROM credits.pools p
	  WHERE NOT EXISTS (SELECT FROM credits.grants g
	                     WHERE g.pool_id = p.pool_id AND g.voided_at IS NULL AND g.expired_at IS NULL
	                       AND g.effective_at <= now() AND (g.expires_at IS NULL OR g.expires_at > now())
	                       AND (g.remaining > 0
	                            OR (g.held > 0 AND EXISTS (SELECT FROM credits._lapsed_hold_parts lp
	                                                        WHERE lp.pool_id = g.pool_id AND lp.grant_id = g.grant_id))))),
	-- as the pool_balance_below alert decides
	(SELECT count(*) FROM credits.alert_rules r JOIN credits.pools p ON p.pool_id = r.pool_id
	  WHERE r.metric = 'pool_balance_below' AND credits.balance(p.pool) < r.threshold),
	(SELECT count(*) FROM credits.holds h WHERE h.status = 'pending' AND h.expires_at <= now()),
	(SELECT count(*) FROM credits.grants g
	  WHERE g.expires_at <= now() AND g.expired_at IS NULL AND g.voided_at IS NULL AND g.expires_at IS NOT NULL),
	(SELECT count(*) FROM credits.subscriptions x
	  WHERE x.cancelled_at IS NULL AND credits._period_at(x.anchor, x.period, x.issued_through + 1) <= now()),
	(SELECT l.problems FROM credits.maintenance_log l
	  WHERE l.job = 'verify' AND l.finished_at IS NOT NULL AND l.error IS NULL
	  ORDER BY l.started_at DESC LIMIT 1),
	(SELECT count(*) FROM credits.topup_requests t WHERE t.status = 'open');
END;

-- Charge attempts (and captures: transaction_log's rows) of the last 5
-- minutes, by status; every status has a row.
CREATE FUNCTION credits.metrics_charge_attempts()
RETURNS TABLE (status text, attempts bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT s.status, coalesce(a.attempts, 0)
	  FROM (VALUES ('succeeded'), ('insufficient_credits'), ('member_limit_exceeded'), ('access_revoked'),
	               ('rate_limited'), ('budget_exceeded')) s(status)
	  LEFT JOIN (SELECT l.status::text AS status, count(*) AS attempts
	               FROM credits.ledger l
	              WHERE l.at > now() - interval '5 minutes' AND l.status IS NOT NULL AND l.entry_type <> 'hold'
	              GROUP BY 1) a ON a.status = s.status
	 ORDER BY 1;
END;

-- Per maintenance job: seconds since its last successful run (since 1970
-- when it never ran), the run in progress, and the failed and interrupted
-- runs of the last hour.
CREATE FUNCTION credits.metrics_maintenance()
RETURNS TABLE (job text, last_success_age_seconds double precision, last_success_timestamp_seconds double precision,
               running integer, running_seconds double precision, running_batches bigint, running_rows bigint,
               failed_last_hour bigint, interrupted_last_hour bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT j.job,
	       extract(epoch FROM now() - coalesce(s.finished_at, 'epoch'))::double precision,
	       extract(epoch FROM coalesce(s.finished_at, 'epoch'))::double precision,
	       coalesce(r.running, 0),
	       coalesce(r.running_seconds, 0),
	       coalesce(r.running_batches, 0),
	       coalesce(r.running_rows, 0),
	       coalesce(r.failed, 0),
	       coalesce(r.interrupted, 0)
	  FROM (VALUES ('renew_subscriptions'), ('expire_grants'), ('expire_holds'), ('verify')) j(job)
	  LEFT JOIN LATERAL (SELECT l.finished_at FROM credits.maintenance_log l
	                      WHERE l.job = j.job AND l.finished_at IS NOT NULL AND l.error IS NULL
	                      ORDER BY l.started_at DESC LIMIT 1) s ON true
	  LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE m.state = 'running')::integer AS running,
	                            extract(epoch FROM now() - min(m.started_at) FILTER (WHERE m.state = 'running'))::double precision
	                                AS running_seconds,
	                            sum(m.batches) FILTER (WHERE m.state = 'running') AS running_batches,
	                            sum(m.rows_done) FILTER (WHERE m.state = 'running') AS running_rows,
	                            count(*) FILTER (WHERE m.state = 'failed' AND m.finished_at > now() - interval '1 hour')
	                                AS failed,
	                            count(*) FILTER (WHERE m.state = 'interrupted' AND m.started_at > now() - interval '1 hour')
	                                AS interrupted
	                       FROM credits.maintenance_runs m
	                      WHERE m.job = j.job AND (m.finished_at IS NULL OR m.finished_at > now() - interval '1 hour')) r
	         ON true
	 ORDER BY 1;
END;

COMMENT ON VIEW credits.maintenance_runs IS 'One row per maintenance run of the last week: state, batches and rows done, error.';
COMMENT ON PROCEDURE credits.record_verify() IS 'Runs verify() and keeps its problem count for monitoring (schedule it hourly).';
COMMENT ON FUNCTION credits.metrics() IS 'Gauges for monitoring: ledger entries, pools at zero or below alert, overdue work, verify problems, open top-ups.';
COMMENT ON FUNCTION credits.metrics_charge_attempts() IS 'Charge attempts of the last 5 minutes, by status, for monitoring.';
COMMENT ON FUNCTION credits.metrics_maintenance() IS 'Per maintenance job: age of the last successful run, the run in progress, recent failures.';
