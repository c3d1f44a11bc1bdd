-- credits.reserve + credits.capture written by hand in PL/pgSQL, in schema
-- bench_holds_plpgsql: what a team would write instead of the extension, for
-- bench/holds.sh. Same tables and columns as credits 0.2 (pools, members,
-- grants, ledger, holds, hold_parts; triggers, foreign keys to tables the
-- path never writes and privileges left out), same semantics:
--   reserve: the pool row is locked first (UPDATE ... version + 1, which also
--     lowers next_hold_expiry to the new hold's TTL in the same write); the
--     pool's overdue holds lapse first; an unknown member is enrolled; access
--     and the member's limit (used + held + amount) are checked; the usable
--     grants are taken in FIFO order (rank, expires_at never last,
--     effective_at, grant_id) into hold parts (grant remaining -> held); the
--     member's held grows; the ledger gets a head row and one row per part.
--   capture(hold_id, amount): locks the pool, takes the parts in order up to
--     the amount (capture rows), gives the rest back to its grants (release
--     rows; a part whose grant died meanwhile expires or is voided), settles
--     the hold, moves the member's held into used, and writes the head row
--     with the pool's balance after.
-- Idempotency keys and frequency caps are left out (bench/plpgsql_charge.sql
-- shows them; the benchmark passes no key and sets no cap).
-- psql -v ON_ERROR_STOP=1 -f bench/holds_plpgsql.sql
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench_holds_plpgsql CASCADE;
CREATE SCHEMA bench_holds_plpgsql;
SET search_path = bench_holds_plpgsql;

CREATE TABLE pools (
	pool_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	pool text NOT NULL UNIQUE,
	name text,
	settings jsonb NOT NULL DEFAULT '{}',
	topup_increment bigint CHECK (topup_increment > 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	version bigint NOT NULL DEFAULT 0,
	next_hold_expiry timestamptz,
	has_caps boolean NOT NULL DEFAULT false,
	has_alerts boolean NOT NULL DEFAULT false
);
CREATE TABLE members (
	pool_id bigint NOT NULL REFERENCES pools,
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
CREATE SEQUENCE grant_id_seq;
CREATE TABLE grants (
	pool_id bigint NOT NULL REFERENCES pools,
	grant_id bigint NOT NULL DEFAULT nextval('grant_id_seq'),
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
	subscription_id bigint,
	period_index integer,
	PRIMARY KEY (pool_id, grant_id),
	CHECK (expires_at IS NULL OR expires_at > effective_at)
);
CREATE UNIQUE INDEX ON grants (grant_id);
CREATE INDEX ON grants (expires_at) WHERE expired_at IS NULL AND voided_at IS NULL AND expires_at IS NOT NULL;
CREATE SEQUENCE ledger_entry_id_seq;
CREATE TABLE ledger (
	entry_id bigint NOT NULL DEFAULT nextval('ledger_entry_id_seq'),
	pool_id bigint NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	actor name NOT NULL DEFAULT current_user,
	entry_type text NOT NULL
		CHECK (entry_type IN ('grant', 'charge', 'hold', 'capture', 'release', 'refund', 'expire', 'void', 'adjust')),
	member text,
	grant_id bigint,
	amount bigint NOT NULL DEFAULT 0,
	held bigint NOT NULL DEFAULT 0,
	charge_id bigint,
	hold_id bigint,
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
CREATE INDEX ON ledger (pool_id, member, feature, at) WHERE status = 'succeeded' AND feature IS NOT NULL;
CREATE INDEX ON ledger (charge_id) WHERE charge_id IS NOT NULL;
CREATE INDEX ON ledger (hold_id) WHERE hold_id IS NOT NULL;
CREATE UNIQUE INDEX ON ledger (pool_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL AND status = 'succeeded' AND entry_type = 'charge';
CREATE TABLE holds (
	pool_id bigint NOT NULL REFERENCES pools,
	hold_id bigint NOT NULL,
	member text NOT NULL,
	feature text,
	amount bigint NOT NULL CHECK (amount >= 0),
	captured bigint NOT NULL DEFAULT 0 CHECK (captured >= 0 AND captured <= amount),
	status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'captured', 'released', 'lapsed')),
	idempotency_key text,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	settled_at timestamptz,
	metadata jsonb,
	PRIMARY KEY (pool_id, hold_id)
);
CREATE UNIQUE INDEX ON holds (hold_id);
CREATE UNIQUE INDEX ON holds (pool_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX ON holds (pool_id, expires_at) WHERE status = 'pending';
CREATE TABLE hold_parts (
	pool_id bigint NOT NULL,
	hold_id bigint NOT NULL,
	part integer NOT NULL,
	grant_id bigint NOT NULL,
	held bigint NOT NULL CHECK (held >= 0),
	PRIMARY KEY (pool_id, hold_id, part),
	FOREIGN KEY (pool_id, hold_id) REFERENCES holds
);
RESET search_path;

CREATE TYPE bench_holds_plpgsql.charge_result AS (
	charge_id bigint, status text, charged numeric, balance numeric, member_used numeric, replayed boolean);

CREATE FUNCTION bench_holds_plpgsql.period_start(p_period text, p_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE p_period
           WHEN 'month' THEN date_trunc('month', p_at, 'UTC')
           WHEN 'week' THEN date_trunc('week', p_at, 'UTC')
           WHEN 'day' THEN date_trunc('day', p_at, 'UTC')
           ELSE '-infinity'::timestamptz
       END;

-- Settles a pending hold (pool locked by the caller): the first p_keep
-- micros of its parts, in order, are captured, the rest goes back.
CREATE FUNCTION bench_holds_plpgsql.settle(p_pool_id bigint, p_hold_id bigint, p_keep bigint,
                                           p_capture_id bigint, p_status text, p_reason text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	h bench_holds_plpgsql.holds;
	part record;
	v_now timestamptz := now();
	v_left bigint := p_keep;
	v_take bigint;
	v_back bigint;
BEGIN
	SELECT * INTO STRICT h FROM bench_holds_plpgsql.holds WHERE pool_id = p_pool_id AND hold_id = p_hold_id;
	FOR part IN
		SELECT hp.part, hp.grant_id, hp.held, g.member AS grant_member,
		       (g.voided_at IS NOT NULL) AS voided,
		       (g.expired_at IS NOT NULL OR (g.expires_at IS NOT NULL AND g.expires_at <= v_now)) AS expired
		  FROM bench_holds_plpgsql.hold_parts hp
		  JOIN bench_holds_plpgsql.grants g ON g.pool_id = hp.pool_id AND g.grant_id = hp.grant_id
		 WHERE hp.pool_id = p_pool_id AND hp.hold_id = p_hold_id AND hp.held > 0
		 ORDER BY hp.part
	LOOP
		v_take := least(part.held, v_left);
		v_back := part.held - v_take;
		v_left := v_left - v_take;
		-- one write per grant: the held part leaves, what is not taken returns
		-- (or goes with the grant when it died while held)
		UPDATE bench_holds_plpgsql.grants
		   SET held = held - part.held,
		       remaining = remaining + CASE WHEN part.voided OR part.expired THEN 0 ELSE v_back END
		 WHERE pool_id = p_pool_id AND grant_id = part.grant_id;
		IF v_take > 0 THEN
			INSERT INTO bench_holds_plpgsql.ledger (pool_id, entry_type, member, grant_id, held, charge_id, hold_id, feature)
			VALUES (p_pool_id, 'capture', h.member, part.grant_id, -v_take, p_capture_id, p_hold_id, h.feature);
		END IF;
		IF v_back > 0 THEN
			INSERT INTO bench_holds_plpgsql.ledger (pool_id, entry_type, member, grant_id, amount, held, hold_id, reason)
			VALUES (p_pool_id, 'release', h.member, part.grant_id, v_back, -v_back, p_hold_id, p_reason);
			IF part.voided OR part.expired THEN
				INSERT INTO bench_holds_plpgsql.ledger (pool_id, entry_type, member, grant_id, amount, hold_id, reason)
				VALUES (p_pool_id, CASE WHEN part.voided THEN 'void' ELSE 'expire' END, h.member, part.grant_id,
				        -v_back, p_hold_id, 'grant died while held');
			END IF;
		END IF;
	END LOOP;
	UPDATE bench_holds_plpgsql.hold_parts SET held = 0 WHERE pool_id = p_pool_id AND hold_id = p_hold_id AND held > 0;
	UPDATE bench_holds_plpgsql.holds SET status = p_status, captured = p_keep, settled_at = v_now
	 WHERE pool_id = p_pool_id AND hold_id = p_hold_id;
	UPDATE bench_holds_plpgsql.members
	   SET held = held - h.amount,
	       used = CASE WHEN period_start = bench_holds_plpgsql.period_start(period, v_now) THEN used ELSE 0 END + p_keep,
	       period_start = bench_holds_plpgsql.period_start(period, v_now)
	 WHERE pool_id = p_pool_id AND member = h.member;
END
$$;

-- Lapses the pool's overdue holds (pool locked by the caller).
CREATE FUNCTION bench_holds_plpgsql.lapse_holds(p_pool_id bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	v_hold bigint;
BEGIN
	FOR v_hold IN SELECT hold_id FROM bench_holds_plpgsql.holds
	               WHERE pool_id = p_pool_id AND status = 'pending' AND expires_at <= now() ORDER BY hold_id LOOP
		PERFORM bench_holds_plpgsql.settle(p_pool_id, v_hold, 0, NULL, 'lapsed', 'hold lapsed');
	END LOOP;
	UPDATE bench_holds_plpgsql.pools
	   SET next_hold_expiry = (SELECT min(expires_at) FROM bench_holds_plpgsql.holds
	                            WHERE pool_id = p_pool_id AND status = 'pending')
	 WHERE pool_id = p_pool_id;
END
$$;

CREATE FUNCTION bench_holds_plpgsql.reserve(p_pool text, p_member text, p_amount numeric,
                                            p_ttl interval DEFAULT '15 minutes', p_feature text DEFAULT NULL,
                                            p_metadata jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
	v_now timestamptz := now();
	v_expires timestamptz;
	v_amount bigint;
	v_pool_id bigint;
	v_next timestamptz;
	v_hold_id bigint;
	m bench_holds_plpgsql.members;
	g record;
	v_period_start timestamptz;
	v_used bigint;
	v_left bigint;
	v_take bigint;
	v_part integer := 0;
	v_pool_total bigint := 0;
	v_grant_ids bigint[] := '{}';
	v_takes bigint[] := '{}';
BEGIN
	IF p_pool IS NULL OR p_member IS NULL OR p_amount IS NULL OR p_ttl IS NULL THEN
		RAISE EXCEPTION 'pool, member, amount and ttl must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF p_amount < 0 OR p_amount IN ('NaN', 'Infinity') OR p_amount <> round(p_amount, 6) THEN
		RAISE EXCEPTION 'invalid amount: %', p_amount USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF p_ttl <= interval '0' THEN
		RAISE EXCEPTION 'invalid ttl: %', p_ttl USING ERRCODE = 'invalid_parameter_value';
	END IF;
	v_amount := (p_amount * 1000000)::bigint;
	v_expires := v_now + p_ttl;

	-- The pool row first; the new hold's TTL goes in with the same write. The
	-- new value is <= now exactly when the old one was (v_expires > now).
	UPDATE bench_holds_plpgsql.pools
	   SET version = version + 1, next_hold_expiry = least(next_hold_expiry, v_expires)
	 WHERE pool = p_pool
	RETURNING pool_id, next_hold_expiry INTO v_pool_id, v_next;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown pool "%"', p_pool USING ERRCODE = 'CR004';
	END IF;
	IF v_next <= v_now THEN
		PERFORM bench_holds_plpgsql.lapse_holds(v_pool_id);
		UPDATE bench_holds_plpgsql.pools SET next_hold_expiry = least(next_hold_expiry, v_expires)
		 WHERE pool_id = v_pool_id;
	END IF;

	SELECT * INTO m FROM bench_holds_plpgsql.members WHERE pool_id = v_pool_id AND member = p_member;
	IF NOT FOUND THEN
		INSERT INTO bench_holds_plpgsql.members (pool_id, member, period_start)
		VALUES (v_pool_id, p_member, bench_holds_plpgsql.period_start('month', v_now))
		RETURNING * INTO m;
	END IF;
	v_period_start := bench_holds_plpgsql.period_start(m.period, v_now);
	v_used := CASE WHEN m.period_start = v_period_start THEN m.used ELSE 0 END;
	IF v_amount > 0 THEN
		IF m.revoked THEN
			RAISE EXCEPTION 'access revoked for member "%" of pool "%"', p_member, p_pool USING ERRCODE = 'CR003';
		END IF;
		IF m.credit_limit IS NOT NULL AND v_used + m.held + v_amount > m.credit_limit THEN
			RAISE EXCEPTION 'credit limit exceeded for member "%" of pool "%"', p_member, p_pool USING ERRCODE = 'CR002';
		END IF;
	END IF;

	-- FIFO over the live grants into hold parts.
	v_left := v_amount;
	FOR g IN
		SELECT gr.grant_id, gr.remaining, (gr.member IS NULL OR gr.member = p_member) AS usable,
		       sum(gr.remaining) OVER () AS pool_total
		  FROM bench_holds_plpgsql.grants gr
		 WHERE gr.pool_id = v_pool_id AND gr.remaining > 0 AND gr.voided_at IS NULL AND gr.expired_at IS NULL
		   AND gr.effective_at <= v_now AND (gr.expires_at IS NULL OR gr.expires_at > v_now)
		 ORDER BY gr.rank, gr.expires_at, gr.effective_at, gr.grant_id
	LOOP
		v_pool_total := g.pool_total;
		EXIT WHEN v_left = 0;
		CONTINUE WHEN NOT g.usable;
		v_take := least(v_left, g.remaining);
		UPDATE bench_holds_plpgsql.grants SET remaining = remaining - v_take, held = held + v_take
		 WHERE pool_id = v_pool_id AND grant_id = g.grant_id;
		v_grant_ids := v_grant_ids || g.grant_id;
		v_takes := v_takes || v_take;
		v_left := v_left - v_take;
	END LOOP;
	IF v_left > 0 THEN
		RAISE EXCEPTION 'insufficient credits in pool "%" for member "%"', p_pool, p_member USING ERRCODE = 'CR001';
	END IF;

	v_hold_id := nextval('bench_holds_plpgsql.ledger_entry_id_seq');
	INSERT INTO bench_holds_plpgsql.holds (pool_id, hold_id, member, feature, amount, expires_at, metadata)
	VALUES (v_pool_id, v_hold_id, p_member, p_feature, v_amount, v_expires, p_metadata);
	INSERT INTO bench_holds_plpgsql.hold_parts (pool_id, hold_id, part, grant_id, held)
	SELECT v_pool_id, v_hold_id, u.n, u.grant_id, u.take
	  FROM unnest(v_grant_ids, v_takes) WITH ORDINALITY AS u(grant_id, take, n);
	UPDATE bench_holds_plpgsql.members SET held = held + v_amount, used = v_used, period_start = v_period_start
	 WHERE pool_id = v_pool_id AND member = p_member;
	INSERT INTO bench_holds_plpgsql.ledger (entry_id, pool_id, entry_type, member, hold_id, status, feature,
	                                        requested, balance_after, member_used_after, metadata)
	VALUES (v_hold_id, v_pool_id, 'hold', p_member, v_hold_id, 'succeeded', p_feature,
	        v_amount, v_pool_total - v_amount, v_used, p_metadata);
	INSERT INTO bench_holds_plpgsql.ledger (pool_id, entry_type, member, grant_id, amount, held, hold_id, charge_id, feature)
	SELECT v_pool_id, 'hold', p_member, u.grant_id, -u.take, u.take, v_hold_id, v_hold_id, p_feature
	  FROM unnest(v_grant_ids, v_takes) AS u(grant_id, take);
	RETURN v_hold_id;
END
$$;

CREATE FUNCTION bench_holds_plpgsql.capture(p_hold_id bigint, p_amount numeric DEFAULT NULL,
                                            p_metadata jsonb DEFAULT NULL)
RETURNS bench_holds_plpgsql.charge_result
LANGUAGE plpgsql
AS $$
DECLARE
	v_now timestamptz := now();
	v_pool_id bigint;
	v_next timestamptz;
	h bench_holds_plpgsql.holds;
	v_amount bigint;
	v_id bigint;
	v_used bigint;
	v_balance bigint;
BEGIN
	IF p_hold_id IS NULL THEN
		RAISE EXCEPTION 'hold_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF p_amount < 0 OR p_amount IN ('NaN', 'Infinity') OR p_amount <> round(p_amount, 6) THEN
		RAISE EXCEPTION 'invalid amount: %', p_amount USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT pool_id INTO v_pool_id FROM bench_holds_plpgsql.holds WHERE hold_id = p_hold_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'hold % not found', p_hold_id USING ERRCODE = 'CR010';
	END IF;
	UPDATE bench_holds_plpgsql.pools SET version = version + 1 WHERE pool_id = v_pool_id
	RETURNING next_hold_expiry INTO v_next;
	IF v_next <= v_now THEN
		PERFORM bench_holds_plpgsql.lapse_holds(v_pool_id);
	END IF;
	SELECT * INTO STRICT h FROM bench_holds_plpgsql.holds WHERE pool_id = v_pool_id AND hold_id = p_hold_id;
	IF h.status <> 'pending' THEN
		RAISE EXCEPTION 'hold % is not pending: it was %', p_hold_id, h.status USING ERRCODE = 'CR006';
	END IF;
	v_amount := coalesce((p_amount * 1000000)::bigint, h.amount);
	IF v_amount > h.amount THEN
		RAISE EXCEPTION 'cannot capture % credits: hold % holds less', p_amount, p_hold_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	v_id := nextval('bench_holds_plpgsql.ledger_entry_id_seq');
	PERFORM bench_holds_plpgsql.settle(v_pool_id, p_hold_id, v_amount, v_id, 'captured', 'rest of hold released');
	SELECT m.used INTO v_used FROM bench_holds_plpgsql.members m WHERE m.pool_id = v_pool_id AND m.member = h.member;
	SELECT coalesce(sum(g.remaining), 0) INTO v_balance
	  FROM bench_holds_plpgsql.grants g
	 WHERE g.pool_id = v_pool_id AND g.remaining > 0 AND g.voided_at IS NULL AND g.expired_at IS NULL
	   AND g.effective_at <= v_now AND (g.expires_at IS NULL OR g.expires_at > v_now);
	INSERT INTO bench_holds_plpgsql.ledger (entry_id, pool_id, entry_type, member, charge_id, hold_id, status, feature,
	                                        requested, balance_after, member_used_after, metadata)
	VALUES (v_id, v_pool_id, 'capture', h.member, v_id, p_hold_id, 'succeeded', h.feature,
	        v_amount, v_balance, v_used, coalesce(p_metadata, h.metadata));
	RETURN ROW(v_id, 'succeeded', trim_scale(v_amount / 1000000.0), trim_scale(v_balance / 1000000.0),
	           trim_scale(v_used / 1000000.0), false)::bench_holds_plpgsql.charge_result;
END
$$;
