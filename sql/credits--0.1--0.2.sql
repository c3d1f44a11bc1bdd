-- credits 0.1 -> 0.2: holds, refunds, rate cards and frequency caps.
\echo Use "ALTER EXTENSION credits UPDATE TO '0.2'" to load this file. \quit

-------------------------------------------------------------------------------
-- Tables
-------------------------------------------------------------------------------
-- The earliest TTL among the pool's pending holds (may be early, never
-- late): every write to the pool lapses overdue holds when it has passed.
ALTER TABLE credits.pools ADD COLUMN next_hold_expiry timestamptz;
-- Whether any frequency cap is set for the pool (the charge path looks caps
-- up only then).
ALTER TABLE credits.pools ADD COLUMN has_caps boolean NOT NULL DEFAULT false;

CREATE TABLE credits.holds (
	pool_id bigint NOT NULL REFERENCES credits.pools,
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
CREATE UNIQUE INDEX holds_hold_id_idx ON credits.holds (hold_id);
CREATE UNIQUE INDEX holds_idempotency_idx ON credits.holds (pool_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL;
CREATE INDEX holds_pending_idx ON credits.holds (pool_id, expires_at) WHERE status = 'pending';

-- What a pending hold still holds of each grant, in allocation order.
CREATE TABLE credits.hold_parts (
	pool_id bigint NOT NULL,
	hold_id bigint NOT NULL,
	part integer NOT NULL,
	grant_id bigint NOT NULL,
	held bigint NOT NULL CHECK (held >= 0),
	PRIMARY KEY (pool_id, hold_id, part),
	FOREIGN KEY (pool_id, hold_id) REFERENCES credits.holds
);

-- The global rate card, with its history.
CREATE TABLE credits.rates (
	feature text NOT NULL,
	effective_from timestamptz NOT NULL,
	credits_per_unit numeric NOT NULL CHECK (credits_per_unit >= 0),
	unit text NOT NULL,
	set_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (feature, effective_from)
);

CREATE TABLE credits.frequency_caps (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	feature text NOT NULL,
	max_calls integer NOT NULL CHECK (max_calls >= 0),
	per interval NOT NULL CHECK (per > interval '0' AND per <= interval '100 years'),
	PRIMARY KEY (pool_id, feature)
);

-- A member's calls of a feature: successful charges and holds.
CREATE INDEX ledger_calls_idx ON credits.ledger (pool_id, member, feature, at)
	WHERE status = 'succeeded' AND feature IS NOT NULL;
CREATE INDEX ledger_hold_id_idx ON credits.ledger (hold_id) WHERE hold_id IS NOT NULL;
-- Reports (monthly_summary, statement) read every flow of one pool. A shared
-- ledger interleaves pools, so one pool's entries lie one to a heap page:
-- the primary key carries what the reports read, and they read a pool's
-- flows from a few adjacent index pages (an index-only scan; autovacuum
-- keeps an append-only ledger's visibility map set).
ALTER TABLE credits.ledger DROP CONSTRAINT ledger_pkey,
	ADD CONSTRAINT ledger_pkey PRIMARY KEY (pool_id, entry_id) INCLUDE (at, entry_type, grant_id, amount, held);
-- A hold's head entry carries its key too, but hold keys are the holds
-- table's (holds_idempotency_idx): a hold key never matches a charge key.
DROP INDEX credits.ledger_idempotency_idx;
CREATE UNIQUE INDEX ledger_idempotency_idx ON credits.ledger (pool_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL AND status = 'succeeded' AND entry_type = 'charge';

-- 0.1 left out the pools' identity sequence: after a restore, new pools
-- took ids that restored pools had.
SELECT pg_catalog.pg_extension_config_dump('credits.pools_pool_id_seq', '');
-- The usage guard checks what a change adds to a member's usage. A row is
-- inserted with usage only by pg_restore (the API enrolls members with none),
-- and a restored row may be past a limit lowered since, or revoked: 0.1
-- refused to restore it.
DROP TRIGGER members_usage_guard ON credits.members;
CREATE TRIGGER members_usage_guard BEFORE UPDATE ON credits.members
	FOR EACH ROW EXECUTE FUNCTION credits._member_usage_guard();

SELECT pg_catalog.pg_extension_config_dump('credits.holds', '');
SELECT pg_catalog.pg_extension_config_dump('credits.hold_parts', '');
SELECT pg_catalog.pg_extension_config_dump('credits.rates', '');
SELECT pg_catalog.pg_extension_config_dump('credits.frequency_caps', '');

-------------------------------------------------------------------------------
-- Internal helpers
-------------------------------------------------------------------------------
-- The application's keys (pool, member, feature, plan, idempotency key) are
-- 1 to 1000 bytes of text: 22023 for an empty key (a missing id in the
-- caller) or a longer one (it would not fit an index entry: 54000).
CREATE FUNCTION credits._check_key(what text, key text)
RETURNS void AS 'MODULE_PATHNAME', 'credits_check_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- 0.1 enrolled any member key.
CREATE OR REPLACE FUNCTION credits._enroll(p_pool_id bigint, p_member text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT credits._check_key('member', p_member);
	INSERT INTO credits.members (pool_id, member, period_start)
	VALUES (p_pool_id, p_member, credits._period_start('month', now()))
	ON CONFLICT (pool_id, member) DO NOTHING;
END;

-- 0.1 checked only for an empty key.
CREATE OR REPLACE FUNCTION credits.create_pool(pool text, name text DEFAULT NULL, settings jsonb DEFAULT '{}')
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

-- A grant that can no longer be spent: voided, expired by expire_grants, or
-- past its expires_at.
CREATE FUNCTION credits._grant_dead(g credits.grants, p_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN g.voided_at IS NOT NULL OR g.expired_at IS NOT NULL OR (g.expires_at IS NOT NULL AND g.expires_at <= p_at);

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

-- Locks a pool for a write and lapses its overdue holds first.
CREATE OR REPLACE FUNCTION credits._lock_pool(p_pool text)
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

DROP FUNCTION credits._lock_pool_id(bigint);
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

-- Held credits of pending holds past their TTL, per grant: they count as
-- available at once, before anything lapses them.
CREATE FUNCTION credits._overdue_held(p_pool_id bigint, p_at timestamptz)
RETURNS TABLE (grant_id bigint, member text, held bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT hp.grant_id, h.member, sum(hp.held)::bigint
	  FROM credits.holds h
	  JOIN credits.hold_parts hp ON hp.pool_id = h.pool_id AND hp.hold_id = h.hold_id
	 WHERE h.pool_id = p_pool_id AND h.status = 'pending' AND h.expires_at <= p_at AND hp.held > 0
	 GROUP BY hp.grant_id, h.member;
END;

CREATE FUNCTION credits._in_transaction_block()
RETURNS boolean AS 'MODULE_PATHNAME', 'credits_in_transaction_block'
LANGUAGE C VOLATILE;

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

-------------------------------------------------------------------------------
-- Holds (reserve is C++: src/pg/charge.cpp)
-------------------------------------------------------------------------------
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
	           credits._to_credits(v_used), false)::credits.charge_result;
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
-- each under its pool's lock. Returns false when nothing was left.
CREATE FUNCTION credits._expire_holds_batch(p_as_of timestamptz)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool bigint;
	v_any boolean := false;
BEGIN
	FOR v_pool IN SELECT DISTINCT h.pool_id FROM credits.holds h
	               WHERE h.status = 'pending' AND h.expires_at <= p_as_of
	               ORDER BY h.pool_id LIMIT 100 LOOP
		PERFORM credits._lock_pool_id(v_pool);
		PERFORM credits._lapse_holds(v_pool, p_as_of);
		v_any := true;
	END LOOP;
	RETURN v_any;
END
$$;

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

-- One batch of maintenance job `p_job`; false when nothing was left. (Here,
-- with a pinned search_path: in the procedure below, even `=` would be the
-- caller's.)
CREATE FUNCTION credits._maintenance_batch(p_job text, p_as_of timestamptz)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	CASE p_job
	WHEN 'expire_holds' THEN RETURN credits._expire_holds_batch(p_as_of);
	WHEN 'renew_subscriptions' THEN RETURN credits._renew_batch(p_as_of);
	WHEN 'expire_grants' THEN RETURN credits._expire_batch(p_as_of);
	END CASE;
END
$$;

-- Runs maintenance job `p_job` (expire_holds, renew_subscriptions or
-- expire_grants) as of `p_as_of`: nothing on a standby or while another
-- session runs the same job; otherwise the job's batches until none is left.
-- Called as a top-level CALL it commits after each batch, then takes the
-- job's lock again (it ended with the transaction) or yields to a run that
-- took it meanwhile; inside a transaction block it does all in that one.
-- Procedures that COMMIT may not be SECURITY DEFINER nor SET search_path:
-- this one and the three that call it only call the extension's own
-- SECURITY DEFINER functions, schema-qualified (pg_catalog is searched first
-- for everything else).
CREATE PROCEDURE credits._run_maintenance(p_job text, as_of timestamptz)
LANGUAGE plpgsql
AS $$
DECLARE
	v_commit boolean := NOT credits._in_transaction_block();
BEGIN
	PERFORM credits._require('as_of', as_of);
	IF NOT pg_catalog.isfinite(as_of) THEN
		RAISE EXCEPTION 'invalid as_of: must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT credits._maintenance_lock(p_job) THEN
		RETURN;
	END IF;
	WHILE credits._maintenance_batch(p_job, as_of) LOOP
		IF v_commit THEN
			COMMIT;
			EXIT WHEN NOT credits._maintenance_lock(p_job);
		END IF;
	END LOOP;
END
$$;

-- Lapses every pending hold past its TTL at `as_of`, in batches.
CREATE PROCEDURE credits.expire_holds(as_of timestamptz DEFAULT now())
LANGUAGE plpgsql
AS $$
BEGIN
	CALL credits._run_maintenance('expire_holds', as_of);
END
$$;

-------------------------------------------------------------------------------
-- Refunds
-------------------------------------------------------------------------------
-- What each grant gave to a charge or capture, less what was refunded to
-- it already; entry_id orders the parts as they were consumed.
CREATE FUNCTION credits._refundable_parts(p_pool_id bigint, p_charge_id bigint)
RETURNS TABLE (grant_id bigint, entry_id bigint, refundable bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT l.grant_id, max(l.entry_id) FILTER (WHERE l.entry_type <> 'refund'),
	       sum(CASE WHEN l.entry_type = 'capture' THEN -l.held ELSE -l.amount END)::bigint
	  FROM credits.ledger l
	 WHERE l.pool_id = p_pool_id AND l.charge_id = p_charge_id AND l.grant_id IS NOT NULL
	   AND l.entry_type IN ('charge', 'capture', 'refund')
	 GROUP BY l.grant_id;
END;

-- Gives credits of a succeeded charge or capture back to the grants they
-- came from, the last consumed first. A part whose grant has expired or been
-- voided since is refunded and expires (or is voided) at once.
CREATE FUNCTION credits.refund(charge_id bigint, amount numeric DEFAULT NULL, reason text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	head credits.ledger;
	v_amount bigint;
	v_refundable bigint;
	v_left bigint;
	v_back bigint;
	part record;
	g credits.grants;
	m credits.members;
BEGIN
	PERFORM credits._require('charge_id', charge_id);
	v_amount := credits._amount(amount, 'amount', false);
	SELECT * INTO head FROM credits.ledger l
	 WHERE l.charge_id = refund.charge_id AND l.entry_id = refund.charge_id
	   AND l.entry_type IN ('charge', 'capture') AND l.status = 'succeeded';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'charge % not found', charge_id
			USING ERRCODE = 'CR010', HINT = 'Pass the charge_id of a succeeded charge or capture.';
	END IF;
	PERFORM credits._lock_pool_id(head.pool_id);
	SELECT coalesce(sum(p.refundable), 0) INTO v_refundable FROM credits._refundable_parts(head.pool_id, head.entry_id) p;
	v_amount := coalesce(v_amount, v_refundable);
	IF v_amount > v_refundable THEN
		RAISE EXCEPTION 'cannot refund % credits of charge %: % remain refundable', amount, charge_id,
				credits._to_credits(v_refundable)
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('charged %s, refundable %s.', credits._to_credits(head.requested),
			                      credits._to_credits(v_refundable)),
			      HINT = 'Refund at most what remains refundable.';
	END IF;
	v_left := v_amount;
	FOR part IN SELECT * FROM credits._refundable_parts(head.pool_id, head.entry_id) p
	             WHERE p.refundable > 0 ORDER BY p.entry_id DESC LOOP
		EXIT WHEN v_left = 0;
		v_back := least(v_left, part.refundable);
		v_left := v_left - v_back;
		SELECT * INTO STRICT g FROM credits.grants WHERE pool_id = head.pool_id AND grant_id = part.grant_id;
		UPDATE credits.grants SET remaining = remaining + v_back WHERE pool_id = head.pool_id AND grant_id = part.grant_id;
		INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, charge_id, reason, feature)
		VALUES (head.pool_id, 'refund', head.member, part.grant_id, v_back, head.entry_id, reason, head.feature);
		IF credits._grant_dead(g, now()) THEN
			UPDATE credits.grants SET remaining = remaining - v_back WHERE pool_id = head.pool_id AND grant_id = part.grant_id;
			INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, charge_id, reason)
			VALUES (head.pool_id, CASE WHEN g.voided_at IS NOT NULL THEN 'void' ELSE 'expire' END, head.member,
			        part.grant_id, -v_back, head.entry_id,
			        CASE WHEN g.voided_at IS NOT NULL THEN 'refund to a voided grant' ELSE 'refund to an expired grant' END);
		END IF;
	END LOOP;
	-- the member's usage goes down when the charge counts in its current period
	SELECT * INTO m FROM credits.members WHERE pool_id = head.pool_id AND member = head.member;
	IF FOUND AND m.period_start = credits._period_start(m.period, now()) AND head.at >= m.period_start THEN
		UPDATE credits.members SET used = greatest(used - v_amount, 0)
		 WHERE pool_id = head.pool_id AND member = head.member;
	END IF;
	RETURN credits._to_credits(v_amount);
END
$$;

-------------------------------------------------------------------------------
-- Rates and frequency caps
-------------------------------------------------------------------------------
CREATE FUNCTION credits.set_rate(feature text, credits_per_unit numeric, unit text DEFAULT 'request',
                                 effective_from timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('feature', feature, 'credits_per_unit', credits_per_unit, 'unit', unit,
	                         'effective_from', effective_from);
	PERFORM credits._check_key('feature', feature);
	IF NOT isfinite(effective_from) THEN
		RAISE EXCEPTION 'invalid effective_from: must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF credits_per_unit < 0 OR credits_per_unit = 'NaN' OR credits_per_unit > 1000000000000 THEN
		RAISE EXCEPTION 'invalid credits_per_unit: must be a finite number from 0 to 1000000000000'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('credits_per_unit was %s.', credits_per_unit);
	END IF;
	INSERT INTO credits.rates (feature, effective_from, credits_per_unit, unit)
	VALUES (set_rate.feature, set_rate.effective_from, set_rate.credits_per_unit, set_rate.unit)
	ON CONFLICT ON CONSTRAINT rates_pkey DO UPDATE
	   SET credits_per_unit = excluded.credits_per_unit, unit = excluded.unit, set_at = now();
END
$$;

CREATE FUNCTION credits.charge_usage(pool text, member text, feature text, quantity numeric,
                                     idempotency_key text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS credits.charge_result AS 'MODULE_PATHNAME', 'credits_charge_usage'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- The rates in force now, and those scheduled to take effect later.
CREATE VIEW credits.rate_card AS
SELECT r.feature, r.unit, r.credits_per_unit, r.effective_from,
       lead(r.effective_from) OVER (PARTITION BY r.feature ORDER BY r.effective_from) AS effective_until
  FROM credits.rates r
 WHERE r.effective_from > now()
    OR r.effective_from = (SELECT max(c.effective_from) FROM credits.rates c
                            WHERE c.feature = r.feature AND c.effective_from <= now());

CREATE FUNCTION credits.set_frequency_cap(pool text, feature text, max_calls integer, per interval)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool, 'feature', feature, 'max_calls', max_calls, 'per', per);
	IF max_calls < 0 THEN
		RAISE EXCEPTION 'invalid max_calls: must be 0 or more' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('max_calls was %s.', max_calls);
	END IF;
	PERFORM credits._check_key('feature', feature);
	-- at most 100 years: a charge looks back `per` from now
	IF per <= interval '0' OR per > interval '100 years' THEN
		RAISE EXCEPTION 'invalid per: must be a positive interval of at most 100 years'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('per was %s.', per);
	END IF;
	v_pool := credits._lock_pool(pool);
	INSERT INTO credits.frequency_caps (pool_id, feature, max_calls, per)
	VALUES (v_pool.pool_id, set_frequency_cap.feature, set_frequency_cap.max_calls, set_frequency_cap.per)
	ON CONFLICT ON CONSTRAINT frequency_caps_pkey DO UPDATE SET max_calls = excluded.max_calls, per = excluded.per;
	UPDATE credits.pools SET has_caps = true WHERE pool_id = v_pool.pool_id;
END
$$;

CREATE FUNCTION credits.remove_frequency_cap(pool text, feature text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool, 'feature', feature);
	v_pool := credits._lock_pool(pool);
	DELETE FROM credits.frequency_caps c WHERE c.pool_id = v_pool.pool_id AND c.feature = remove_frequency_cap.feature;
	UPDATE credits.pools
	   SET has_caps = EXISTS (SELECT FROM credits.frequency_caps c WHERE c.pool_id = v_pool.pool_id)
	 WHERE pool_id = v_pool.pool_id;
END
$$;

-------------------------------------------------------------------------------
-- verify(): the 0.1 checks plus holds.
-------------------------------------------------------------------------------
-- 0.1's verify() recomputed each member's usage with _usage_since, one
-- ledger query per member: at a million rows and 40,000 members it ran for
-- tens of minutes. Here every check is one pass (grouped) over its tables.
DROP FUNCTION credits.verify();

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
	-- what _usage_since gives for each member, for all members at once:
	-- charges and captures since the member's period start, less the
	-- refunds of those
	SELECT 'usage differs from ledger', 'member ' || p.pool || '/' || m.member,
	       format('used %s this period, the ledger shows %s', credits._to_credits(m.used),
	              credits._to_credits(coalesce(u.used, 0)::bigint))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	  LEFT JOIN (SELECT x.pool_id, x.member, sum(x.used) AS used
	               FROM (SELECT l.pool_id, l.member, -(l.amount + l.held) AS used
	                       FROM credits.ledger l
	                       JOIN credits.members lm ON lm.pool_id = l.pool_id AND lm.member = l.member
	                      WHERE l.entry_type IN ('charge', 'capture') AND l.at >= lm.period_start
	                     UNION ALL
	                     SELECT r.pool_id, r.member, -r.amount
	                       FROM credits.ledger r
	                       JOIN credits.ledger c ON c.pool_id = r.pool_id AND c.entry_id = r.charge_id
	                       JOIN credits.members rm ON rm.pool_id = r.pool_id AND rm.member = r.member
	                      WHERE r.entry_type = 'refund' AND c.at >= rm.period_start) x
	              GROUP BY x.pool_id, x.member) u
	    ON u.pool_id = m.pool_id AND u.member = m.member
	 WHERE m.used <> coalesce(u.used, 0)
	UNION ALL
	SELECT 'hold mismatch', 'grant ' || g.grant_id,
	       format('grant held %s, its pending hold parts sum to %s', credits._to_credits(g.held),
	              credits._to_credits(coalesce(hp.held, 0)))
	  FROM credits.grants g
	  LEFT JOIN (SELECT p.pool_id, p.grant_id, sum(p.held) AS held
	               FROM credits.hold_parts p GROUP BY p.pool_id, p.grant_id) hp
	    ON hp.pool_id = g.pool_id AND hp.grant_id = g.grant_id
	 WHERE g.held <> coalesce(hp.held, 0)
	UNION ALL
	SELECT 'hold mismatch', 'hold ' || h.hold_id,
	       format('%s hold of %s, its parts hold %s', h.status, credits._to_credits(h.amount),
	              credits._to_credits(coalesce(hp.held, 0)))
	  FROM credits.holds h
	  LEFT JOIN (SELECT p.pool_id, p.hold_id, sum(p.held) AS held
	               FROM credits.hold_parts p GROUP BY p.pool_id, p.hold_id) hp
	    ON hp.pool_id = h.pool_id AND hp.hold_id = h.hold_id
	 WHERE coalesce(hp.held, 0) <> CASE WHEN h.status = 'pending' THEN h.amount ELSE 0 END
	UNION ALL
	SELECT 'hold mismatch', 'member ' || p.pool || '/' || m.member,
	       format('member held %s, its pending holds sum to %s', credits._to_credits(m.held),
	              credits._to_credits(coalesce(h.amount, 0)))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	  LEFT JOIN (SELECT x.pool_id, x.member, sum(x.amount) AS amount
	               FROM credits.holds x WHERE x.status = 'pending' GROUP BY x.pool_id, x.member) h
	    ON h.pool_id = m.pool_id AND h.member = m.member
	 WHERE m.held <> coalesce(h.amount, 0)
	UNION ALL
	SELECT 'refund exceeds charge', 'charge ' || r.charge_id,
	       format('grant %s gave %s, refunds returned %s', r.grant_id, credits._to_credits(r.given),
	              credits._to_credits(r.returned))
	  FROM (SELECT l.pool_id, l.charge_id, l.grant_id,
	               sum(CASE WHEN l.entry_type = 'charge' THEN -l.amount WHEN l.entry_type = 'capture' THEN -l.held END) AS given,
	               sum(CASE WHEN l.entry_type = 'refund' THEN l.amount END) AS returned
	          FROM credits.ledger l
	         WHERE l.charge_id IS NOT NULL AND l.grant_id IS NOT NULL
	         GROUP BY l.pool_id, l.charge_id, l.grant_id) r
	 WHERE coalesce(r.returned, 0) > coalesce(r.given, 0);
END;

-------------------------------------------------------------------------------
-- Privileges
-------------------------------------------------------------------------------
REVOKE ALL ON credits.holds, credits.hold_parts, credits.rates, credits.frequency_caps FROM PUBLIC;
REVOKE ALL ON FUNCTION
	credits._check_key(text, text),
	credits._grant_dead(credits.grants, timestamptz),
	credits._unhold(bigint, bigint, bigint, bigint, text, text, timestamptz),
	credits._lapse_holds(bigint, timestamptz),
	credits._lock_pool(text),
	credits._lock_pool_id(bigint),
	credits._overdue_held(bigint, timestamptz),
	credits._in_transaction_block(),
	credits._pending_hold(bigint),
	credits._expire_holds_batch(timestamptz),
	credits._maintenance_lock(text),
	credits.reserve(text, text, numeric, interval, text, text, jsonb),
	credits.capture(bigint, numeric, jsonb),
	credits.release(bigint),
	credits.refund(bigint, numeric, text),
	credits._refundable_parts(bigint, bigint),
	credits.set_rate(text, numeric, text, timestamptz),
	credits.charge_usage(text, text, text, numeric, text, jsonb),
	credits.set_frequency_cap(text, text, integer, interval),
	credits.remove_frequency_cap(text, text),
	credits.verify()
FROM PUBLIC;
REVOKE ALL ON FUNCTION credits._maintenance_batch(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON PROCEDURE credits.expire_holds(timestamptz), credits._run_maintenance(text, timestamptz) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	credits.reserve(text, text, numeric, interval, text, text, jsonb),
	credits.capture(bigint, numeric, jsonb),
	credits.release(bigint),
	credits.charge_usage(text, text, text, numeric, text, jsonb)
TO credits_app;

GRANT EXECUTE ON FUNCTION
	credits.refund(bigint, numeric, text),
	credits.set_rate(text, numeric, text, timestamptz),
	credits.set_frequency_cap(text, text, integer, interval),
	credits.remove_frequency_cap(text, text),
	credits.verify(),
	credits._maintenance_lock(text),
	credits._maintenance_batch(text, timestamptz),
	credits._in_transaction_block(),
	credits._require("any")
TO credits_owner;
GRANT EXECUTE ON PROCEDURE credits.expire_holds(timestamptz), credits._run_maintenance(text, timestamptz)
	TO credits_owner;

GRANT SELECT ON credits.rate_card TO credits_reader;

-------------------------------------------------------------------------------
-- Subscriptions, expiry and maintenance
-------------------------------------------------------------------------------
CREATE TABLE credits.subscriptions (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	subscription_id bigint GENERATED ALWAYS AS IDENTITY,
	plan text NOT NULL,
	credits_per_period bigint NOT NULL CHECK (credits_per_period > 0),
	period interval NOT NULL CHECK (period > interval '0'),
	rollover_periods integer NOT NULL CHECK (rollover_periods >= 0),
	kind text NOT NULL CHECK (kind IN ('free', 'promo', 'plan', 'purchased')),
	anchor timestamptz NOT NULL,
	-- the last period whose grant was issued (or skipped as already expired)
	issued_through integer NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	cancelled_at timestamptz,
	PRIMARY KEY (pool_id, subscription_id)
);
CREATE UNIQUE INDEX subscriptions_id_idx ON credits.subscriptions (subscription_id);
CREATE UNIQUE INDEX subscriptions_active_idx ON credits.subscriptions (pool_id, plan) WHERE cancelled_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('credits.subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('credits.subscriptions_subscription_id_seq', '');

ALTER TABLE credits.grants ADD COLUMN subscription_id bigint;
ALTER TABLE credits.grants ADD COLUMN period_index integer;
CREATE UNIQUE INDEX grants_subscription_period_idx ON credits.grants (pool_id, subscription_id, period_index)
	WHERE subscription_id IS NOT NULL;
-- What expire_grants has left to do.
CREATE INDEX grants_expiry_idx ON credits.grants (expires_at)
	WHERE expired_at IS NULL AND voided_at IS NULL AND expires_at IS NOT NULL;

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
		        v_start, v_expires, s.plan, s.subscription_id, k)
		ON CONFLICT DO NOTHING
		RETURNING grant_id INTO v_id;
		CONTINUE WHEN v_id IS NULL;
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

CREATE FUNCTION credits.subscribe(pool text, plan text, credits_per_period numeric, period interval DEFAULT '1 month',
                                  rollover_periods integer DEFAULT 0, kind text DEFAULT 'plan',
                                  anchor timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_amount bigint;
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
	IF rollover_periods < 0 OR rollover_periods > 1000 THEN
		RAISE EXCEPTION 'invalid rollover_periods: must be from 0 to 1000' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('rollover_periods was %s.', rollover_periods);
	END IF;
	v_pool := credits._lock_pool(pool);
	IF EXISTS (SELECT FROM credits.subscriptions x
	            WHERE x.pool_id = v_pool.pool_id AND x.plan = subscribe.plan AND x.cancelled_at IS NULL) THEN
		RAISE EXCEPTION 'pool "%" already has an active subscription to plan "%"', pool, plan
			USING ERRCODE = 'unique_violation', HINT = 'Cancel it first with credits.cancel_subscription().';
	END IF;
	INSERT INTO credits.subscriptions (pool_id, plan, credits_per_period, period, rollover_periods, kind, anchor,
	                                   issued_through)
	VALUES (v_pool.pool_id, plan, v_amount, period, rollover_periods, kind, anchor,
	        greatest(credits._period_index(anchor, period, now()), 0) - 1)
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

-- One batch of renew_subscriptions: up to 100 subscriptions due at `as_of`.
CREATE FUNCTION credits._renew_batch(p_as_of timestamptz)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id bigint;
	v_pool bigint;
	s credits.subscriptions;
	v_any boolean := false;
BEGIN
	FOR v_pool, v_id IN
		SELECT x.pool_id, x.subscription_id FROM credits.subscriptions x
		 WHERE x.cancelled_at IS NULL
		   AND credits._period_at(x.anchor, x.period, x.issued_through + 1) <= p_as_of
		 ORDER BY x.pool_id, x.subscription_id LIMIT 100
	LOOP
		PERFORM credits._lock_pool_id(v_pool);
		-- re-read under the pool lock: a cancel or another run may have won
		SELECT * INTO s FROM credits.subscriptions x
		 WHERE x.pool_id = v_pool AND x.subscription_id = v_id AND x.cancelled_at IS NULL;
		CONTINUE WHEN NOT FOUND;
		PERFORM credits._issue_periods(s, p_as_of);
		v_any := true;
	END LOOP;
	RETURN v_any;
END
$$;

CREATE PROCEDURE credits.renew_subscriptions(as_of timestamptz DEFAULT now())
LANGUAGE plpgsql
AS $$
BEGIN
	CALL credits._run_maintenance('renew_subscriptions', as_of);
END
$$;

-- One batch of expire_grants: up to 50 grants past expires_at at `as_of`,
-- their pools locked in pool order. Each expiry is one ledger entry dated at
-- the grant's expires_at. Held parts stay with their holds. No temp table:
-- one in the caller's pg_temp with the same name would be used instead.
CREATE FUNCTION credits._expire_batch(p_as_of timestamptz)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_grants bigint[];
	v_pool bigint;
	v_any boolean := false;
BEGIN
	SELECT array_agg(d.grant_id) INTO v_grants
	  FROM (SELECT g.grant_id FROM credits.grants g
	         WHERE g.expires_at <= p_as_of AND g.expired_at IS NULL AND g.voided_at IS NULL AND g.expires_at IS NOT NULL
	         ORDER BY g.expires_at LIMIT 50) d;
	FOR v_pool IN SELECT DISTINCT g.pool_id FROM credits.grants g WHERE g.grant_id = ANY (v_grants) ORDER BY 1 LOOP
		PERFORM credits._lock_pool_id(v_pool);
		v_any := true;
	END LOOP;
	-- read what remains only now, under the pool locks
	WITH expired AS (
		UPDATE credits.grants g SET expired_at = g.expires_at, remaining = 0
		  FROM credits.grants was
		 WHERE was.pool_id = g.pool_id AND was.grant_id = g.grant_id
		   AND g.grant_id = ANY (v_grants) AND g.expired_at IS NULL AND g.voided_at IS NULL
		RETURNING g.pool_id, g.grant_id, g.member, g.expires_at, was.remaining AS was
	)
	INSERT INTO credits.ledger (pool_id, at, entry_type, member, grant_id, amount, reason)
	SELECT e.pool_id, e.expires_at, 'expire', e.member, e.grant_id, -e.was, 'grant expired'
	  FROM expired e
	 WHERE e.was > 0
	 ORDER BY e.expires_at, e.grant_id;
	RETURN v_any;
END
$$;

CREATE PROCEDURE credits.expire_grants(as_of timestamptz DEFAULT now())
LANGUAGE plpgsql
AS $$
BEGIN
	CALL credits._run_maintenance('expire_grants', as_of);
END
$$;

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
       x.cancelled_at
  FROM credits.subscriptions x
  JOIN credits.pools p USING (pool_id);

-- The one line a DBA schedules:
--   SELECT cron.schedule('credits', '* * * * *', 'CALL credits.maintain()');
CREATE PROCEDURE credits.maintain()
LANGUAGE plpgsql
AS $$
BEGIN
	CALL credits.renew_subscriptions();
	CALL credits.expire_grants();
	CALL credits.expire_holds();
END
$$;

-------------------------------------------------------------------------------
-- Alerts
-------------------------------------------------------------------------------
ALTER TABLE credits.pools ADD COLUMN has_alerts boolean NOT NULL DEFAULT false;

CREATE TABLE credits.alert_rules (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	metric text NOT NULL CHECK (metric IN ('pool_balance_below', 'member_usage_percent')),
	threshold numeric NOT NULL CHECK (threshold >= 0),
	PRIMARY KEY (pool_id, metric)
);

-- Which crossings have fired: an alert fires once per crossing and re-arms
-- when the value recovers. member is '' for pool-wide metrics.
CREATE TABLE credits.alert_state (
	pool_id bigint NOT NULL,
	metric text NOT NULL,
	member text NOT NULL,
	fired boolean NOT NULL,
	-- member_usage_percent: the member's period when last checked; a new
	-- period re-arms (usage starts again from 0)
	period_start timestamptz,
	PRIMARY KEY (pool_id, metric, member)
);

CREATE TABLE credits.alerts (
	id bigint GENERATED ALWAYS AS IDENTITY,
	pool_id bigint NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	pool text NOT NULL,
	member text,
	metric text NOT NULL,
	threshold numeric NOT NULL,
	value numeric NOT NULL,
	PRIMARY KEY (pool_id, id)
);
SELECT pg_catalog.pg_extension_config_dump('credits.alert_rules', '');
SELECT pg_catalog.pg_extension_config_dump('credits.alert_state', '');
SELECT pg_catalog.pg_extension_config_dump('credits.alerts', '');
SELECT pg_catalog.pg_extension_config_dump('credits.alerts_id_seq', '');

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
	SELECT CASE WHEN m.period_start = credits._period_start(m.period, now()) THEN m.used ELSE 0 END + m.held,
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

-------------------------------------------------------------------------------
-- Privileges for the time and alert functions
-------------------------------------------------------------------------------
REVOKE ALL ON credits.subscriptions, credits.alert_rules, credits.alert_state, credits.alerts FROM PUBLIC;
REVOKE ALL ON FUNCTION
	credits._period_at(timestamptz, interval, integer),
	credits._period_index(timestamptz, interval, timestamptz),
	credits._issue_periods(credits.subscriptions, timestamptz),
	credits.subscribe(text, text, numeric, interval, integer, text, timestamptz),
	credits.cancel_subscription(text, text),
	credits._renew_batch(timestamptz),
	credits._expire_batch(timestamptz),
	credits.set_alert(text, text, numeric),
	credits.remove_alert(text, text),
	credits._alert_check(bigint, text, text, numeric, boolean),
	credits._pool_alerts(),
	credits._member_alerts()
FROM PUBLIC;
REVOKE ALL ON PROCEDURE credits.renew_subscriptions(timestamptz), credits.expire_grants(timestamptz),
	credits.maintain() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	credits.subscribe(text, text, numeric, interval, integer, text, timestamptz),
	credits.cancel_subscription(text, text),
	credits.set_alert(text, text, numeric),
	credits.remove_alert(text, text)
TO credits_owner;
GRANT EXECUTE ON PROCEDURE credits.renew_subscriptions(timestamptz), credits.expire_grants(timestamptz),
	credits.maintain() TO credits_owner;
GRANT SELECT ON credits.alerts, credits.subscription_status TO credits_reader;
GRANT EXECUTE ON FUNCTION credits._period_at(timestamptz, interval, integer) TO credits_reader;
-------------------------------------------------------------------------------
-- Reports
-------------------------------------------------------------------------------
-- Every ledger entry of one pool as a flow of credits, at the time it takes
-- effect: a grant when it becomes spendable (back-dated or future-dated
-- grants count in their own month), an expiry at expires_at, the rest when
-- recorded.
-- Held credits count as remaining, so holds and releases are no flow.
CREATE FUNCTION credits._flows(p_pool_id bigint)
RETURNS TABLE (at timestamptz, kind text, allocated bigint, consumed bigint, refunded bigint, expired bigint,
               voided bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT CASE WHEN l.entry_type = 'grant' THEN g.effective_at ELSE l.at END,
	       g.kind,
	       CASE WHEN l.entry_type = 'grant' THEN l.amount ELSE 0 END,
	       CASE WHEN l.entry_type = 'charge' THEN -l.amount WHEN l.entry_type = 'capture' THEN -l.held ELSE 0 END,
	       CASE WHEN l.entry_type = 'refund' THEN l.amount ELSE 0 END,
	       CASE WHEN l.entry_type = 'expire' THEN -l.amount ELSE 0 END,
	       CASE WHEN l.entry_type = 'void' THEN -l.amount ELSE 0 END
	  FROM credits.ledger l
	  JOIN credits.grants g ON g.pool_id = l.pool_id AND g.grant_id = l.grant_id
	 WHERE l.pool_id = p_pool_id
	   AND l.entry_type IN ('grant', 'charge', 'capture', 'refund', 'expire', 'void');
END;

CREATE VIEW credits.monthly_summary AS
SELECT p.pool,
       s.month,
       credits._to_credits(s.allocated) AS allocated,
       credits._to_credits(s.consumed) AS consumed,
       credits._to_credits(s.refunded) AS refunded,
       credits._to_credits(s.expired) AS expired,
       credits._to_credits(s.voided) AS voided,
       credits._to_credits(s.carried_forward) AS carried_forward,
       credits._to_credits(s.carried_forward + s.net) AS remaining,
       credits._to_credits(s.free_consumed) AS free_consumed,
       credits._to_credits(s.promo_consumed) AS promo_consumed,
       credits._to_credits(s.plan_consumed) AS plan_consumed,
       credits._to_credits(s.purchased_consumed) AS purchased_consumed
  FROM credits.pools p
 CROSS JOIN LATERAL (
	SELECT m.*,
	       coalesce(sum(m.net) OVER (ORDER BY m.month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
	           AS carried_forward
	  FROM (SELECT (date_trunc('month', f.at AT TIME ZONE 'UTC'))::date AS month,
	               sum(f.allocated) AS allocated, sum(f.consumed) AS consumed, sum(f.refunded) AS refunded,
	               sum(f.expired) AS expired, sum(f.voided) AS voided,
	               sum(f.allocated - f.consumed + f.refunded - f.expired - f.voided) AS net,
	               coalesce(sum(f.consumed) FILTER (WHERE f.kind = 'free'), 0) AS free_consumed,
	               coalesce(sum(f.consumed) FILTER (WHERE f.kind = 'promo'), 0) AS promo_consumed,
	               coalesce(sum(f.consumed) FILTER (WHERE f.kind = 'plan'), 0) AS plan_consumed,
	               coalesce(sum(f.consumed) FILTER (WHERE f.kind = 'purchased'), 0) AS purchased_consumed
	          FROM credits._flows(p.pool_id) f
	         GROUP BY 1) m
 ) s;

-- Calls and credits per pool, month, member and feature: succeeded charges
-- and captures (gross; refunds are in monthly_summary).
CREATE VIEW credits.usage_by_feature AS
SELECT p.pool, u.month, u.member, u.feature, u.calls, credits._to_credits(u.credits) AS credits
  FROM credits.pools p
 CROSS JOIN LATERAL (
	SELECT (date_trunc('month', l.at AT TIME ZONE 'UTC'))::date AS month, l.member, l.feature,
	       count(*) AS calls, sum(l.requested) AS credits
	  FROM credits.ledger l
	 WHERE l.pool_id = p.pool_id AND l.status = 'succeeded' AND l.entry_type IN ('charge', 'capture')
	 GROUP BY 1, 2, 3
 ) u;

-- The same figures as monthly_summary for any range, by day or month (UTC).
CREATE FUNCTION credits.statement(pool text, from_ts timestamptz, to_ts timestamptz, granularity text DEFAULT 'day')
RETURNS TABLE (bucket timestamptz, allocated numeric, consumed numeric, expired numeric, remaining numeric,
               refunded numeric, voided numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
	v_step interval;
BEGIN
	PERFORM credits._require('pool', pool, 'from_ts', from_ts, 'to_ts', to_ts, 'granularity', granularity);
	IF granularity NOT IN ('day', 'month') THEN
		RAISE EXCEPTION 'unknown granularity "%"', granularity
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Granularities: day, month.';
	END IF;
	IF NOT isfinite(from_ts) OR NOT isfinite(to_ts) THEN
		RAISE EXCEPTION 'invalid range: from_ts and to_ts must be finite' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('from_ts %s, to_ts %s.', from_ts, to_ts);
	END IF;
	IF to_ts < from_ts THEN
		RAISE EXCEPTION 'invalid range: to_ts is before from_ts' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('from_ts %s, to_ts %s.', from_ts, to_ts);
	END IF;
	SELECT p.pool_id INTO v_pool_id FROM credits.pools p WHERE p.pool = statement.pool;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown pool "%"', pool USING ERRCODE = 'CR004', HINT = 'Create it with credits.create_pool().';
	END IF;
	v_step := CASE granularity WHEN 'day' THEN interval '1 day' ELSE interval '1 month' END;
	RETURN QUERY
	WITH flows AS (SELECT * FROM credits._flows(v_pool_id)),
	opening AS (
		SELECT coalesce(sum(f.allocated - f.consumed + f.refunded - f.expired - f.voided), 0) AS net
		  FROM flows f WHERE f.at < from_ts
	),
	buckets AS (
		SELECT greatest(b AT TIME ZONE 'UTC', from_ts) AS lo,
		       least((b + v_step) AT TIME ZONE 'UTC', to_ts) AS hi
		  FROM generate_series(date_trunc(granularity, from_ts AT TIME ZONE 'UTC'),
		                       (to_ts AT TIME ZONE 'UTC') - interval '1 microsecond', v_step) AS b
	),
	-- each flow in range goes to its bucket by arithmetic, not by a range
	-- join (days x flows)
	flow_sums AS (
		SELECT greatest(date_trunc(granularity, f.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', from_ts) AS lo,
		       sum(f.allocated) AS allocated, sum(f.consumed) AS consumed, sum(f.expired) AS expired,
		       sum(f.refunded) AS refunded, sum(f.voided) AS voided,
		       sum(f.allocated - f.consumed + f.refunded - f.expired - f.voided) AS net
		  FROM flows f
		 WHERE f.at >= from_ts AND f.at < to_ts
		 GROUP BY 1
	),
	sums AS (
		SELECT b.lo, b.hi,
		       coalesce(fs.allocated, 0) AS allocated, coalesce(fs.consumed, 0) AS consumed,
		       coalesce(fs.expired, 0) AS expired, coalesce(fs.refunded, 0) AS refunded,
		       coalesce(fs.voided, 0) AS voided, coalesce(fs.net, 0) AS net
		  FROM buckets b
		  LEFT JOIN flow_sums fs ON fs.lo = b.lo
	)
	SELECT s.lo, credits._to_credits(s.allocated), credits._to_credits(s.consumed), credits._to_credits(s.expired),
	       credits._to_credits((SELECT o.net FROM opening o) + sum(s.net) OVER (ORDER BY s.lo)),
	       credits._to_credits(s.refunded), credits._to_credits(s.voided)
	  FROM sums s
	 ORDER BY s.lo;
END
$$;

REVOKE ALL ON FUNCTION credits._flows(bigint),
	credits.statement(text, timestamptz, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credits._flows(bigint) TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.statement(text, timestamptz, timestamptz, text) TO credits_reader;
GRANT SELECT ON credits.monthly_summary, credits.usage_by_feature TO credits_reader;
