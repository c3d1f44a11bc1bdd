-- Subscriptions, grant expiry, and the maintenance driver behind
-- expire_holds, renew_subscriptions, expire_grants and maintain().

-- Whether maintenance may run here: not on a standby, and not while
-- another session runs the same job (a transaction-level advisory lock).
CREATE FUNCTION credits._maintenance_lock(p_job text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF pg_is_in_recovery() THEN
		RETURN false;
	END IF;
	IF NOT pg_try_advisory_xact_lock(hashtext('credits.' || p_job)) THEN
		RAISE NOTICE 'credits.% is already running', p_job;
		RETURN false;
	END IF;
	RETURN true;
END
$$;

-- One batch of maintenance job `p_job` (expire_holds, renew_subscriptions,
-- expire_grants): how many rows it did, 0 when nothing was left. Each batch
-- is one set-based statement that locks its pools in pool_id order.
-- C++: src/pg/maintenance.cpp.
CREATE FUNCTION credits._maintenance_batch(p_job text, p_as_of timestamptz)
RETURNS integer AS 'MODULE_PATHNAME', 'credits_maintenance_batch'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Progress of maintenance runs, in credits.maintenance_log: one call to
-- start a run, one per batch (in the batch's transaction, so the row shows
-- what has committed), one to finish or fail it. Small and separate, so that
-- any driver can call them. A run killed halfway keeps finished_at NULL; the
-- next run is a new row, and goes on where the killed one stopped because
-- every job selects its work by state (grants past expiry not yet expired,
-- holds past their TTL still pending, periods due not yet issued).
CREATE FUNCTION credits._maintenance_run_start(p_job text, p_as_of timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_run bigint;
BEGIN
	-- a week of history per job (a job scheduled every minute: ~10,000 rows)
	DELETE FROM credits.maintenance_log l WHERE l.job = p_job AND l.started_at < now() - interval '7 days';
	INSERT INTO credits.maintenance_log (job, as_of, pid, started_at)
	VALUES (p_job, p_as_of, pg_backend_pid(), clock_timestamp())
	RETURNING run_id INTO v_run;
	RETURN v_run;
END
$$;

CREATE FUNCTION credits._maintenance_run_batch(p_run bigint, p_rows bigint)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	UPDATE credits.maintenance_log
	   SET batches = batches + 1, rows_done = rows_done + p_rows, last_batch_at = clock_timestamp()
	 WHERE run_id = p_run;
END;

-- Ends a run: finished, or failed with an error (its SQLSTATE and message).
CREATE FUNCTION credits._maintenance_run_end(p_run bigint, p_sqlstate text, p_message text)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	UPDATE credits.maintenance_log
	   SET finished_at = clock_timestamp(), error = p_sqlstate || ': ' || p_message
	 WHERE run_id = p_run;
END;

-- One step of run `p_run` of job `p_job`: a batch, recorded in the run's row
-- in the batch's transaction; false when nothing was left. The job verify
-- is one step that records the number of problems verify() finds.
CREATE FUNCTION credits._maintenance_step(p_run bigint, p_job text, p_as_of timestamptz)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_rows integer;
BEGIN
	IF p_job = 'verify' THEN
		UPDATE credits.maintenance_log SET problems = (SELECT count(*) FROM credits.verify()) WHERE run_id = p_run;
		RETURN false;
	END IF;
	v_rows := credits._maintenance_batch(p_job, p_as_of);
	IF v_rows = 0 THEN
		RETURN false;
	END IF;
	PERFORM credits._maintenance_run_batch(p_run, v_rows);
	RETURN true;
END
$$;

-- Runs maintenance job `p_job` (expire_holds, renew_subscriptions,
-- expire_grants, or verify: one step that counts verify()'s problems) as of
-- `as_of`: nothing on a standby or while another session runs the same
-- job; otherwise the job's batches until none is left.
-- Called as a top-level CALL it commits the run's row, then after each batch,
-- then takes the job's lock again (it ended with the transaction) or yields
-- to a run that took it meanwhile; inside a transaction block it does all in
-- that one. A batch that fails is rolled back (each runs in a
-- subtransaction), the run is marked failed (and committed, at top level),
-- and the error raised again as it was.
-- Procedures that COMMIT may not be SECURITY DEFINER nor SET search_path:
-- this one and the four below (C++: src/pg/maintenance.cpp) only call the
-- extension's own SECURITY DEFINER functions, schema-qualified, with typed
-- parameters and no operator (the caller's search_path may put its own
-- before pg_catalog's).
CREATE PROCEDURE credits._run_maintenance(p_job text, as_of timestamptz)
AS 'MODULE_PATHNAME', 'credits_run_maintenance'
LANGUAGE C;

-- Lapses every pending hold past its TTL at `as_of`, in batches.
CREATE PROCEDURE credits.expire_holds(as_of timestamptz DEFAULT now())
AS 'MODULE_PATHNAME', 'credits_expire_holds'
LANGUAGE C;

-- Start of period k of a subscription, in UTC: anchor + k * period (never
-- accumulated, so a 31st anchor stays on month ends).
CREATE FUNCTION credits._period_at(p_anchor timestamptz, p_period interval, p_index integer)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN ((p_anchor AT TIME ZONE 'UTC') + p_period * p_index) AT TIME ZONE 'UTC';

-- The period index that contains `at` (the last start <= at).
CREATE FUNCTION credits._period_index(p_anchor timestamptz, p_period interval, p_at timestamptz)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k integer;
BEGIN
	IF p_at < p_anchor THEN
		RETURN -1;
	END IF;
	-- estimate from the average length, then correct by whole periods
	k := floor(extract(epoch FROM p_at - p_anchor) / greatest(extract(epoch FROM p_period), 1))::integer;
	WHILE k > 0 AND credits._period_at(p_anchor, p_period, k) > p_at LOOP
		k := k - 1;
	END LOOP;
	WHILE credits._period_at(p_anchor, p_period, k + 1) <= p_at LOOP
		k := k + 1;
	END LOOP;
	RETURN k;
END
$$;

-- Issues a subscription's grants for its periods up to the one containing
-- `as_of`, skipping those that would already have expired. The caller has
-- locked the pool. Returns the number of grants issued.
CREATE FUNCTION credits._issue_periods(s credits.subscriptions, p_as_of timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k integer;
	v_last integer := credits._period_index(s.anchor, s.period, p_as_of);
	v_start timestamptz;
	v_expires timestamptz;
	v_id bigint;
	v_count integer := 0;
BEGIN
	-- period k expires at the start of k + 1 + rollover_periods: the periods
	-- before v_last - rollover_periods have all expired by `as_of`
	FOR k IN greatest(s.issued_through + 1, v_last - s.rollover_periods) .. v_last LOOP
		v_start := credits._period_at(s.anchor, s.period, k);
		v_expires := credits._period_at(s.anchor, s.period, k + 1 + s.rollover_periods);
		CONTINUE WHEN v_expires <= p_as_of;
		INSERT INTO credits.grants (pool_id, kind, rank, amount, remaining, effective_at, expires_at,
		                            external_ref, subscription_id, period_index)
		VALUES (s.pool_id, s.kind, credits._kind_rank(s.kind), s.credits_per_period, s.credits_per_period,
		        v_start, v_expires, coalesce(s.external_ref, s.plan), s.subscription_id, k)
		ON CONFLICT DO NOTHING
		RETURNING grant_id INTO v_id;
		CONTINUE WHEN v_id IS NULL;
		IF s.rollover_max IS NOT NULL THEN
			PERFORM credits._cap_rollover(s, k, v_start);
		END IF;
		INSERT INTO credits.ledger (pool_id, at, entry_type, grant_id, amount, reason)
		VALUES (s.pool_id, v_start, 'grant', v_id, s.credits_per_period,
		        format('subscription %s, period %s', s.plan, k));
		v_count := v_count + 1;
	END LOOP;
	IF v_last > s.issued_through THEN
		UPDATE credits.subscriptions SET issued_through = v_last
		 WHERE pool_id = s.pool_id AND subscription_id = s.subscription_id;
	END IF;
	RETURN v_count;
END
$$;

-- The rollover cap at the start of period k: what remains (unheld) of the
-- subscription's earlier grants still live then, beyond rollover_max,
-- expires, the oldest grants' credits first; each part is an `expire` entry
-- dated at the period start. The grant stays live with what is left. The
-- caller has locked the pool.
CREATE FUNCTION credits._cap_rollover(s credits.subscriptions, p_period integer, p_start timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_over bigint;
	v_take bigint;
	g credits.grants;
BEGIN
	SELECT coalesce(sum(x.remaining), 0) - s.rollover_max INTO v_over
	  FROM credits.grants x
	 WHERE x.pool_id = s.pool_id AND x.subscription_id = s.subscription_id AND x.period_index < p_period
	   AND x.voided_at IS NULL AND x.expired_at IS NULL AND x.expires_at > p_start;
	FOR g IN SELECT * FROM credits.grants x
	          WHERE x.pool_id = s.pool_id AND x.subscription_id = s.subscription_id AND x.period_index < p_period
	            AND x.voided_at IS NULL AND x.expired_at IS NULL AND x.expires_at > p_start AND x.remaining > 0
	          ORDER BY x.period_index LOOP
		EXIT WHEN v_over <= 0;
		v_take := least(g.remaining, v_over);
		v_over := v_over - v_take;
		UPDATE credits.grants x SET remaining = x.remaining - v_take
		 WHERE x.pool_id = g.pool_id AND x.grant_id = g.grant_id;
		INSERT INTO credits.ledger (pool_id, at, entry_type, member, grant_id, amount, reason)
		VALUES (g.pool_id, p_start, 'expire', g.member, g.grant_id, -v_take,
		        format('rollover cap of subscription %s, period %s', s.plan, p_period));
	END LOOP;
END
$$;

-- The argument checks subscribe and change_subscription share (22023).
CREATE FUNCTION credits._check_rollover(p_rollover_periods integer, p_rollover_max numeric)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_rollover_periods < 0 OR p_rollover_periods > 1000 THEN
		RAISE EXCEPTION 'invalid rollover_periods: must be from 0 to 1000' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('rollover_periods was %s.', p_rollover_periods);
	END IF;
	RETURN credits._amount(p_rollover_max, 'rollover_max');
END
$$;

CREATE FUNCTION credits.subscribe(pool text, plan text, credits_per_period numeric, period interval DEFAULT '1 month',
                                  rollover_periods integer DEFAULT 0, kind text DEFAULT 'plan',
                                  anchor timestamptz DEFAULT now(), rollover_max numeric DEFAULT NULL,
                                  external_ref text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_amount bigint;
	v_max bigint;
	s credits.subscriptions;
BEGIN
	PERFORM credits._require('pool', pool, 'plan', plan, 'credits_per_period', credits_per_period, 'period', period,
	                         'rollover_periods', rollover_periods, 'kind', kind, 'anchor', anchor);
	PERFORM credits._check_key('plan', plan);
	v_amount := credits._amount(credits_per_period, 'credits_per_period', false);
	PERFORM credits._kind_rank(kind);
	IF NOT isfinite(anchor) THEN
		RAISE EXCEPTION 'invalid anchor: must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF period <= interval '0' OR period > interval '100 years' OR credits._period_at(anchor, period, 1) <= anchor THEN
		RAISE EXCEPTION 'invalid period: must be a positive interval of at most 100 years'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('period was %s.', period);
	END IF;
	v_max := credits._check_rollover(rollover_periods, rollover_max);
	v_pool := credits._lock_pool(pool);
	IF EXISTS (SELECT FROM credits.subscriptions x
	            WHERE x.pool_id = v_pool.pool_id AND x.plan = subscribe.plan AND x.cancelled_at IS NULL) THEN
		RAISE EXCEPTION 'pool "%" already has an active subscription to plan "%"', pool, plan
			USING ERRCODE = 'unique_violation', HINT = 'Cancel it first with credits.cancel_subscription().';
	END IF;
	INSERT INTO credits.subscriptions (pool_id, plan, credits_per_period, period, rollover_periods, kind, anchor,
	                                   issued_through, rollover_max, external_ref)
	VALUES (v_pool.pool_id, plan, v_amount, period, rollover_periods, kind, anchor,
	        greatest(credits._period_index(anchor, period, now()), 0) - 1, v_max, external_ref)
	RETURNING * INTO s;
	-- the current period's grant at once (an anchor in the future: its first period, scheduled)
	PERFORM credits._issue_periods(s, greatest(now(), anchor));
	RETURN s.subscription_id;
END
$$;

CREATE FUNCTION credits.cancel_subscription(pool text, plan text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	s credits.subscriptions;
BEGIN
	PERFORM credits._require('pool', pool, 'plan', plan);
	v_pool := credits._lock_pool(pool);
	SELECT * INTO s FROM credits.subscriptions x
	 WHERE x.pool_id = v_pool.pool_id AND x.plan = cancel_subscription.plan AND x.cancelled_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'pool "%" has no active subscription to plan "%"', pool, plan
			USING ERRCODE = 'CR010', HINT = 'Subscribe with credits.subscribe().';
	END IF;
	-- periods that started before the cancellation are owed even if
	-- maintenance has not issued them yet; only later ones are stopped
	PERFORM credits._issue_periods(s, now());
	UPDATE credits.subscriptions x SET cancelled_at = now()
	 WHERE x.pool_id = s.pool_id AND x.subscription_id = s.subscription_id;
END
$$;

-- Changes a subscription from its next period on: the periods that have
-- started are issued first as they were (the current period's grant is not
-- touched), then the new values apply to every later period (and the new
-- rollover cap at every later period start). NULL keeps a value.
CREATE FUNCTION credits.change_subscription(pool text, plan text, credits_per_period numeric,
                                            rollover_periods integer DEFAULT NULL, rollover_max numeric DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_amount bigint;
	v_max bigint;
	s credits.subscriptions;
BEGIN
	PERFORM credits._require('pool', pool, 'plan', plan, 'credits_per_period', credits_per_period);
	v_amount := credits._amount(credits_per_period, 'credits_per_period', false);
	v_max := credits._check_rollover(rollover_periods, rollover_max);
	v_pool := credits._lock_pool(pool);
	SELECT * INTO s FROM credits.subscriptions x
	 WHERE x.pool_id = v_pool.pool_id AND x.plan = change_subscription.plan AND x.cancelled_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'pool "%" has no active subscription to plan "%"', pool, plan
			USING ERRCODE = 'CR010', HINT = 'Subscribe with credits.subscribe().';
	END IF;
	PERFORM credits._issue_periods(s, greatest(now(), s.anchor));
	UPDATE credits.subscriptions x
	   SET credits_per_period = v_amount,
	       rollover_periods = coalesce(change_subscription.rollover_periods, x.rollover_periods),
	       rollover_max = coalesce(v_max, x.rollover_max)
	 WHERE x.pool_id = s.pool_id AND x.subscription_id = s.subscription_id;
END
$$;

CREATE PROCEDURE credits.renew_subscriptions(as_of timestamptz DEFAULT now())
AS 'MODULE_PATHNAME', 'credits_renew_subscriptions'
LANGUAGE C;

CREATE PROCEDURE credits.expire_grants(as_of timestamptz DEFAULT now())
AS 'MODULE_PATHNAME', 'credits_expire_grants'
LANGUAGE C;

-- One row per subscription, amounts in credits: what it issues, and when.
CREATE VIEW credits.subscription_status AS
SELECT x.subscription_id,
       p.pool,
       x.plan,
       x.kind,
       credits._to_credits(x.credits_per_period) AS credits_per_period,
       x.period,
       x.rollover_periods,
       x.anchor,
       CASE WHEN x.issued_through >= 0 THEN credits._period_at(x.anchor, x.period, x.issued_through) END
           AS last_period_start,
       CASE WHEN x.cancelled_at IS NULL THEN credits._period_at(x.anchor, x.period, x.issued_through + 1) END
           AS next_period_start,
       CASE WHEN x.cancelled_at IS NULL THEN 'active' ELSE 'cancelled' END AS status,
       x.created_at,
       x.cancelled_at,
       credits._to_credits(x.rollover_max) AS rollover_max,
       coalesce(x.external_ref, x.plan) AS external_ref
  FROM credits.subscriptions x
  JOIN credits.pools p USING (pool_id);

-- The one line a DBA schedules:
--   SELECT cron.schedule('credits', '* * * * *', 'CALL credits.maintain()');
CREATE PROCEDURE credits.maintain()
AS 'MODULE_PATHNAME', 'credits_maintain'
LANGUAGE C;

-- What \df+ and \dv+ show.
COMMENT ON PROCEDURE credits.expire_holds(timestamptz) IS 'Lapses every pending hold past its TTL, in batches that commit as they go.';
COMMENT ON FUNCTION credits.subscribe(text, text, numeric, interval, integer, text, timestamptz, numeric, text) IS 'Subscribes a pool to a plan that grants credits every period; returns the subscription id.';
COMMENT ON FUNCTION credits.change_subscription(text, text, numeric, integer, numeric) IS 'Changes a subscription''s credits per period and rollover from its next period on.';
COMMENT ON FUNCTION credits.cancel_subscription(text, text) IS 'Cancels a pool''s subscription to a plan: no further periods are issued.';
COMMENT ON PROCEDURE credits.renew_subscriptions(timestamptz) IS 'Issues the grants of subscription periods that have started, in batches.';
COMMENT ON PROCEDURE credits.expire_grants(timestamptz) IS 'Expires what remains of grants past their expires_at, in batches.';
COMMENT ON VIEW credits.subscription_status IS 'One row per subscription: what it issues, and when.';
COMMENT ON PROCEDURE credits.maintain() IS 'Runs renew_subscriptions, expire_grants and expire_holds: the one job to schedule with pg_cron.';
