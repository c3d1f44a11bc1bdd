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

-- What \df+ and \dv+ show.
COMMENT ON VIEW credits.monthly_summary IS 'Per pool and month: allocated, consumed, refunded, expired, voided, carried forward, remaining.';
COMMENT ON VIEW credits.usage_by_feature IS 'Per pool, month, member and feature: calls and credits charged.';
COMMENT ON FUNCTION credits.statement(text, timestamptz, timestamptz, text) IS 'A pool''s flows of credits for any range, by day or month.';
