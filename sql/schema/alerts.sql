-- Alerts: thresholds checked at commit, one row and one NOTIFY per crossing.

CREATE FUNCTION credits.set_alert(pool text, metric text, threshold numeric)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool, 'metric', metric, 'threshold', threshold);
	IF metric NOT IN ('pool_balance_below', 'member_usage_percent') THEN
		RAISE EXCEPTION 'unknown metric "%"', metric
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Metrics: pool_balance_below, member_usage_percent.';
	END IF;
	IF threshold < 0 OR threshold = 'NaN' OR threshold > 1000000000000 THEN
		RAISE EXCEPTION 'invalid threshold: must be a finite number from 0 to 1000000000000'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('threshold was %s.', threshold);
	END IF;
	v_pool := credits._lock_pool(pool);
	INSERT INTO credits.alert_rules (pool_id, metric, threshold)
	VALUES (v_pool.pool_id, set_alert.metric, set_alert.threshold)
	ON CONFLICT ON CONSTRAINT alert_rules_pkey DO UPDATE SET threshold = excluded.threshold;
	-- a new threshold starts armed, and is checked at commit
	DELETE FROM credits.alert_state s WHERE s.pool_id = v_pool.pool_id AND s.metric = set_alert.metric;
	UPDATE credits.pools SET has_alerts = true WHERE pool_id = v_pool.pool_id;
	IF set_alert.metric = 'member_usage_percent' THEN
		UPDATE credits.members m SET credit_limit = m.credit_limit
		 WHERE m.pool_id = v_pool.pool_id AND m.credit_limit IS NOT NULL;
	END IF;
END
$$;

CREATE FUNCTION credits.remove_alert(pool text, metric text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool, 'metric', metric);
	IF metric NOT IN ('pool_balance_below', 'member_usage_percent') THEN
		RAISE EXCEPTION 'unknown metric "%"', metric
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Metrics: pool_balance_below, member_usage_percent.';
	END IF;
	v_pool := credits._lock_pool(pool);
	DELETE FROM credits.alert_rules r WHERE r.pool_id = v_pool.pool_id AND r.metric = remove_alert.metric;
	DELETE FROM credits.alert_state s WHERE s.pool_id = v_pool.pool_id AND s.metric = remove_alert.metric;
	UPDATE credits.pools
	   SET has_alerts = EXISTS (SELECT FROM credits.alert_rules r WHERE r.pool_id = v_pool.pool_id)
	 WHERE pool_id = v_pool.pool_id;
END
$$;

-- Fires or re-arms one alert for its current value. Called at commit, under
-- the pool's lock, so crossings of one pool are decided one at a time.
CREATE FUNCTION credits._alert_check(p_pool_id bigint, p_metric text, p_member text, p_value numeric,
                                     p_crossed boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r credits.alert_rules;
	v_fired boolean;
	a credits.alerts;
BEGIN
	SELECT * INTO r FROM credits.alert_rules WHERE pool_id = p_pool_id AND metric = p_metric;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	SELECT fired INTO v_fired FROM credits.alert_state
	 WHERE pool_id = p_pool_id AND metric = p_metric AND member = coalesce(p_member, '');
	IF p_crossed AND NOT coalesce(v_fired, false) THEN
		INSERT INTO credits.alerts (pool_id, pool, member, metric, threshold, value)
		SELECT p_pool_id, p.pool, p_member, p_metric, r.threshold, p_value FROM credits.pools p WHERE p.pool_id = p_pool_id
		RETURNING * INTO a;
		INSERT INTO credits.alert_state (pool_id, metric, member, fired) VALUES (p_pool_id, p_metric, coalesce(p_member, ''), true)
		ON CONFLICT ON CONSTRAINT alert_state_pkey DO UPDATE SET fired = true;
		PERFORM pg_notify('credits_alerts', json_build_object(
			'id', a.id, 'pool', a.pool, 'member', a.member, 'metric', a.metric,
			'threshold', a.threshold, 'value', a.value)::text);
	ELSIF NOT p_crossed AND v_fired THEN
		UPDATE credits.alert_state SET fired = false
		 WHERE pool_id = p_pool_id AND metric = p_metric AND member = coalesce(p_member, '');
	END IF;
END
$$;

CREATE FUNCTION credits._pool_alerts()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_threshold numeric;
	v_value numeric;
BEGIN
	SELECT threshold INTO v_threshold FROM credits.alert_rules
	 WHERE pool_id = NEW.pool_id AND metric = 'pool_balance_below';
	IF FOUND THEN
		v_value := credits.balance(NEW.pool);
		PERFORM credits._alert_check(NEW.pool_id, 'pool_balance_below', NULL, v_value, v_value < v_threshold);
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION credits._member_alerts()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_threshold numeric;
	v_used bigint;
	v_percent numeric;
	v_period timestamptz;
BEGIN
	SELECT threshold INTO v_threshold FROM credits.alert_rules
	 WHERE pool_id = NEW.pool_id AND metric = 'member_usage_percent';
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	-- the row as committed by this transaction, not as the event saw it
	-- member_usage.percent_used: used of the limit (held credits are not usage)
	SELECT CASE WHEN m.period_start = credits._period_start(m.period, now()) THEN m.used ELSE 0 END,
	       m.credit_limit, credits._period_start(m.period, now())
	  INTO v_used, NEW.credit_limit, v_period
	  FROM credits.members m WHERE m.pool_id = NEW.pool_id AND m.member = NEW.member;
	IF NEW.credit_limit IS NULL THEN
		RETURN NULL;
	END IF;
	v_percent := CASE WHEN NEW.credit_limit = 0 THEN CASE WHEN v_used > 0 THEN 100 ELSE 0 END
	                  ELSE round(v_used * 100.0 / NEW.credit_limit, 2) END;
	-- an alert that fired in an earlier period is armed again: the first
	-- charge of a new period can cross the threshold on its own
	UPDATE credits.alert_state s SET fired = false
	 WHERE s.pool_id = NEW.pool_id AND s.metric = 'member_usage_percent' AND s.member = NEW.member
	   AND s.fired AND s.period_start IS DISTINCT FROM v_period;
	PERFORM credits._alert_check(NEW.pool_id, 'member_usage_percent', NEW.member, v_percent, v_percent >= v_threshold);
	UPDATE credits.alert_state s SET period_start = v_period
	 WHERE s.pool_id = NEW.pool_id AND s.metric = 'member_usage_percent' AND s.member = NEW.member
	   AND s.period_start IS DISTINCT FROM v_period;
	RETURN NULL;
END
$$;

-- Checked at commit (a rolled-back transaction alerts nothing; pg_notify is
-- delivered on commit), and only for pools with alerts / members with limits.
CREATE CONSTRAINT TRIGGER pools_alerts AFTER UPDATE ON credits.pools
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.has_alerts) EXECUTE FUNCTION credits._pool_alerts();
-- Members are enrolled without a limit, so an insert never crosses anything;
-- not firing on insert also keeps pg_restore from alerting (or re-arming
-- alert_state) while it loads the members table.
CREATE CONSTRAINT TRIGGER members_alerts AFTER UPDATE ON credits.members
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.credit_limit IS NOT NULL) EXECUTE FUNCTION credits._member_alerts();

-- What \df+ and \dv+ show.
COMMENT ON FUNCTION credits.set_alert(text, text, numeric) IS 'Sets an alert on a pool''s balance or its members'' usage of their limits.';
COMMENT ON FUNCTION credits.remove_alert(text, text) IS 'Removes a pool''s alert on a metric.';
