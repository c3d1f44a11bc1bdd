-- Holds: reserve (C++), capture, release, and the lapse of holds past their TTL.

-- Gives back what a pending hold still holds: each part returns to its
-- grant, or expires (voids) at once when the grant is dead. The caller has
-- locked the pool. Returns the amount given back (micros).
CREATE FUNCTION credits._unhold(p_pool_id bigint, p_hold_id bigint, p_keep bigint, p_capture_id bigint,
                                p_status text, p_reason text, p_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
-- p_keep: how much of the hold is captured (taken in allocation order) and
-- added to the member's usage; the rest is released. p_capture_id: the
-- capture's head entry.
DECLARE
	h credits.holds;
	part credits.hold_parts;
	g credits.grants;
	v_take bigint;
	v_back bigint;
	v_left bigint := p_keep;
	v_released bigint := 0;
BEGIN
	SELECT * INTO STRICT h FROM credits.holds WHERE pool_id = p_pool_id AND hold_id = p_hold_id;
	FOR part IN SELECT * FROM credits.hold_parts
	             WHERE pool_id = p_pool_id AND hold_id = p_hold_id AND held > 0 ORDER BY part LOOP
		v_take := least(part.held, v_left);
		v_back := part.held - v_take;
		v_left := v_left - v_take;
		-- one write per part: the captured share leaves the grant, the
		-- released share goes back to its remaining
		UPDATE credits.grants SET held = held - part.held, remaining = remaining + v_back
		 WHERE pool_id = p_pool_id AND grant_id = part.grant_id
		RETURNING * INTO STRICT g;
		IF v_take > 0 THEN
			INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, held, charge_id, hold_id, feature)
			VALUES (p_pool_id, 'capture', h.member, part.grant_id, -v_take, p_capture_id, p_hold_id, h.feature);
		END IF;
		IF v_back > 0 THEN
			INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, held, hold_id, reason)
			VALUES (p_pool_id, 'release', h.member, part.grant_id, v_back, -v_back, p_hold_id, p_reason);
			-- now, not p_at: expire_holds(as_of) with a later as_of lapses
			-- holds, but a grant still live now keeps what they give back
			IF credits._grant_dead(g, now()) THEN
				-- the grant died while this part was held: it goes with the grant
				UPDATE credits.grants SET remaining = remaining - v_back
				 WHERE pool_id = p_pool_id AND grant_id = part.grant_id;
				INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, hold_id, reason)
				VALUES (p_pool_id, CASE WHEN g.voided_at IS NOT NULL THEN 'void' ELSE 'expire' END, h.member,
				        part.grant_id, -v_back, p_hold_id,
				        CASE WHEN g.voided_at IS NOT NULL THEN 'grant voided while held' ELSE 'grant expired while held' END);
			END IF;
			v_released := v_released + v_back;
		END IF;
		UPDATE credits.hold_parts SET held = 0 WHERE pool_id = p_pool_id AND hold_id = p_hold_id AND hold_parts.part = part.part;
	END LOOP;
	UPDATE credits.holds SET status = p_status, captured = p_keep, settled_at = p_at
	 WHERE pool_id = p_pool_id AND hold_id = p_hold_id;
	-- one update, so the usage guard sees usage shrink (used + held), and a
	-- limit lowered since the hold was made cannot refuse its capture. The
	-- period is now's, not p_at's: expire_holds(as_of) with a later as_of
	-- must not move the member's usage into a future period.
	UPDATE credits.members
	   SET held = held - h.amount,
	       used = CASE WHEN period_start = credits._period_start(period, now()) THEN used ELSE 0 END + p_keep,
	       period_start = credits._period_start(period, now())
	 WHERE pool_id = p_pool_id AND member = h.member;
	RETURN v_released;
END
$$;

-- Lapses the pool's pending holds whose TTL has passed; the caller has
-- locked the pool. Returns how many lapsed.
CREATE FUNCTION credits._lapse_holds(p_pool_id bigint, p_at timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_hold bigint;
	v_count integer := 0;
BEGIN
	FOR v_hold IN SELECT hold_id FROM credits.holds
	               WHERE pool_id = p_pool_id AND status = 'pending' AND expires_at <= p_at ORDER BY hold_id LOOP
		PERFORM credits._unhold(p_pool_id, v_hold, 0, NULL, 'lapsed', 'hold lapsed', p_at);
		v_count := v_count + 1;
	END LOOP;
	UPDATE credits.pools
	   SET next_hold_expiry = (SELECT min(expires_at) FROM credits.holds WHERE pool_id = p_pool_id AND status = 'pending')
	 WHERE pool_id = p_pool_id;
	RETURN v_count;
END
$$;

-- The held parts of pending holds past their TTL. Such a hold has lapsed,
-- whether or not a write or expire_holds has recorded it yet: balance() and
-- the views (grant_balances, pool_balances, member_usage) count these parts
-- as not held, and as available again where their grant is still live.
CREATE VIEW credits._lapsed_hold_parts AS
SELECT h.pool_id, h.hold_id, h.member, hp.grant_id, hp.held
  FROM credits.holds h
  JOIN credits.hold_parts hp ON hp.pool_id = h.pool_id AND hp.hold_id = h.hold_id
 WHERE h.status = 'pending' AND h.expires_at <= now() AND hp.held > 0;

-- The pending hold `hold_id`, its pool locked; CR010 when unknown, CR006
-- when no longer pending.
CREATE FUNCTION credits._pending_hold(p_hold_id bigint)
RETURNS credits.holds
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
	h credits.holds;
BEGIN
	SELECT pool_id INTO v_pool_id FROM credits.holds WHERE hold_id = p_hold_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'hold % not found', p_hold_id
			USING ERRCODE = 'CR010', HINT = 'Pass a hold id returned by credits.reserve().';
	END IF;
	PERFORM credits._lock_pool_id(v_pool_id);
	SELECT * INTO STRICT h FROM credits.holds WHERE pool_id = v_pool_id AND hold_id = p_hold_id;
	IF h.status <> 'pending' THEN
		RAISE EXCEPTION 'hold % is not pending: it was %', p_hold_id, h.status
			USING ERRCODE = 'CR006',
			      DETAIL = format('amount %s, captured %s, expires_at %s.', credits._to_credits(h.amount),
			                      credits._to_credits(h.captured), h.expires_at),
			      HINT = CASE WHEN h.status = 'lapsed' THEN 'Reserve again with a longer ttl.'
			                  ELSE 'A hold is settled once.' END;
	END IF;
	RETURN h;
END
$$;

CREATE FUNCTION credits.reserve(pool text, member text, amount numeric, ttl interval DEFAULT '15 minutes',
                                feature text DEFAULT NULL, idempotency_key text DEFAULT NULL,
                                metadata jsonb DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'credits_reserve'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.capture(hold_id bigint, amount numeric DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS credits.charge_result
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h credits.holds;
	v_amount bigint;
	v_id bigint;
	v_used bigint;
	v_balance bigint;
BEGIN
	PERFORM credits._require('hold_id', hold_id);
	v_amount := credits._amount(amount, 'amount');
	h := credits._pending_hold(hold_id);
	v_amount := coalesce(v_amount, h.amount);
	IF v_amount > h.amount THEN
		RAISE EXCEPTION 'cannot capture % credits: hold % holds %', amount, hold_id, credits._to_credits(h.amount)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Capture at most what was reserved, or reserve more.';
	END IF;
	v_id := nextval('credits.ledger_entry_id_seq');
	PERFORM credits._unhold(h.pool_id, h.hold_id, v_amount, v_id, 'captured', 'rest of hold released', now());
	SELECT m.used INTO v_used FROM credits.members m WHERE m.pool_id = h.pool_id AND m.member = h.member;
	v_balance := credits._available(h.pool_id, now());
	INSERT INTO credits.ledger (entry_id, pool_id, entry_type, member, charge_id, hold_id, status, feature,
	                            requested, balance_after, member_used_after, metadata)
	VALUES (v_id, h.pool_id, 'capture', h.member, v_id, h.hold_id, 'succeeded', h.feature,
	        v_amount, v_balance, v_used, coalesce(capture.metadata, h.metadata));
	RETURN ROW(v_id, 'succeeded', credits._to_credits(v_amount), credits._to_credits(v_balance),
	           credits._to_credits(v_used), false, NULL)::credits.charge_result;
END
$$;

CREATE FUNCTION credits.release(hold_id bigint)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h credits.holds;
BEGIN
	PERFORM credits._require('hold_id', hold_id);
	h := credits._pending_hold(hold_id);
	PERFORM credits._unhold(h.pool_id, h.hold_id, 0, NULL, 'released', 'released', now());
	RETURN credits._to_credits(h.amount);
END
$$;

-- One batch of expire_holds: lapses the overdue holds of up to 100 pools,
-- each under its pool's lock. Returns how many holds lapsed; 0 when nothing
-- was left.
CREATE FUNCTION credits._expire_holds_batch(p_as_of timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool bigint;
	v_pools integer := 0;
	v_holds integer := 0;
BEGIN
	FOR v_pool IN SELECT DISTINCT h.pool_id FROM credits.holds h
	               WHERE h.status = 'pending' AND h.expires_at <= p_as_of
	               ORDER BY h.pool_id LIMIT 100 LOOP
		PERFORM credits._lock_pool_id(v_pool);
		v_holds := v_holds + credits._lapse_holds(v_pool, p_as_of);
		v_pools := v_pools + 1;
	END LOOP;
	-- a pool whose holds another session lapsed meanwhile counts no hold,
	-- but the batch still did something
	RETURN CASE WHEN v_pools > 0 THEN greatest(v_holds, 1) ELSE 0 END;
END
$$;



-- A pending hold gets a new expiry, now() + ttl (longer or shorter); a hold
-- that is not pending (lapsed included) raises CR006. No credits move, so
-- the ledger has no entry for it.
CREATE FUNCTION credits.extend_hold(hold_id bigint, ttl interval)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h credits.holds;
	v_expires timestamptz;
BEGIN
	PERFORM credits._require('hold_id', hold_id, 'ttl', ttl);
	-- as reserve: positive, and at most 100 years (a timestamp must hold it)
	IF ttl <= interval '0' OR ttl > interval '100 years' THEN
		RAISE EXCEPTION 'invalid ttl: must be a positive interval of at most 100 years'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass an interval such as ''15 minutes''.';
	END IF;
	h := credits._pending_hold(hold_id);
	v_expires := now() + ttl;
	UPDATE credits.holds SET expires_at = v_expires WHERE pool_id = h.pool_id AND holds.hold_id = h.hold_id;
	-- the pool's next hold expiry may be early, never late
	UPDATE credits.pools SET next_hold_expiry = least(next_hold_expiry, v_expires) WHERE pool_id = h.pool_id;
	RETURN v_expires;
END
$$;

-- Pool-first forms (see credits._pool_owns).
CREATE FUNCTION credits.capture(pool text, hold_id bigint, amount numeric DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS credits.charge_result
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'hold_id', hold_id);
	PERFORM credits._pool_owns(pool, 'hold', hold_id);
	RETURN credits.capture(hold_id, amount, metadata);
END
$$;

CREATE FUNCTION credits.extend_hold(pool text, hold_id bigint, ttl interval)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'hold_id', hold_id);
	PERFORM credits._pool_owns(pool, 'hold', hold_id);
	RETURN credits.extend_hold(hold_id, ttl);
END
$$;

CREATE FUNCTION credits.release(pool text, hold_id bigint)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'hold_id', hold_id);
	PERFORM credits._pool_owns(pool, 'hold', hold_id);
	RETURN credits.release(hold_id);
END
$$;

-- What \df+ and \dv+ show.
COMMENT ON FUNCTION credits.reserve(text, text, numeric, interval, text, text, jsonb) IS 'Holds credits for work whose cost is not yet known; returns the hold id.';
COMMENT ON FUNCTION credits.capture(bigint, numeric, jsonb) IS 'Charges all or part of a pending hold and releases the rest.';
COMMENT ON FUNCTION credits.release(bigint) IS 'Releases a pending hold; returns the amount released.';
COMMENT ON FUNCTION credits.capture(text, bigint, numeric, jsonb) IS 'capture() of a hold of the named pool (pool-first form, for routing).';
COMMENT ON FUNCTION credits.release(text, bigint) IS 'release() of a hold of the named pool (pool-first form, for routing).';
COMMENT ON FUNCTION credits.extend_hold(bigint, interval) IS 'Gives a pending hold a new expiry, now() + ttl; returns it.';
COMMENT ON FUNCTION credits.extend_hold(text, bigint, interval) IS 'extend_hold() of a hold of the named pool (pool-first form, for routing).';
