-- Reports: monthly_summary, usage_by_feature, statement(). Histories span
-- past, current and future months: back-dated grants, subscriptions
-- caught up and renewed ahead with as_of, expiry with as_of, and today's
-- charges, holds, refunds and voids. Outputs are checks, not dates, so the
-- file gives the same output whatever day it runs.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = warning;

SELECT FROM credits.create_pool('reports_a');
SELECT FROM credits.create_pool('reports_b');
-- pool a: a plan subscription since 14 months ago rolling over 2 periods,
-- a monthly free allowance, purchases back-dated and dated ahead
SELECT FROM credits.subscribe('reports_a', 'pro', 300, '1 month', 2, 'plan',
                              date_trunc('month', now()) - interval '14 months');
SELECT FROM credits.subscribe('reports_a', 'free', 20, '1 month', 0, 'free',
                              date_trunc('month', now()) - interval '3 months');
SELECT FROM credits.grant('reports_a', 500, 'purchased', effective_at => now() - interval '200 days');
SELECT FROM credits.grant('reports_a', 40, 'promo', effective_at => now() - interval '70 days',
                          expires_at => now() - interval '10 days');
SELECT FROM credits.grant('reports_a', 60, 'promo', effective_at => now() + interval '40 days');
SELECT credits.grant('reports_a', 80, 'purchased', external_ref => 'chargeback') AS void_me \gset
-- catch up missed periods; expire what is past its date
CALL credits.renew_subscriptions();
CALL credits.expire_grants();
-- today's activity: charges across kinds, a hold captured in part, a refund, a void
SELECT status FROM credits.charge('reports_a', 'alice', 45, 'image');
SELECT status FROM credits.charge('reports_a', 'bob', 12.5, 'text');
SELECT status FROM credits.charge('reports_a', 'bob', 7.25, 'text');
SELECT credits.reserve('reports_a', 'carol', 30, feature => 'video') AS hold \gset
SELECT status, charged FROM credits.capture(:hold, 22);
SELECT charge_id AS refund_me FROM credits.charge('reports_a', 'alice', 10, 'image') \gset
SELECT credits.refund(:refund_me, 4);
SELECT credits.void_grant(:void_me, 'chargeback');
SELECT status FROM credits.try_charge('reports_a', 'dave', 100000, 'image');
-- pool b: only a purchase and a charge this month
SELECT FROM credits.grant('reports_b', 100);
SELECT status FROM credits.charge('reports_b', 'erin', 33, 'text');
-- time passes: renew and expire a year ahead
CALL credits.renew_subscriptions(now() + interval '12 months');
CALL credits.expire_grants(now() + interval '12 months');

-- monthly_summary has the spec's columns
SELECT column_name FROM information_schema.columns
 WHERE table_schema = 'credits' AND table_name = 'monthly_summary' ORDER BY ordinal_position;

-- several months of activity per pool
SELECT pool, CASE WHEN pool = 'reports_a' THEN count(*) >= 7 ELSE count(*) = 1 END AS months_ok
  FROM credits.monthly_summary WHERE pool LIKE 'reports\_%' GROUP BY pool ORDER BY pool;

-- the identity holds for every pool and month; expected: no rows
SELECT pool, month FROM credits.monthly_summary
 WHERE carried_forward + allocated - consumed + refunded - expired - voided <> remaining;

-- each month carries forward what the month before left; expected: no rows
SELECT pool, month FROM (
	SELECT pool, month, carried_forward,
	       lag(remaining, 1, 0::numeric) OVER (PARTITION BY pool ORDER BY month) AS before
	  FROM credits.monthly_summary) s
 WHERE carried_forward <> before;

-- consumption by kind adds up; expected: no rows
SELECT pool, month FROM credits.monthly_summary
 WHERE free_consumed + promo_consumed + plan_consumed + purchased_consumed <> consumed;

-- totals agree with the ledger and the grants
SELECT m.pool,
       sum(m.allocated) = (SELECT sum(amount) FROM credits.grant_balances g WHERE g.pool = m.pool) AS allocated_ok,
       sum(m.consumed) = (SELECT sum(credits) FROM credits.transaction_log t
                           WHERE t.pool = m.pool AND t.status = 'succeeded' AND t.operation IN ('charge', 'capture'))
           AS consumed_ok,
       sum(m.refunded) = (SELECT coalesce(sum(credits._to_credits(l.amount)), 0) FROM credits.ledger l
                           JOIN credits.pools p USING (pool_id) WHERE p.pool = m.pool AND l.entry_type = 'refund')
           AS refunded_ok,
       (array_agg(m.remaining ORDER BY m.month DESC))[1]
           = (SELECT sum(remaining + held) FROM credits.grant_balances g WHERE g.pool = m.pool) AS remaining_ok
  FROM credits.monthly_summary m
 WHERE m.pool LIKE 'reports\_%'
 GROUP BY m.pool ORDER BY m.pool;

-- what this month shows, in figures that do not depend on the date
SELECT pool, consumed, refunded, voided, free_consumed > 0 AS used_free, purchased_consumed > 0 AS used_purchased
  FROM credits.monthly_summary
 WHERE pool LIKE 'reports\_%' AND month = date_trunc('month', now() AT TIME ZONE 'UTC')::date
 ORDER BY pool;

-- statement by day sums to monthly_summary, month by month; expected: no rows
WITH months AS (SELECT * FROM credits.monthly_summary WHERE pool = 'reports_a'),
days AS (
	SELECT date_trunc('month', bucket AT TIME ZONE 'UTC')::date AS month,
	       sum(allocated) AS allocated, sum(consumed) AS consumed, sum(expired) AS expired,
	       sum(refunded) AS refunded, sum(voided) AS voided,
	       (array_agg(remaining ORDER BY bucket DESC))[1] AS remaining
	  FROM credits.statement('reports_a', (SELECT min(month) FROM months)::timestamp AT TIME ZONE 'UTC',
	                         ((SELECT max(month) FROM months) + interval '1 month') AT TIME ZONE 'UTC', 'day')
	 GROUP BY 1)
SELECT m.month FROM months m LEFT JOIN days d USING (month)
 WHERE (m.allocated, m.consumed, m.expired, m.refunded, m.voided, m.remaining)
       IS DISTINCT FROM (d.allocated, d.consumed, d.expired, d.refunded, d.voided, d.remaining);

-- statement by month equals monthly_summary; expected: no rows
SELECT m.month FROM credits.monthly_summary m
  LEFT JOIN credits.statement('reports_a', date_trunc('month', now()) - interval '14 months',
                              date_trunc('month', now()) + interval '13 months', 'month') s
    ON s.bucket = (m.month::timestamp AT TIME ZONE 'UTC')
 WHERE m.pool = 'reports_a' AND m.month >= (date_trunc('month', now()) - interval '14 months')::date
   AND (m.allocated, m.consumed, m.expired, m.remaining) IS DISTINCT FROM (s.allocated, s.consumed, s.expired, s.remaining);

-- a range that starts and ends inside days: buckets cover only their part
SELECT count(*) AS buckets, min(bucket) = '2026-03-10 12:00+00' AS first_is_from
  FROM credits.statement('reports_a', '2026-03-10 12:00+00', '2026-03-13 06:00+00', 'day');

-- usage_by_feature: calls and credits per member and feature this month
SELECT pool, member, feature, calls, credits FROM credits.usage_by_feature
 WHERE pool LIKE 'reports\_%' AND month = date_trunc('month', now() AT TIME ZONE 'UTC')::date
 ORDER BY pool, member, feature;

-- errors
SELECT * FROM credits.statement('reports_nope', now(), now());
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.statement('reports_a', now(), now(), 'year');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.statement('reports_a', '2026-03-10 00:00+00', '2026-03-09 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.statement('reports_a', NULL, now());
\echo :LAST_ERROR_SQLSTATE

-------------------------------------------------------------------------------
-- The examples of docs/reports.md
-------------------------------------------------------------------------------
SET timezone = 'UTC';
SET datestyle = 'ISO';
SELECT FROM credits.create_pool('reports_docs');
SELECT FROM credits.grant('reports_docs', 100, 'free', effective_at => '2025-01-10', expires_at => '2025-02-01');
SELECT FROM credits.grant('reports_docs', 500, 'purchased', effective_at => '2025-01-20');
SELECT FROM credits.grant('reports_docs', 300, 'plan', effective_at => '2025-02-01', expires_at => '2025-04-01');
CALL credits.expire_grants('2025-06-01');
SELECT pool, month, allocated, consumed, refunded, expired, voided, carried_forward, remaining
  FROM credits.monthly_summary WHERE pool = 'reports_docs' AND month < '2025-07-01' ORDER BY month;
SELECT * FROM credits.statement('reports_docs', '2025-01-01', '2025-05-01', 'month');
SELECT bucket, allocated, expired, remaining FROM credits.statement('reports_docs', '2025-01-09', '2025-01-12', 'day');
SELECT charge_id FROM credits.charge('reports_docs', 'alice', 30, 'image') \gset
SELECT status FROM credits.charge('reports_docs', 'alice', 12, 'image');
SELECT status FROM credits.charge('reports_docs', 'bob', 5, 'text');
SELECT credits.refund(:charge_id, 10);
SELECT member, feature, calls, credits FROM credits.usage_by_feature WHERE pool = 'reports_docs' ORDER BY member, feature;
SELECT consumed, refunded, purchased_consumed, remaining FROM credits.monthly_summary
 WHERE pool = 'reports_docs' AND month = date_trunc('month', now())::date;
RESET timezone;
RESET datestyle;

SELECT count(*) AS problems FROM credits.verify();
