-- Auto top-up: when a pool's available credits are below its threshold at
-- the commit of a transaction that wrote the pool, one request is opened
-- (credits.topup_requests, NOTIFY credits_topups); the application pays and
-- grants with the request's idempotency key, which settles it. Whether a
-- drop has been asked for is kept in credits.alert_state (metric
-- 'auto_topup'): one request per drop below the threshold, asked again once
-- the credits have recovered, as alerts fire once per crossing.

CREATE FUNCTION credits.set_auto_topup(pool text, below numeric, amount numeric)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_below bigint;
	v_amount bigint;
BEGIN
	PERFORM credits._require('pool', pool, 'below', below, 'amount', amount);
	v_below := credits._amount(below, 'below');
	v_amount := credits._amount(amount, 'amount', false);
	v_pool := credits._lock_pool(pool);
	IF v_pool.topup_increment IS NOT NULL AND v_amount % v_pool.topup_increment <> 0 THEN
		RAISE EXCEPTION 'auto top-up amount % is not a multiple of the pool''s top-up increment', amount
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('amount %s, topup_increment %s.', amount, credits._to_credits(v_pool.topup_increment)),
			      HINT = 'Top up in multiples of the top-up increment.';
	END IF;
	UPDATE credits.pools SET topup_below = v_below, topup_amount = v_amount WHERE pool_id = v_pool.pool_id;
	-- a new rule starts armed, and is checked at commit (a pool already
	-- below it gets a request then)
	DELETE FROM credits.alert_state s WHERE s.pool_id = v_pool.pool_id AND s.metric = 'auto_topup';
END
$$;

-- An open request stays open: the application may be paying it.
CREATE FUNCTION credits.remove_auto_topup(pool text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool);
	v_pool := credits._lock_pool(pool);
	UPDATE credits.pools SET topup_below = NULL, topup_amount = NULL WHERE pool_id = v_pool.pool_id;
	DELETE FROM credits.alert_state s WHERE s.pool_id = v_pool.pool_id AND s.metric = 'auto_topup';
END
$$;

-- Cancels an open request (a cancelled one: nothing to do; a settled one:
-- 22023). The pool is not asked again until its credits have recovered
-- above the threshold and dropped below it again.
CREATE FUNCTION credits.cancel_topup_request(request_id bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
	r credits.topup_requests;
BEGIN
	PERFORM credits._require('request_id', request_id);
	SELECT t.pool_id INTO v_pool_id FROM credits.topup_requests t WHERE t.request_id = cancel_topup_request.request_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'top-up request % not found', request_id
			USING ERRCODE = 'CR010', HINT = 'Pass a request_id of credits.topup_requests.';
	END IF;
	PERFORM credits._lock_pool_id(v_pool_id);
	SELECT * INTO STRICT r FROM credits.topup_requests t
	 WHERE t.pool_id = v_pool_id AND t.request_id = cancel_topup_request.request_id;
	IF r.status = 'settled' THEN
		RAISE EXCEPTION 'top-up request % is settled: it cannot be cancelled', request_id
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('settled at %s by grant %s.', r.closed_at, r.grant_id),
			      HINT = 'Void the grant to take the credits back.';
	END IF;
	UPDATE credits.topup_requests t SET status = 'cancelled', closed_at = now()
	 WHERE t.pool_id = v_pool_id AND t.request_id = r.request_id AND t.status = 'open';
END
$$;

-- At commit, under the pool's lock (the transaction wrote the pool row):
-- opens a request when the pool is below its threshold and this drop has
-- not been asked for yet; re-arms once it has recovered.
CREATE FUNCTION credits._pool_topups()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p credits.pools;
	v_available numeric;
	v_below numeric;
	v_asked boolean;
	r credits.topup_requests;
	v_id bigint;
BEGIN
	-- the row as committed by this transaction, not as the event saw it
	SELECT * INTO p FROM credits.pools WHERE pool_id = NEW.pool_id;
	IF p.topup_below IS NULL THEN
		RETURN NULL;
	END IF;
	-- what balance(pool) says: lapsed holds count as available
	v_available := credits.balance(p.pool);
	v_below := credits._to_credits(p.topup_below);
	SELECT fired INTO v_asked FROM credits.alert_state
	 WHERE pool_id = p.pool_id AND metric = 'auto_topup' AND member = '';
	IF v_available < v_below AND NOT coalesce(v_asked, false) THEN
		INSERT INTO credits.alert_state (pool_id, metric, member, fired) VALUES (p.pool_id, 'auto_topup', '', true)
		ON CONFLICT ON CONSTRAINT alert_state_pkey DO UPDATE SET fired = true;
		v_id := nextval('credits.topup_request_id_seq');
		INSERT INTO credits.topup_requests (request_id, pool, amount, idempotency_key, pool_id)
		VALUES (v_id, p.pool, credits._to_credits(p.topup_amount), 'topup-' || v_id, p.pool_id)
		ON CONFLICT (pool_id) WHERE status = 'open' DO NOTHING
		RETURNING * INTO r;
		IF FOUND THEN
			PERFORM pg_notify('credits_topups', json_build_object(
				'request_id', r.request_id, 'pool', r.pool, 'at', r.at, 'amount', r.amount,
				'idempotency_key', r.idempotency_key, 'status', r.status)::text);
		END IF;
	ELSIF v_available >= v_below AND v_asked THEN
		UPDATE credits.alert_state SET fired = false
		 WHERE pool_id = p.pool_id AND metric = 'auto_topup' AND member = '';
	END IF;
	RETURN NULL;
END
$$;

-- A purchased grant with an open request's key settles it.
CREATE FUNCTION credits._grant_settles_topup()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE credits.topup_requests t SET status = 'settled', closed_at = now(), grant_id = NEW.grant_id
	 WHERE t.pool_id = NEW.pool_id AND t.idempotency_key = NEW.idempotency_key AND t.status = 'open';
	RETURN NULL;
END
$$;

-- Checked at commit (a rolled-back transaction asks nothing; pg_notify is
-- delivered on commit), and only for pools with an auto top-up: others pay
-- nothing.
CREATE CONSTRAINT TRIGGER pools_topups AFTER UPDATE ON credits.pools
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.topup_below IS NOT NULL) EXECUTE FUNCTION credits._pool_topups();
CREATE TRIGGER grants_settle_topup AFTER INSERT ON credits.grants
	FOR EACH ROW WHEN (NEW.idempotency_key IS NOT NULL AND NEW.kind = 'purchased')
	EXECUTE FUNCTION credits._grant_settles_topup();

-- What \df+ and \dv+ show.
COMMENT ON FUNCTION credits.set_auto_topup(text, numeric, numeric) IS 'Asks for a top-up of amount credits when the pool''s available credits drop below a threshold.';
COMMENT ON FUNCTION credits.remove_auto_topup(text) IS 'Removes a pool''s auto top-up (open requests stay open).';
COMMENT ON FUNCTION credits.cancel_topup_request(bigint) IS 'Cancels an open auto top-up request.';
COMMENT ON TABLE credits.topup_requests IS 'Auto top-up requests: open until a purchased grant with the request''s key settles them.';
