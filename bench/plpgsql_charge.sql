-- credits.charge written by hand in PL/pgSQL: what a team would write
-- instead of installing the extension. Same tables (bench/tables.sql, the
-- shape of credits'), same semantics for a charge:
--   * the pool row is locked first (UPDATE ... version + 1), the one lock
--     order, so charges on one pool queue and never deadlock;
--   * a repeated (pool, idempotency_key) returns the first result, a
--     different charge under the same key raises CR005;
--   * an unknown member is enrolled; access and the member's limit in its
--     current period (UTC) are checked;
--   * the usable grants (the pool's and the member's own) are consumed in
--     the spec's FIFO order: rank (priority or kind), expires_at (never
--     last), effective_at, grant_id; one charge may span several grants;
--   * the member's usage is updated, and the ledger gets a head row (that
--     also carries the first part) plus one row per further part;
--   * a frequency cap on the feature (only looked up when the pool has
--     any, like credits' pools.has_caps) rejects calls past max_calls;
--   * amounts are exact: numeric in, bigint micro-credits stored.
-- Not here: holds (credits lapses a pool's overdue holds first when
-- pools.next_hold_expiry has passed) and alerts (deferred triggers in
-- credits, which queue nothing for pools without alert rules and members
-- without limits, as in the benchmark's data).
-- Load with: psql -v ON_ERROR_STOP=1 -f bench/plpgsql_charge.sql
-- (run from any directory: tables.sql is included relative to this file).

DROP SCHEMA IF EXISTS bench_plpgsql CASCADE;
CREATE SCHEMA bench_plpgsql;
SET search_path = bench_plpgsql;
\ir tables.sql
RESET search_path;

CREATE TABLE bench_plpgsql.frequency_caps (
	pool_id bigint NOT NULL REFERENCES bench_plpgsql.pools,
	feature text NOT NULL,
	max_calls integer NOT NULL CHECK (max_calls >= 0),
	per interval NOT NULL CHECK (per > interval '0'),
	PRIMARY KEY (pool_id, feature)
);

CREATE TYPE bench_plpgsql.charge_result AS (
	charge_id bigint,
	status text,
	charged numeric,
	balance numeric,
	member_used numeric,
	replayed boolean
);

-- Start of the period `at` falls in, in UTC.
CREATE FUNCTION bench_plpgsql.period_start(p_period text, p_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE p_period
           WHEN 'month' THEN date_trunc('month', p_at, 'UTC')
           WHEN 'week' THEN date_trunc('week', p_at, 'UTC')
           WHEN 'day' THEN date_trunc('day', p_at, 'UTC')
           ELSE '-infinity'::timestamptz
       END;

CREATE FUNCTION bench_plpgsql.charge(p_pool text, p_member text, p_amount numeric,
                                     p_feature text DEFAULT NULL, p_idempotency_key text DEFAULT NULL,
                                     p_metadata jsonb DEFAULT NULL)
RETURNS bench_plpgsql.charge_result
LANGUAGE plpgsql
AS $$
DECLARE
	v_now timestamptz := now();
	v_amount bigint;
	v_pool_id bigint;
	v_has_caps boolean;
	v_entry_id bigint;
	cap bench_plpgsql.frequency_caps;
	v_calls bigint;
	m bench_plpgsql.members;
	k record;
	g record;
	v_period_start timestamptz;
	v_used bigint;
	v_left bigint;
	v_take bigint;
	v_pool_total bigint := 0;
	v_grant_ids bigint[] := '{}';
	v_takes bigint[] := '{}';
BEGIN
	IF p_pool IS NULL OR p_member IS NULL OR p_amount IS NULL THEN
		RAISE EXCEPTION 'pool, member and amount must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF p_amount < 0 OR p_amount IN ('NaN', 'Infinity') OR p_amount <> round(p_amount, 6) THEN
		RAISE EXCEPTION 'invalid amount: %', p_amount USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Amounts are >= 0 with at most 6 decimal places.';
	END IF;
	v_amount := (p_amount * 1000000)::bigint;

	-- The pool row first: every write on a pool queues here.
	UPDATE bench_plpgsql.pools SET version = version + 1 WHERE pool = p_pool
	RETURNING pool_id, has_caps INTO v_pool_id, v_has_caps;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown pool "%"', p_pool USING ERRCODE = 'CR004';
	END IF;

	IF p_idempotency_key IS NOT NULL THEN
		SELECT l.entry_id, l.member, l.requested, l.feature, l.balance_after, l.member_used_after
		  INTO k
		  FROM bench_plpgsql.ledger l
		 WHERE l.pool_id = v_pool_id AND l.idempotency_key = p_idempotency_key AND l.status = 'succeeded';
		IF FOUND THEN
			IF k.member <> p_member OR k.requested <> v_amount OR k.feature IS DISTINCT FROM p_feature THEN
				RAISE EXCEPTION 'idempotency key "%" was used for a different charge', p_idempotency_key
					USING ERRCODE = 'CR005';
			END IF;
			RETURN ROW(k.entry_id, 'succeeded', trim_scale(k.requested / 1000000.0),
			           trim_scale(k.balance_after / 1000000.0), trim_scale(k.member_used_after / 1000000.0),
			           true)::bench_plpgsql.charge_result;
		END IF;
	END IF;

	-- The member, enrolled when unknown, with its usage in the current period.
	SELECT * INTO m FROM bench_plpgsql.members WHERE pool_id = v_pool_id AND member = p_member;
	IF NOT FOUND THEN
		INSERT INTO bench_plpgsql.members (pool_id, member, period_start)
		VALUES (v_pool_id, p_member, bench_plpgsql.period_start('month', v_now))
		RETURNING * INTO m;
	END IF;
	v_period_start := bench_plpgsql.period_start(m.period, v_now);
	v_used := CASE WHEN m.period_start = v_period_start THEN m.used ELSE 0 END;
	IF v_amount > 0 THEN
		IF m.revoked THEN
			RAISE EXCEPTION 'access revoked for member "%" of pool "%"', p_member, p_pool USING ERRCODE = 'CR003';
		END IF;
		IF m.credit_limit IS NOT NULL AND v_used + m.held + v_amount > m.credit_limit THEN
			RAISE EXCEPTION 'credit limit exceeded for member "%" of pool "%"', p_member, p_pool
				USING ERRCODE = 'CR002',
				      DETAIL = format('requested %s, used %s, held %s, limit %s.', p_amount,
				                      v_used / 1000000.0, m.held / 1000000.0, m.credit_limit / 1000000.0);
		END IF;
	END IF;

	IF v_has_caps AND p_feature IS NOT NULL THEN
		SELECT * INTO cap FROM bench_plpgsql.frequency_caps WHERE pool_id = v_pool_id AND feature = p_feature;
		IF FOUND THEN
			SELECT count(*) INTO v_calls
			  FROM bench_plpgsql.ledger l
			 WHERE l.pool_id = v_pool_id AND l.member = p_member AND l.feature = p_feature
			   AND l.status = 'succeeded' AND l.entry_type IN ('charge', 'hold') AND l.at > v_now - cap.per;
			IF v_calls >= cap.max_calls THEN
				RAISE EXCEPTION 'frequency cap of % calls per % reached for feature "%"', cap.max_calls, cap.per, p_feature
					USING ERRCODE = 'CR007';
			END IF;
		END IF;
	END IF;

	-- FIFO over the live grants; the pool's total comes along for the balance.
	v_left := v_amount;
	FOR g IN
		SELECT gr.grant_id, gr.remaining, (gr.member IS NULL OR gr.member = p_member) AS usable,
		       sum(gr.remaining) OVER () AS pool_total
		  FROM bench_plpgsql.grants gr
		 WHERE gr.pool_id = v_pool_id AND gr.remaining > 0 AND gr.voided_at IS NULL AND gr.expired_at IS NULL
		   AND gr.effective_at <= v_now AND (gr.expires_at IS NULL OR gr.expires_at > v_now)
		 ORDER BY gr.rank, gr.expires_at, gr.effective_at, gr.grant_id
	LOOP
		v_pool_total := g.pool_total;
		EXIT WHEN v_left = 0;
		CONTINUE WHEN NOT g.usable;
		v_take := least(v_left, g.remaining);
		UPDATE bench_plpgsql.grants SET remaining = remaining - v_take
		 WHERE pool_id = v_pool_id AND grant_id = g.grant_id;
		v_grant_ids := v_grant_ids || g.grant_id;
		v_takes := v_takes || v_take;
		v_left := v_left - v_take;
	END LOOP;
	IF v_left > 0 THEN -- the error undoes the grant updates above
		RAISE EXCEPTION 'insufficient credits in pool "%" for member "%"', p_pool, p_member
			USING ERRCODE = 'CR001',
			      DETAIL = format('requested %s, available %s.', p_amount, (v_amount - v_left) / 1000000.0);
	END IF;

	v_used := v_used + v_amount;
	IF v_amount > 0 OR m.period_start <> v_period_start THEN
		UPDATE bench_plpgsql.members SET used = v_used, period_start = v_period_start
		 WHERE pool_id = v_pool_id AND member = p_member;
	END IF;

	v_entry_id := nextval('bench_plpgsql.ledger_entry_id_seq');
	INSERT INTO bench_plpgsql.ledger (entry_id, pool_id, entry_type, member, grant_id, amount, charge_id, status,
	                                  feature, idempotency_key, requested, balance_after, member_used_after, metadata)
	VALUES (v_entry_id, v_pool_id, 'charge', p_member, v_grant_ids[1], -coalesce(v_takes[1], 0), v_entry_id,
	        'succeeded', p_feature, p_idempotency_key, v_amount, v_pool_total - v_amount, v_used, p_metadata);
	IF cardinality(v_grant_ids) > 1 THEN
		INSERT INTO bench_plpgsql.ledger (pool_id, entry_type, member, grant_id, amount, charge_id)
		SELECT v_pool_id, 'charge', p_member, u.grant_id, -u.take, v_entry_id
		  FROM unnest(v_grant_ids[2:], v_takes[2:]) AS u(grant_id, take);
	END IF;

	RETURN ROW(v_entry_id, 'succeeded', p_amount, trim_scale((v_pool_total - v_amount) / 1000000.0),
	           trim_scale(v_used / 1000000.0), false)::bench_plpgsql.charge_result;
END
$$;
