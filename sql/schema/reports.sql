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

-- Statements: the flows of one pool for any range, in buckets of a day, an
-- ISO week (from Monday), a month, or the whole range ('total'), starting
-- at local midnight in time zone p_tz; each bucket covers the part of its
-- period inside [p_from, p_to). One row per bucket and kind (free, promo,
-- plan, purchased), in micros; for every row carried_forward + allocated -
-- consumed + refunded - expired - voided = remaining, and a bucket's
-- carried_forward is the previous bucket's remaining. statement() adds the
-- kinds up; statement_by_kind() gives them as they are.
CREATE FUNCTION credits._statement(p_pool_id bigint, p_from timestamptz, p_to timestamptz, p_granularity text,
                                   p_tz text)
RETURNS TABLE (bucket timestamptz, kind text, carried_forward numeric, allocated numeric, consumed numeric,
               refunded numeric, expired numeric, voided numeric, remaining numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	WITH flows AS (SELECT * FROM credits._flows(p_pool_id)),
	kinds AS (SELECT k.kind, k.ord FROM (VALUES ('free', 1), ('promo', 2), ('plan', 3), ('purchased', 4)) AS k (kind, ord)),
	buckets AS (
		SELECT p_from AS lo WHERE p_granularity = 'total'
		UNION ALL
		-- local midnights: a day is 23 or 25 hours across a DST change
		SELECT greatest(b.b AT TIME ZONE p_tz, p_from)
		  FROM generate_series(date_trunc(p_granularity, p_from AT TIME ZONE p_tz),
		                       (p_to AT TIME ZONE p_tz) - interval '1 microsecond',
		                       CASE p_granularity WHEN 'day' THEN interval '1 day' WHEN 'week' THEN interval '1 week'
		                                          ELSE interval '1 month' END) AS b (b)
		 WHERE p_granularity <> 'total'
	),
	opening AS (
		SELECT f.kind, sum(f.allocated - f.consumed + f.refunded - f.expired - f.voided) AS net
		  FROM flows f WHERE f.at < p_from GROUP BY f.kind
	),
	-- each flow in range goes to its bucket by arithmetic, not by a range join
	flow_sums AS (
		SELECT CASE WHEN p_granularity = 'total' THEN p_from
		            ELSE greatest(date_trunc(p_granularity, f.at AT TIME ZONE p_tz) AT TIME ZONE p_tz, p_from) END AS lo,
		       f.kind, sum(f.allocated) AS allocated, sum(f.consumed) AS consumed, sum(f.refunded) AS refunded,
		       sum(f.expired) AS expired, sum(f.voided) AS voided,
		       sum(f.allocated - f.consumed + f.refunded - f.expired - f.voided) AS net
		  FROM flows f
		 WHERE f.at >= p_from AND f.at < p_to
		 GROUP BY 1, 2
	),
	cells AS (
		SELECT b.lo, k.kind, k.ord, coalesce(o.net, 0) AS opening,
		       coalesce(fs.allocated, 0) AS allocated, coalesce(fs.consumed, 0) AS consumed,
		       coalesce(fs.refunded, 0) AS refunded, coalesce(fs.expired, 0) AS expired,
		       coalesce(fs.voided, 0) AS voided, coalesce(fs.net, 0) AS net
		  FROM buckets b
		 CROSS JOIN kinds k
		  LEFT JOIN opening o ON o.kind = k.kind
		  LEFT JOIN flow_sums fs ON fs.lo = b.lo AND fs.kind = k.kind
	)
	SELECT c.lo, c.kind,
	       c.opening + coalesce(sum(c.net) OVER (PARTITION BY c.kind ORDER BY c.lo
	                                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0),
	       c.allocated, c.consumed, c.refunded, c.expired, c.voided,
	       c.opening + sum(c.net) OVER (PARTITION BY c.kind ORDER BY c.lo ROWS UNBOUNDED PRECEDING)
	  FROM cells c
	 ORDER BY c.lo, c.ord;
END;

-- The pool of a statement, after checking its arguments.
CREATE FUNCTION credits._statement_pool(p_pool text, p_from timestamptz, p_to timestamptz, p_granularity text,
                                        p_tz text)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
BEGIN
	PERFORM credits._require('pool', p_pool, 'from_ts', p_from, 'to_ts', p_to, 'granularity', p_granularity,
	                         'tz', p_tz);
	IF p_granularity NOT IN ('day', 'week', 'month', 'total') THEN
		RAISE EXCEPTION 'unknown granularity "%"', p_granularity
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Granularities: day, week, month, total.';
	END IF;
	IF NOT isfinite(p_from) OR NOT isfinite(p_to) THEN
		RAISE EXCEPTION 'invalid range: from_ts and to_ts must be finite' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('from_ts %s, to_ts %s.', p_from, p_to);
	END IF;
	IF p_to < p_from THEN
		RAISE EXCEPTION 'invalid range: to_ts is before from_ts' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('from_ts %s, to_ts %s.', p_from, p_to);
	END IF;
	-- an unknown time zone: 22023 from PostgreSQL
	PERFORM now() AT TIME ZONE p_tz;
	SELECT p.pool_id INTO v_pool_id FROM credits.pools p WHERE p.pool = p_pool;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown pool "%"', p_pool USING ERRCODE = 'CR004', HINT = 'Create it with credits.create_pool().';
	END IF;
	RETURN v_pool_id;
END
$$;

-- The same figures as monthly_summary for any range and time zone.
CREATE FUNCTION credits.statement(pool text, from_ts timestamptz, to_ts timestamptz, granularity text DEFAULT 'day',
                                  tz text DEFAULT 'UTC')
RETURNS TABLE (bucket timestamptz, carried_forward numeric, allocated numeric, consumed numeric, refunded numeric,
               expired numeric, voided numeric, remaining numeric)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT s.bucket, credits._to_credits(sum(s.carried_forward)), credits._to_credits(sum(s.allocated)),
	       credits._to_credits(sum(s.consumed)), credits._to_credits(sum(s.refunded)),
	       credits._to_credits(sum(s.expired)), credits._to_credits(sum(s.voided)),
	       credits._to_credits(sum(s.remaining))
	  FROM credits._statement(credits._statement_pool(statement.pool, statement.from_ts, statement.to_ts,
	                                                  statement.granularity, statement.tz),
	                          statement.from_ts, statement.to_ts, statement.granularity, statement.tz) s
	 GROUP BY s.bucket
	 ORDER BY s.bucket;
END;

-- The same per kind of credits: one row per bucket and kind.
CREATE FUNCTION credits.statement_by_kind(pool text, from_ts timestamptz, to_ts timestamptz,
                                          granularity text DEFAULT 'month', tz text DEFAULT 'UTC')
RETURNS TABLE (bucket timestamptz, kind text, carried_forward numeric, allocated numeric, consumed numeric,
               refunded numeric, expired numeric, voided numeric, remaining numeric)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT s.bucket, s.kind, credits._to_credits(s.carried_forward), credits._to_credits(s.allocated),
	       credits._to_credits(s.consumed), credits._to_credits(s.refunded), credits._to_credits(s.expired),
	       credits._to_credits(s.voided), credits._to_credits(s.remaining)
	  FROM credits._statement(credits._statement_pool(statement_by_kind.pool, statement_by_kind.from_ts,
	                                                  statement_by_kind.to_ts, statement_by_kind.granularity,
	                                                  statement_by_kind.tz),
	                          statement_by_kind.from_ts, statement_by_kind.to_ts, statement_by_kind.granularity,
	                          statement_by_kind.tz) s;
END;

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
COMMENT ON FUNCTION credits.statement(text, timestamptz, timestamptz, text, text) IS 'A pool''s credits for any range, by day, week, month or in total, in a time zone.';
COMMENT ON FUNCTION credits.statement_by_kind(text, timestamptz, timestamptz, text, text) IS 'statement() per kind of credits: free, promo, plan, purchased.';
COMMENT ON FUNCTION credits.balance_at(text, timestamptz) IS 'A pool''s credits (held counted as remaining) at an instant, from the ledger.';
COMMENT ON FUNCTION credits.usage(text, timestamptz, timestamptz) IS 'Per member and feature in a range: calls, credits charged and refunded.';
