-- Holds: reserve (C++), capture, release, and the lapse of holds past their TTL.

-- Gives back what a pending hold still holds: each part returns to its
-- grant, or expires (voids) at once when the grant is dead; p_keep is
-- captured (taken in the parts' order, added to the member's usage, capture
-- entries under p_capture_id). The caller has locked the pool. Returns the
-- amount given back (micros). C++: src/pg/holds_settle.cpp.
CREATE FUNCTION credits._unhold(p_pool_id bigint, p_hold_id bigint, p_keep bigint, p_capture_id bigint,
                                p_status text, p_reason text, p_at timestamptz)
RETURNS bigint AS 'MODULE_PATHNAME', 'credits_unhold'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

-- Lapses the pool's pending holds whose TTL has passed, and sets the pool's
-- next hold expiry; the caller has locked the pool. Returns how many lapsed.
-- C++: src/pg/holds_settle.cpp.
CREATE FUNCTION credits._lapse_holds(p_pool_id bigint, p_at timestamptz)
RETURNS integer AS 'MODULE_PATHNAME', 'credits_lapse_holds'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

-- The held parts of pending holds past their TTL. Such a hold has lapsed,
-- whether or not a write or expire_holds has recorded it yet: balance() and
-- the views (grant_balances, pool_balances, member_usage) count these parts
-- as not held, and as available again where their grant is still live.
CREATE VIEW credits._lapsed_hold_parts AS
SELECT h.pool_id, h.hold_id, h.member, hp.grant_id, hp.held
  FROM credits.holds h
  JOIN credits.hold_parts hp ON hp.pool_id = h.pool_id AND hp.hold_id = h.hold_id
 WHERE h.status = 'pending' AND h.expires_at <= now() AND hp.held > 0;

CREATE FUNCTION credits.reserve(pool text, member text, amount numeric, ttl interval DEFAULT '15 minutes',
                                feature text DEFAULT NULL, idempotency_key text DEFAULT NULL,
                                metadata jsonb DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'credits_reserve'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- With an idempotency key, a retry of the capture that settled the hold
-- returns its result (replayed = true); without one a settled hold raises
-- CR006. allow_more: an amount above the hold takes the difference as a
-- charge of its own (credits.charge: deduction order, member limit, budget
-- and frequency caps as for any charge), made before the hold is settled,
-- so that a refused difference leaves the hold pending.
CREATE FUNCTION credits.capture(hold_id bigint, amount numeric DEFAULT NULL, metadata jsonb DEFAULT NULL,
                                idempotency_key text DEFAULT NULL, allow_more boolean DEFAULT false)
RETURNS credits.charge_result AS 'MODULE_PATHNAME', 'credits_capture'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.release(hold_id bigint)
RETURNS numeric AS 'MODULE_PATHNAME', 'credits_release'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- A pending hold gets a new expiry, now() + ttl (longer or shorter); a hold
-- that is not pending (lapsed included) raises CR006. No credits move, so
-- the ledger has no entry for it.
CREATE FUNCTION credits.extend_hold(hold_id bigint, ttl interval)
RETURNS timestamptz AS 'MODULE_PATHNAME', 'credits_extend_hold'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Pool-first forms (see credits._pool_owns).
CREATE FUNCTION credits.capture(pool text, hold_id bigint, amount numeric DEFAULT NULL, metadata jsonb DEFAULT NULL,
                                idempotency_key text DEFAULT NULL, allow_more boolean DEFAULT false)
RETURNS credits.charge_result
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'hold_id', hold_id);
	PERFORM credits._pool_owns(pool, 'hold', hold_id);
	RETURN credits.capture(hold_id, amount, metadata, idempotency_key, allow_more);
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
COMMENT ON FUNCTION credits.capture(bigint, numeric, jsonb, text, boolean) IS 'Charges all or part of a pending hold (or more, with allow_more) and releases the rest.';
COMMENT ON FUNCTION credits.release(bigint) IS 'Releases a pending hold; returns the amount released.';
COMMENT ON FUNCTION credits.capture(text, bigint, numeric, jsonb, text, boolean) IS 'capture() of a hold of the named pool (pool-first form, for routing).';
COMMENT ON FUNCTION credits.release(text, bigint) IS 'release() of a hold of the named pool (pool-first form, for routing).';
COMMENT ON FUNCTION credits.extend_hold(bigint, interval) IS 'Gives a pending hold a new expiry, now() + ttl; returns it.';
COMMENT ON FUNCTION credits.extend_hold(text, bigint, interval) IS 'extend_hold() of a hold of the named pool (pool-first form, for routing).';
