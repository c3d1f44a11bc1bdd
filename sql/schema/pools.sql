-- Pools and members: the pool lock every write takes first, enrolment,
-- member limits and access.

-- Locks a pool for a write and lapses its overdue holds first.
CREATE FUNCTION credits._lock_pool(p_pool text)
RETURNS credits.pools
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r credits.pools;
BEGIN
	UPDATE credits.pools SET version = version + 1 WHERE pool = p_pool RETURNING * INTO r;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown pool "%"', p_pool
			USING ERRCODE = 'CR004', HINT = 'Create it with credits.create_pool().';
	END IF;
	IF r.next_hold_expiry <= now() THEN
		PERFORM credits._lapse_holds(r.pool_id, now());
	END IF;
	RETURN r;
END
$$;

CREATE FUNCTION credits._lock_pool_id(p_pool_id bigint)
RETURNS credits.pools
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r credits.pools;
BEGIN
	UPDATE credits.pools SET version = version + 1 WHERE pool_id = p_pool_id RETURNING * INTO r;
	IF r.next_hold_expiry <= now() THEN
		PERFORM credits._lapse_holds(r.pool_id, now());
	END IF;
	RETURN r;
END
$$;

-- Credits a pool can spend at `at` (in micros): live lots, holds excluded.
CREATE FUNCTION credits._available(p_pool_id bigint, p_at timestamptz)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT coalesce(sum(g.remaining), 0)::bigint
	  FROM credits.grants g
	 WHERE g.pool_id = p_pool_id
	   AND g.remaining > 0
	   AND g.voided_at IS NULL
	   AND g.expired_at IS NULL
	   AND g.effective_at <= p_at
	   AND (g.expires_at IS NULL OR g.expires_at > p_at);
END;

-- Enrolls a member if it is unknown (admin functions naming one do).
CREATE FUNCTION credits._enroll(p_pool_id bigint, p_member text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT credits._check_key('member', p_member);
	INSERT INTO credits.members (pool_id, member, period_start)
	VALUES (p_pool_id, p_member, credits._period_start('month', now()))
	ON CONFLICT (pool_id, member) DO NOTHING;
END;

-- A member's consumption (charges and captures, net of their refunds) since
-- `since`, in micros: what its usage counter holds after a period change.
CREATE FUNCTION credits._usage_since(p_pool_id bigint, p_member text, p_since timestamptz)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT (coalesce((SELECT -sum(l.amount + l.held)
	                    FROM credits.ledger l
	                   WHERE l.pool_id = p_pool_id AND l.member = p_member
	                     AND l.entry_type IN ('charge', 'capture') AND l.at >= p_since), 0)
	      - coalesce((SELECT sum(r.amount)
	                    FROM credits.ledger r
	                    JOIN credits.ledger c ON c.pool_id = r.pool_id AND c.entry_id = r.charge_id
	                   WHERE r.pool_id = p_pool_id AND r.member = p_member
	                     AND r.entry_type = 'refund' AND c.at >= p_since), 0))::bigint;
END;

CREATE FUNCTION credits.create_pool(pool text, name text DEFAULT NULL, settings jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_key text;
	v_topup bigint;
	v_id bigint;
BEGIN
	PERFORM credits._require('pool', pool, 'settings', settings);
	PERFORM credits._check_key('pool', pool);
	IF jsonb_typeof(settings) <> 'object' THEN
		RAISE EXCEPTION 'invalid settings: expected a JSON object'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('settings was %s.', settings);
	END IF;
	FOR v_key IN SELECT jsonb_object_keys(settings) LOOP
		IF v_key <> 'topup_increment' THEN
			RAISE EXCEPTION 'unknown pool setting "%"', v_key
				USING ERRCODE = 'invalid_parameter_value', HINT = 'Known settings: topup_increment.';
		END IF;
	END LOOP;
	IF settings ? 'topup_increment' THEN
		IF jsonb_typeof(settings -> 'topup_increment') <> 'number' THEN
			RAISE EXCEPTION 'invalid topup_increment: expected a number'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		v_topup := credits._amount((settings ->> 'topup_increment')::numeric, 'topup_increment', false);
	END IF;
	INSERT INTO credits.pools (pool, name, settings, topup_increment)
	VALUES (create_pool.pool, create_pool.name, create_pool.settings, v_topup)
	ON CONFLICT DO NOTHING
	RETURNING pool_id INTO v_id;
	IF v_id IS NULL THEN
		RAISE EXCEPTION 'pool "%" already exists', pool
			USING ERRCODE = 'unique_violation', HINT = 'Pool keys are unique; pick another key.';
	END IF;
	RETURN v_id;
END
$$;

CREATE FUNCTION credits.set_member_limit(pool text, member text, credit_limit numeric, period text DEFAULT 'month')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_limit bigint;
	v_available bigint;
	v_start timestamptz;
	m credits.members;
BEGIN
	PERFORM credits._require('pool', pool, 'member', member, 'period', period);
	IF period NOT IN ('month', 'week', 'day', 'none') THEN
		RAISE EXCEPTION 'unknown period "%"', period
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Periods: month, week, day, none.';
	END IF;
	v_limit := credits._amount(credit_limit, 'credit_limit');
	v_pool := credits._lock_pool(pool);
	IF v_limit IS NOT NULL THEN
		v_available := credits._available(v_pool.pool_id, now());
		IF v_limit > v_available THEN
			RAISE EXCEPTION 'credit limit of % for member "%" exceeds the credits available in pool "%"',
					credit_limit, member, pool
				USING ERRCODE = 'CR008',
				      DETAIL = format('limit %s, available %s.', credit_limit, credits._to_credits(v_available)),
				      HINT = 'Grant more credits to the pool first, or set a lower limit.';
		END IF;
	END IF;
	PERFORM credits._enroll(v_pool.pool_id, member);
	SELECT * INTO m FROM credits.members WHERE pool_id = v_pool.pool_id AND members.member = set_member_limit.member;
	v_start := credits._period_start(period, now());
	UPDATE credits.members
	   SET credit_limit = v_limit,
	       period = set_member_limit.period,
	       limit_set_at = now(),
	       -- a new kind of period counts the usage the ledger shows for it
	       used = CASE WHEN m.period = set_member_limit.period AND m.period_start = v_start THEN m.used
	                   ELSE credits._usage_since(v_pool.pool_id, m.member, v_start) END,
	       period_start = v_start
	 WHERE pool_id = v_pool.pool_id AND members.member = set_member_limit.member;
END
$$;

-- period NULL (the default): each member keeps its period (a new member's
-- is month); a period given sets it for all of them.
CREATE FUNCTION credits.set_member_limits(pool text, members text[], amount numeric, mode text DEFAULT 'each',
                                          period text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_members text[];
	v_each numeric;
	v_member text;
	v_period text;
BEGIN
	PERFORM credits._require('pool', pool, 'members', members, 'amount', amount, 'mode', mode);
	IF array_position(members, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'members must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF mode NOT IN ('each', 'split') THEN
		RAISE EXCEPTION 'unknown mode "%"', mode
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Modes: each, split.';
	END IF;
	PERFORM credits._amount(amount, 'amount');
	SELECT array_agg(DISTINCT m ORDER BY m) INTO v_members FROM unnest(members) AS m;
	IF v_members IS NULL THEN
		RAISE EXCEPTION 'members must name at least one member' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF mode = 'each' THEN
		v_each := amount;
	ELSE
		v_each := trunc(amount / cardinality(v_members), 6);
	END IF;
	FOREACH v_member IN ARRAY v_members LOOP
		v_period := period;
		IF v_period IS NULL THEN
			SELECT m.period INTO v_period
			  FROM credits.members m JOIN credits.pools p USING (pool_id)
			 WHERE p.pool = set_member_limits.pool AND m.member = v_member;
		END IF;
		PERFORM credits.set_member_limit(pool, v_member, v_each, coalesce(v_period, 'month'));
	END LOOP;
END
$$;

CREATE FUNCTION credits.remove_member_limit(pool text, member text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool, 'member', member);
	v_pool := credits._lock_pool(pool);
	PERFORM credits._enroll(v_pool.pool_id, member);
	UPDATE credits.members SET credit_limit = NULL, limit_set_at = now()
	 WHERE pool_id = v_pool.pool_id AND members.member = remove_member_limit.member;
END
$$;

CREATE FUNCTION credits._set_access(p_pool text, p_member text, p_revoked boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	v_pool := credits._lock_pool(p_pool);
	PERFORM credits._enroll(v_pool.pool_id, p_member);
	UPDATE credits.members SET revoked = p_revoked WHERE pool_id = v_pool.pool_id AND member = p_member;
END
$$;

CREATE FUNCTION credits.revoke_access(pool text, member text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'member', member);
	PERFORM credits._set_access(pool, member, true);
END
$$;

CREATE FUNCTION credits.restore_access(pool text, member text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'member', member);
	PERFORM credits._set_access(pool, member, false);
END
$$;


-- Pool-first forms (capture(pool, hold_id, ...) and the like) name the pool
-- first, so that a router can send the call to the node that holds it: the
-- id must be one of that pool's (CR010 otherwise, CR004 for an unknown pool).
CREATE FUNCTION credits._pool_owns(p_pool text, p_what text, p_id bigint)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
	v_found boolean;
BEGIN
	SELECT p.pool_id INTO v_pool_id FROM credits.pools p WHERE p.pool = p_pool;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown pool "%"', p_pool USING ERRCODE = 'CR004', HINT = 'Create it with credits.create_pool().';
	END IF;
	v_found := CASE p_what
		WHEN 'hold' THEN EXISTS (SELECT FROM credits.holds h WHERE h.pool_id = v_pool_id AND h.hold_id = p_id)
		WHEN 'grant' THEN EXISTS (SELECT FROM credits.grants g WHERE g.pool_id = v_pool_id AND g.grant_id = p_id)
		WHEN 'charge' THEN EXISTS (SELECT FROM credits.ledger l WHERE l.pool_id = v_pool_id AND l.entry_id = p_id
		                                                          AND l.entry_type IN ('charge', 'capture'))
	END;
	IF NOT v_found THEN
		RAISE EXCEPTION '% % not found in pool "%"', p_what, p_id, p_pool
			USING ERRCODE = 'CR010', HINT = format('Pass an id of a %s of pool "%s".', p_what, p_pool);
	END IF;
END
$$;

-- Budgets: named caps inside a pool for groups of members. A budget's
-- usage is kept by the members table trigger (member_guard.cpp) as its
-- members' usage changes; a member's usage counts from the moment it joins.
CREATE FUNCTION credits.set_budget(pool text, budget text, credit_limit numeric, period text DEFAULT 'month')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_limit bigint;
	v_available bigint;
	v_start timestamptz;
BEGIN
	PERFORM credits._require('pool', pool, 'budget', budget, 'period', period);
	PERFORM credits._check_key('budget', budget);
	IF period NOT IN ('month', 'week', 'day', 'none') THEN
		RAISE EXCEPTION 'unknown period "%"', period
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Periods: month, week, day, none.';
	END IF;
	v_limit := credits._amount(credit_limit, 'credit_limit');
	v_pool := credits._lock_pool(pool);
	IF v_limit IS NOT NULL THEN
		v_available := credits._available(v_pool.pool_id, now());
		IF v_limit > v_available THEN
			RAISE EXCEPTION 'budget "%" of % exceeds the credits available in pool "%"', budget, credit_limit, pool
				USING ERRCODE = 'CR008',
				      DETAIL = format('limit %s, available %s.', credit_limit, credits._to_credits(v_available)),
				      HINT = 'Grant more credits to the pool first, or set a lower budget.';
		END IF;
	END IF;
	v_start := credits._period_start(period, now());
	INSERT INTO credits.budgets AS b (pool_id, budget, credit_limit, period, period_start, limit_set_at)
	VALUES (v_pool.pool_id, set_budget.budget, v_limit, set_budget.period, v_start, now())
	ON CONFLICT ON CONSTRAINT budgets_pkey DO UPDATE
	   SET credit_limit = excluded.credit_limit,
	       limit_set_at = excluded.limit_set_at,
	       -- another kind of period starts counting from now
	       used = CASE WHEN b.period = excluded.period AND b.period_start = excluded.period_start THEN b.used ELSE 0 END,
	       period = excluded.period,
	       period_start = excluded.period_start;
END
$$;

-- A member is in at most one budget; NULL takes it out of its budget. Its
-- pending holds move with it; what it used stays counted where it was.
CREATE FUNCTION credits.assign_budget(pool text, member text, budget text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	m credits.members;
BEGIN
	PERFORM credits._require('pool', pool, 'member', member);
	v_pool := credits._lock_pool(pool);
	IF budget IS NOT NULL AND NOT EXISTS (SELECT FROM credits.budgets b
	                                       WHERE b.pool_id = v_pool.pool_id AND b.budget = assign_budget.budget) THEN
		RAISE EXCEPTION 'unknown budget "%" in pool "%"', budget, pool
			USING ERRCODE = 'CR010', HINT = 'Create it with credits.set_budget().';
	END IF;
	PERFORM credits._enroll(v_pool.pool_id, member);
	SELECT * INTO m FROM credits.members x WHERE x.pool_id = v_pool.pool_id AND x.member = assign_budget.member;
	IF m.budget IS NOT DISTINCT FROM assign_budget.budget THEN
		RETURN;
	END IF;
	UPDATE credits.budgets b SET held = greatest(b.held - m.held, 0)
	 WHERE b.pool_id = v_pool.pool_id AND b.budget = m.budget;
	UPDATE credits.budgets b SET held = b.held + m.held
	 WHERE b.pool_id = v_pool.pool_id AND b.budget = assign_budget.budget;
	UPDATE credits.members x SET budget = assign_budget.budget
	 WHERE x.pool_id = v_pool.pool_id AND x.member = assign_budget.member;
END
$$;

-- Its members become unassigned (the foreign key sets their budget NULL).
CREATE FUNCTION credits.remove_budget(pool text, budget text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool, 'budget', budget);
	v_pool := credits._lock_pool(pool);
	DELETE FROM credits.budgets b WHERE b.pool_id = v_pool.pool_id AND b.budget = remove_budget.budget;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown budget "%" in pool "%"', budget, pool USING ERRCODE = 'CR010';
	END IF;
END
$$;

-- What \df+ and \dv+ show.
COMMENT ON FUNCTION credits.create_pool(text, text, jsonb) IS 'Creates a pool of credits for an organization; returns its id.';
COMMENT ON FUNCTION credits.set_member_limit(text, text, numeric, text) IS 'Sets a member''s credit limit per period (month, week, day, none); NULL removes it.';
COMMENT ON FUNCTION credits.set_member_limits(text, text[], numeric, text, text) IS 'Sets the credit limit of several members: each gets the amount, or a split of it.';
COMMENT ON FUNCTION credits.remove_member_limit(text, text) IS 'Removes a member''s credit limit.';
COMMENT ON FUNCTION credits.revoke_access(text, text) IS 'Revokes a member''s access: its charges and holds are refused.';
COMMENT ON FUNCTION credits.restore_access(text, text) IS 'Restores a revoked member''s access.';
COMMENT ON FUNCTION credits.set_budget(text, text, numeric, text) IS 'Creates or changes a budget: a cap per period on what a group of a pool''s members may use.';
COMMENT ON FUNCTION credits.assign_budget(text, text, text) IS 'Puts a member in a budget (NULL: in none).';
COMMENT ON FUNCTION credits.remove_budget(text, text) IS 'Removes a budget; its members become unassigned.';
