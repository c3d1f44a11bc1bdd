-- credits 0.1: pools, members, grants, FIFO charges, limits, ledger, roles.
\echo Use "CREATE EXTENSION credits" to load this file. \quit

-------------------------------------------------------------------------------
-- Roles. Cluster-wide objects: created once, kept across DROP EXTENSION.
-------------------------------------------------------------------------------
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'credits_reader') THEN
		CREATE ROLE credits_reader NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'credits_app') THEN
		CREATE ROLE credits_app NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'credits_owner') THEN
		CREATE ROLE credits_owner NOLOGIN;
	END IF;
END
$roles$;
GRANT credits_app TO credits_owner;
GRANT credits_reader TO credits_owner;

REVOKE ALL ON SCHEMA credits FROM PUBLIC;
GRANT USAGE ON SCHEMA credits TO credits_reader, credits_app, credits_owner;

-------------------------------------------------------------------------------
-- Internal helpers written in C (src/pg). Amounts are stored as bigint
-- micro-credits (10^-6); the API speaks numeric.
-------------------------------------------------------------------------------
CREATE FUNCTION credits._amount(value numeric, what text, allow_zero boolean DEFAULT true)
RETURNS bigint AS 'MODULE_PATHNAME', 'credits_amount'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION credits._require(VARIADIC "any")
RETURNS void AS 'MODULE_PATHNAME', 'credits_require'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION credits._kind_rank(kind text)
RETURNS integer AS 'MODULE_PATHNAME', 'credits_kind_rank'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION credits._period_start(period text, at timestamptz)
RETURNS timestamptz AS 'MODULE_PATHNAME', 'credits_period_start'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The role that called into the API, seen through SECURITY DEFINER frames.
CREATE FUNCTION credits.current_actor()
RETURNS name AS 'MODULE_PATHNAME', 'credits_current_actor'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION credits._to_credits(micros bigint)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.trim_scale(pg_catalog.numeric_div(micros::pg_catalog.numeric, 1000000::pg_catalog.numeric));

CREATE FUNCTION credits._to_credits(micros numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.trim_scale(pg_catalog.numeric_div(micros, 1000000::pg_catalog.numeric));

-------------------------------------------------------------------------------
-- Tables. Every row that belongs to a pool carries pool_id, and every key
-- starts with it, so pools can later be distributed by pool_id.
-------------------------------------------------------------------------------
CREATE TABLE credits.pools (
	pool_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	pool text NOT NULL UNIQUE,
	name text,
	settings jsonb NOT NULL DEFAULT '{}',
	topup_increment bigint CHECK (topup_increment > 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	-- Bumped by every write to the pool: every operation takes the pool row
	-- first (the one lock order), and REPEATABLE READ callers get 40001.
	version bigint NOT NULL DEFAULT 0
);

CREATE TABLE credits.members (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	member text NOT NULL,
	credit_limit bigint CHECK (credit_limit >= 0),
	period text NOT NULL DEFAULT 'month' CHECK (period IN ('month', 'week', 'day', 'none')),
	period_start timestamptz NOT NULL,
	used bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
	held bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
	revoked boolean NOT NULL DEFAULT false,
	limit_set_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (pool_id, member)
);

CREATE SEQUENCE credits.grant_id_seq;
CREATE TABLE credits.grants (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	grant_id bigint NOT NULL DEFAULT nextval('credits.grant_id_seq'),
	kind text NOT NULL CHECK (kind IN ('free', 'promo', 'plan', 'purchased')),
	priority integer,
	rank integer NOT NULL,
	member text,
	amount bigint NOT NULL CHECK (amount > 0),
	remaining bigint NOT NULL CHECK (remaining >= 0),
	held bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
	effective_at timestamptz NOT NULL,
	expires_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	external_ref text,
	metadata jsonb,
	voided_at timestamptz,
	void_reason text,
	expired_at timestamptz,
	PRIMARY KEY (pool_id, grant_id),
	CHECK (expires_at IS NULL OR expires_at > effective_at)
);
ALTER SEQUENCE credits.grant_id_seq OWNED BY credits.grants.grant_id;
CREATE UNIQUE INDEX grants_grant_id_idx ON credits.grants (grant_id);

-- The ledger: one row per change of a grant's balance, plus one head row per
-- charge attempt (a rejected attempt is a head row that moves nothing).
--   amount: change of the grant's remaining; held: change of its held part.
--   For every grant: remaining = sum(amount), held = sum(held).
CREATE SEQUENCE credits.ledger_entry_id_seq;
CREATE TABLE credits.ledger (
	entry_id bigint NOT NULL DEFAULT nextval('credits.ledger_entry_id_seq'),
	pool_id bigint NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	actor name NOT NULL DEFAULT credits.current_actor(),
	entry_type text NOT NULL
		CHECK (entry_type IN ('grant', 'charge', 'hold', 'capture', 'release', 'refund', 'expire', 'void', 'adjust')),
	member text,
	grant_id bigint,
	amount bigint NOT NULL DEFAULT 0,
	held bigint NOT NULL DEFAULT 0,
	-- the charge this entry belongs to (= the entry_id of its head row)
	charge_id bigint,
	hold_id bigint,
	-- head row of a charge attempt
	status text CHECK (status IN ('succeeded', 'insufficient_credits', 'member_limit_exceeded',
	                              'access_revoked', 'rate_limited')),
	reason text,
	feature text,
	idempotency_key text,
	requested bigint,
	quantity numeric,
	balance_after bigint,
	member_used_after bigint,
	metadata jsonb,
	PRIMARY KEY (pool_id, entry_id)
);
ALTER SEQUENCE credits.ledger_entry_id_seq OWNED BY credits.ledger.entry_id;
CREATE INDEX ledger_charge_id_idx ON credits.ledger (charge_id) WHERE charge_id IS NOT NULL;
-- A succeeded charge owns its key; rejected attempts do not consume it.
CREATE UNIQUE INDEX ledger_idempotency_idx ON credits.ledger (pool_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL AND status = 'succeeded';

-- pg_dump keeps the rows of extension tables marked as configuration.
SELECT pg_catalog.pg_extension_config_dump('credits.pools', '');
SELECT pg_catalog.pg_extension_config_dump('credits.members', '');
SELECT pg_catalog.pg_extension_config_dump('credits.grants', '');
SELECT pg_catalog.pg_extension_config_dump('credits.ledger', '');
SELECT pg_catalog.pg_extension_config_dump('credits.grant_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.ledger_entry_id_seq', '');

-------------------------------------------------------------------------------
-- Guards that hold whatever path writes.
-------------------------------------------------------------------------------
CREATE FUNCTION credits._ledger_append_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'the credits ledger is append-only: % is not allowed', TG_OP
		USING ERRCODE = 'insufficient_privilege',
		      HINT = 'Correct a balance with a new entry (credits.void_grant, credits.grant or credits.refund).';
END
$$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON credits.ledger
	FOR EACH STATEMENT EXECUTE FUNCTION credits._ledger_append_only();
-- ALWAYS: also under session_replication_role = replica, which otherwise
-- silences triggers and would let a superuser rewrite history unnoticed.
ALTER TABLE credits.ledger ENABLE ALWAYS TRIGGER ledger_append_only;

-- Member access and limits, checked wherever usage is recorded.
CREATE FUNCTION credits._member_usage_guard()
RETURNS trigger AS 'MODULE_PATHNAME', 'credits_member_usage_guard'
LANGUAGE C;
CREATE TRIGGER members_usage_guard BEFORE INSERT OR UPDATE ON credits.members
	FOR EACH ROW EXECUTE FUNCTION credits._member_usage_guard();

-------------------------------------------------------------------------------
-- Internal SQL helpers.
-------------------------------------------------------------------------------
-- Locks a pool for a write: every operation takes its pool row first.
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
	RETURN r;
END
$$;

CREATE FUNCTION credits._lock_pool_id(p_pool_id bigint)
RETURNS credits.pools
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	UPDATE credits.pools SET version = version + 1 WHERE pool_id = p_pool_id RETURNING *;
END;

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

-------------------------------------------------------------------------------
-- Pools and members
-------------------------------------------------------------------------------
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
	IF pool = '' THEN
		RAISE EXCEPTION 'invalid pool key: must not be empty'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use the application''s own organization id or slug.';
	END IF;
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

CREATE FUNCTION credits.set_member_limits(pool text, members text[], amount numeric, mode text DEFAULT 'each',
                                          period text DEFAULT 'month')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_members text[];
	v_each numeric;
	v_member text;
BEGIN
	PERFORM credits._require('pool', pool, 'members', members, 'amount', amount, 'mode', mode, 'period', period);
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
		PERFORM credits.set_member_limit(pool, v_member, v_each, period);
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

-------------------------------------------------------------------------------
-- Grants
-------------------------------------------------------------------------------
CREATE FUNCTION credits.grant(pool text, amount numeric, kind text DEFAULT 'purchased',
                              expires_at timestamptz DEFAULT NULL, member text DEFAULT NULL,
                              effective_at timestamptz DEFAULT now(), priority integer DEFAULT NULL,
                              external_ref text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_amount bigint;
	v_rank integer;
	v_id bigint;
	v_unspent numeric;
BEGIN
	PERFORM credits._require('pool', pool, 'amount', amount, 'kind', kind, 'effective_at', effective_at);
	v_amount := credits._amount(amount, 'amount', false);
	-- the kind is checked even when an explicit priority replaces its rank
	v_rank := credits._kind_rank(kind);
	IF priority IS NOT NULL THEN
		v_rank := priority;
	END IF;
	IF NOT isfinite(effective_at) OR (expires_at IS NOT NULL AND NOT isfinite(expires_at)) THEN
		RAISE EXCEPTION 'a grant''s effective_at and expires_at must be finite'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('effective_at %s, expires_at %s.', effective_at, coalesce(expires_at::text, 'NULL')),
			      HINT = 'Pass expires_at => NULL for credits that never expire.';
	END IF;
	IF expires_at IS NOT NULL AND expires_at <= effective_at THEN
		RAISE EXCEPTION 'a grant must expire after it takes effect'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('effective_at %s, expires_at %s.', effective_at, expires_at);
	END IF;
	v_pool := credits._lock_pool(pool);
	IF kind = 'purchased' AND v_pool.topup_increment IS NOT NULL AND v_amount % v_pool.topup_increment <> 0 THEN
		RAISE EXCEPTION 'purchased amount % is not a multiple of the pool''s top-up increment', amount
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('amount %s, topup_increment %s.', amount, credits._to_credits(v_pool.topup_increment)),
			      HINT = 'Buy credits in multiples of the top-up increment.';
	END IF;
	-- Balances are summed in int64 micro-credits: a pool's unspent credits
	-- stay below 9 * 10^12 so that no sum of them can overflow.
	SELECT coalesce(sum(g.remaining + g.held), 0) INTO v_unspent
	  FROM credits.grants g
	 WHERE g.pool_id = v_pool.pool_id AND g.voided_at IS NULL AND g.expired_at IS NULL;
	IF v_unspent + v_amount > 9000000000000000000 THEN
		RAISE EXCEPTION 'grant of % would take pool "%" above 9000000000000 unspent credits', amount, pool
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('amount %s, unspent %s.', amount, credits._to_credits(v_unspent)),
			      HINT = 'Void what will not be used, or keep the credits in another pool.';
	END IF;
	IF member IS NOT NULL THEN
		PERFORM credits._enroll(v_pool.pool_id, member);
	END IF;
	INSERT INTO credits.grants (pool_id, kind, priority, rank, member, amount, remaining,
	                            effective_at, expires_at, external_ref, metadata)
	VALUES (v_pool.pool_id, kind, priority, v_rank, member, v_amount, v_amount,
	        effective_at, expires_at, external_ref, metadata)
	RETURNING grant_id INTO v_id;
	INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, metadata)
	VALUES (v_pool.pool_id, 'grant', member, v_id, v_amount, metadata);
	RETURN v_id;
END
$$;

CREATE FUNCTION credits.void_grant(grant_id bigint, reason text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
	g credits.grants;
BEGIN
	PERFORM credits._require('grant_id', grant_id);
	SELECT pool_id INTO v_pool_id FROM credits.grants WHERE grants.grant_id = void_grant.grant_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'grant % not found', grant_id USING ERRCODE = 'CR010';
	END IF;
	PERFORM credits._lock_pool_id(v_pool_id);
	SELECT * INTO g FROM credits.grants WHERE pool_id = v_pool_id AND grants.grant_id = void_grant.grant_id;
	IF g.voided_at IS NOT NULL THEN
		RETURN 0;
	END IF;
	UPDATE credits.grants SET remaining = 0, voided_at = now(), void_reason = reason
	 WHERE pool_id = v_pool_id AND grants.grant_id = void_grant.grant_id;
	INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, reason)
	VALUES (v_pool_id, 'void', g.member, g.grant_id, -g.remaining, reason);
	RETURN credits._to_credits(g.remaining);
END
$$;

-------------------------------------------------------------------------------
-- Charges and balances (C++: src/pg/charge.cpp)
-------------------------------------------------------------------------------
CREATE TYPE credits.charge_result AS (
	charge_id bigint,
	status text,
	charged numeric,
	balance numeric,
	member_used numeric,
	replayed boolean
);

CREATE FUNCTION credits.charge(pool text, member text, amount numeric, feature text DEFAULT NULL,
                               idempotency_key text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS credits.charge_result AS 'MODULE_PATHNAME', 'credits_charge'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.try_charge(pool text, member text, amount numeric, feature text DEFAULT NULL,
                                   idempotency_key text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS credits.charge_result AS 'MODULE_PATHNAME', 'credits_try_charge'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.balance(pool text, member text DEFAULT NULL)
RETURNS numeric AS 'MODULE_PATHNAME', 'credits_balance'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-------------------------------------------------------------------------------
-- Views
-------------------------------------------------------------------------------
CREATE VIEW credits.grant_balances AS
SELECT g.grant_id,
       p.pool,
       g.member,
       g.kind,
       credits._to_credits(g.amount) AS amount,
       credits._to_credits(g.remaining) AS remaining,
       credits._to_credits(g.held) AS held,
       g.effective_at,
       g.expires_at,
       CASE
           WHEN g.voided_at IS NOT NULL THEN 'voided'
           WHEN g.expired_at IS NOT NULL OR g.expires_at <= now() THEN 'expired'
           WHEN g.effective_at > now() THEN 'scheduled'
           WHEN g.remaining = 0 AND g.held = 0 THEN 'exhausted'
           ELSE 'active'
       END AS status,
       coalesce(g.priority, g.rank) AS priority,
       g.external_ref,
       g.metadata,
       g.created_at
  FROM credits.grants g
  JOIN credits.pools p USING (pool_id);

CREATE VIEW credits.pool_balances AS
SELECT p.pool,
       p.name,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.live), 0)) AS available,
       credits._to_credits(coalesce(sum(g.held), 0)) AS held,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.live AND g.kind = 'free'), 0)) AS free_remaining,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.live AND g.kind = 'promo'), 0)) AS promo_remaining,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.live AND g.kind = 'plan'), 0)) AS plan_remaining,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.live AND g.kind = 'purchased'), 0)) AS purchased_remaining,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.live AND g.expires_at <= now() + interval '30 days'), 0)) AS expiring_30d,
       min(g.expires_at) FILTER (WHERE g.live AND g.remaining > 0) AS next_expiry_at,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.scheduled), 0)) AS scheduled
  FROM credits.pools p
  LEFT JOIN LATERAL (
      SELECT gr.*,
             (gr.voided_at IS NULL AND gr.expired_at IS NULL AND gr.effective_at <= now()
              AND (gr.expires_at IS NULL OR gr.expires_at > now())) AS live,
             (gr.voided_at IS NULL AND gr.expired_at IS NULL AND gr.effective_at > now()) AS scheduled
        FROM credits.grants gr
       WHERE gr.pool_id = p.pool_id AND (gr.remaining > 0 OR gr.held > 0)
  ) g ON true
 GROUP BY p.pool_id, p.pool, p.name;

CREATE VIEW credits.member_usage AS
SELECT p.pool,
       m.member,
       credits._to_credits(CASE WHEN m.period_start = credits._period_start(m.period, now()) THEN m.used ELSE 0 END) AS used,
       credits._to_credits(m.held) AS held,
       credits._to_credits(m.credit_limit) AS credit_limit,
       CASE
           WHEN m.credit_limit IS NULL THEN NULL
           WHEN m.credit_limit = 0 THEN CASE WHEN u.used + m.held > 0 THEN 100.00 ELSE 0.00 END
           ELSE round((u.used + m.held)::numeric * 100 / m.credit_limit, 2)
       END AS percent_used,
       credits._to_credits(CASE WHEN m.credit_limit IS NULL THEN NULL
                               ELSE greatest(m.credit_limit - u.used - m.held, 0) END) AS remaining_limit,
       m.period,
       CASE WHEN m.revoked THEN 'revoked' ELSE 'active' END AS access
  FROM credits.members m
  JOIN credits.pools p USING (pool_id)
  CROSS JOIN LATERAL (
      SELECT CASE WHEN m.period_start = credits._period_start(m.period, now()) THEN m.used ELSE 0 END AS used
  ) u;

CREATE VIEW credits.transaction_log AS
SELECT h.at,
       p.pool,
       h.member,
       h.feature,
       credits._to_credits(h.requested) AS credits,
       -- in deduction order: a charge writes its parts in the order it takes them
       ARRAY(SELECT g.kind
               FROM credits.ledger x
               JOIN credits.grants g ON g.pool_id = x.pool_id AND g.grant_id = x.grant_id
              WHERE x.pool_id = h.pool_id AND x.charge_id = h.entry_id
                AND x.entry_type = h.entry_type AND x.grant_id IS NOT NULL
              GROUP BY g.kind
              ORDER BY min(x.entry_id)) AS credit_kinds,
       h.status,
       h.reason,
       h.entry_id AS charge_id,
       h.idempotency_key,
       h.metadata,
       h.entry_type AS operation,
       h.actor
  FROM credits.ledger h
  JOIN credits.pools p USING (pool_id)
 WHERE h.status IS NOT NULL;

-- The ledger as readers see it: pool keys and amounts in credits.
CREATE VIEW credits.ledger_entries AS
SELECT l.entry_id,
       l.at,
       l.actor,
       l.entry_type,
       p.pool,
       l.member,
       l.grant_id,
       credits._to_credits(l.amount) AS amount,
       credits._to_credits(l.held) AS held,
       l.charge_id,
       l.hold_id,
       l.status,
       l.reason,
       l.feature,
       l.idempotency_key,
       l.metadata
  FROM credits.ledger l
  JOIN credits.pools p USING (pool_id);

-------------------------------------------------------------------------------
-- verify(): every broken invariant, empty when all hold.
-------------------------------------------------------------------------------
CREATE FUNCTION credits.verify()
RETURNS TABLE (problem text, object text, detail text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	WITH sums AS (
		SELECT l.pool_id, l.grant_id, sum(l.amount) AS amount, sum(l.held) AS held
		  FROM credits.ledger l
		 WHERE l.grant_id IS NOT NULL
		 GROUP BY l.pool_id, l.grant_id
	)
	SELECT 'balance differs from ledger', 'grant ' || g.grant_id,
	       format('remaining %s, held %s; the ledger sums to %s and %s',
	              credits._to_credits(g.remaining), credits._to_credits(g.held),
	              credits._to_credits(coalesce(s.amount, 0)), credits._to_credits(coalesce(s.held, 0)))
	  FROM credits.grants g
	  LEFT JOIN sums s ON s.pool_id = g.pool_id AND s.grant_id = g.grant_id
	 WHERE g.remaining IS DISTINCT FROM coalesce(s.amount, 0)::bigint
	    OR g.held IS DISTINCT FROM coalesce(s.held, 0)::bigint
	UNION ALL
	SELECT 'ledger entry for unknown grant', 'grant ' || s.grant_id,
	       format('the ledger moves %s credits', credits._to_credits(s.amount))
	  FROM sums s
	 WHERE NOT EXISTS (SELECT FROM credits.grants g WHERE g.pool_id = s.pool_id AND g.grant_id = s.grant_id)
	UNION ALL
	SELECT 'negative remaining', 'grant ' || g.grant_id,
	       format('remaining %s, held %s', credits._to_credits(g.remaining), credits._to_credits(g.held))
	  FROM credits.grants g
	 WHERE g.remaining < 0 OR g.held < 0
	UNION ALL
	SELECT 'grant holds more than it was granted', 'grant ' || g.grant_id,
	       format('amount %s, remaining %s, held %s', credits._to_credits(g.amount),
	              credits._to_credits(g.remaining), credits._to_credits(g.held))
	  FROM credits.grants g
	 WHERE g.remaining + g.held > g.amount
	UNION ALL
	SELECT 'hold mismatch', 'member ' || p.pool || '/' || m.member,
	       format('member held %s, its grants'' held entries sum to %s', credits._to_credits(m.held),
	              credits._to_credits(coalesce(h.held, 0)))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	  LEFT JOIN (SELECT l.pool_id, l.member, sum(l.held) AS held
	               FROM credits.ledger l
	              WHERE l.entry_type IN ('hold', 'capture', 'release')
	              GROUP BY l.pool_id, l.member) h ON h.pool_id = m.pool_id AND h.member = m.member
	 WHERE m.held <> coalesce(h.held, 0)
	UNION ALL
	SELECT 'usage past a limit', 'member ' || p.pool || '/' || m.member,
	       format('used %s, held %s, limit %s', credits._to_credits(m.used), credits._to_credits(m.held),
	              credits._to_credits(m.credit_limit))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	 WHERE m.credit_limit IS NOT NULL
	   AND m.used + m.held > m.credit_limit
	   -- an owner may lower a limit below what was already used this period
	   AND NOT (m.limit_set_at IS NOT NULL AND m.limit_set_at >= m.period_start)
	UNION ALL
	SELECT 'usage differs from ledger', 'member ' || p.pool || '/' || m.member,
	       format('used %s this period, the ledger shows %s', credits._to_credits(m.used),
	              credits._to_credits(credits._usage_since(m.pool_id, m.member, m.period_start)))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	 WHERE m.used <> credits._usage_since(m.pool_id, m.member, m.period_start);
END;

-------------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; each role gets exactly its functions.
-------------------------------------------------------------------------------
REVOKE ALL ON ALL TABLES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON TYPE credits.charge_result FROM PUBLIC;
GRANT USAGE ON TYPE credits.charge_result TO credits_app, credits_reader;

GRANT EXECUTE ON FUNCTION
	credits.charge(text, text, numeric, text, text, jsonb),
	credits.try_charge(text, text, numeric, text, text, jsonb),
	credits.balance(text, text)
TO credits_app;

GRANT EXECUTE ON FUNCTION credits.balance(text, text) TO credits_reader;
-- Views call these as the querying role.
GRANT EXECUTE ON FUNCTION credits._to_credits(bigint), credits._to_credits(numeric),
	credits._period_start(text, timestamptz)
TO credits_reader;

GRANT EXECUTE ON FUNCTION
	credits.create_pool(text, text, jsonb),
	credits.set_member_limit(text, text, numeric, text),
	credits.set_member_limits(text, text[], numeric, text, text),
	credits.remove_member_limit(text, text),
	credits.revoke_access(text, text),
	credits.restore_access(text, text),
	credits.grant(text, numeric, text, timestamptz, text, timestamptz, integer, text, jsonb),
	credits.void_grant(bigint, text),
	credits.verify()
TO credits_owner;

GRANT SELECT ON credits.pool_balances, credits.grant_balances, credits.member_usage, credits.transaction_log,
	credits.ledger_entries
TO credits_reader;
