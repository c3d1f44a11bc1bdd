-- Reports: monthly_summary, usage_by_feature and statement() over one
-- source of flows.

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

-- The pool's credits at an instant, from the ledger: held credits count as
-- remaining (as in monthly_summary); a grant counts from its effective_at,
-- an expiry from its expires_at. Equals statement()'s remaining for a
-- bucket that ends at `at`.
CREATE FUNCTION credits.balance_at(pool text, at timestamptz)
RETURNS numeric
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
	v_net numeric;
BEGIN
	PERFORM credits._require('pool', balance_at.pool, 'at', balance_at.at);
	IF NOT isfinite(balance_at.at) THEN
		RAISE EXCEPTION 'invalid at: must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT p.pool_id INTO v_pool_id FROM credits.pools p WHERE p.pool = balance_at.pool;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown pool "%"', balance_at.pool
			USING ERRCODE = 'CR004', HINT = 'Create it with credits.create_pool().';
	END IF;
	SELECT coalesce(sum(f.allocated - f.consumed + f.refunded - f.expired - f.voided), 0) INTO v_net
	  FROM credits._flows(v_pool_id) f
	 WHERE f.at < balance_at.at;
	RETURN credits._to_credits(v_net);
END
$$;

-- Succeeded charges and captures in [from_ts, to_ts), per member and
-- feature: calls, credits charged (gross) and what has been refunded of
-- those charges so far.
CREATE FUNCTION credits.usage(pool text, from_ts timestamptz, to_ts timestamptz)
RETURNS TABLE (member text, feature text, calls bigint, credits numeric, refunded numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
BEGIN
	PERFORM credits._require('pool', usage.pool, 'from_ts', usage.from_ts, 'to_ts', usage.to_ts);
	IF NOT isfinite(usage.from_ts) OR NOT isfinite(usage.to_ts) THEN
		RAISE EXCEPTION 'invalid range: from_ts and to_ts must be finite' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('from_ts %s, to_ts %s.', usage.from_ts, usage.to_ts);
	END IF;
	IF usage.to_ts < usage.from_ts THEN
		RAISE EXCEPTION 'invalid range: to_ts is before from_ts' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('from_ts %s, to_ts %s.', usage.from_ts, usage.to_ts);
	END IF;
	SELECT p.pool_id INTO v_pool_id FROM credits.pools p WHERE p.pool = usage.pool;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown pool "%"', usage.pool
			USING ERRCODE = 'CR004', HINT = 'Create it with credits.create_pool().';
	END IF;
	RETURN QUERY
	SELECT h.member, h.feature, count(*), credits._to_credits(sum(h.requested)),
	       credits._to_credits(coalesce(sum(r.refunded), 0))
	  FROM credits.ledger h
	  LEFT JOIN LATERAL (SELECT sum(x.amount) AS refunded
	                       FROM credits.ledger x
	                      WHERE x.pool_id = h.pool_id AND x.charge_id = h.entry_id
	                        AND x.entry_type = 'refund') r ON true
	 WHERE h.pool_id = v_pool_id AND h.status = 'succeeded' AND h.entry_type IN ('charge', 'capture')
	   AND h.at >= usage.from_ts AND h.at < usage.to_ts
	 GROUP BY h.member, h.feature
	 ORDER BY h.member, h.feature NULLS FIRST;
END
$$;

-- What \df+ and \dv+ show.
COMMENT ON VIEW credits.monthly_summary IS 'Per pool and month: allocated, consumed, refunded, expired, voided, carried forward, remaining.';
COMMENT ON VIEW credits.usage_by_feature IS 'Per pool, month, member and feature: calls and credits charged.';
COMMENT ON FUNCTION credits.statement(text, timestamptz, timestamptz, text) IS 'A pool''s flows of credits for any range, by day or month.';
COMMENT ON FUNCTION credits.balance_at(text, timestamptz) IS 'A pool''s credits (held counted as remaining) at an instant, from the ledger.';
COMMENT ON FUNCTION credits.usage(text, timestamptz, timestamptz) IS 'Per member and feature in a range: calls, credits charged and refunded.';
