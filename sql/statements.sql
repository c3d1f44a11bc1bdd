-- statement() and statement_by_kind(): day, week, month and total buckets,
-- in a time zone; on a pool with every kind of entry, every row satisfies
-- its identity, buckets chain, kinds add up to statement's rows, and
-- balance_at at each bucket's end equals that bucket's remaining.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('stmt') > 0 AS created;
SELECT credits.grant('stmt', 100, 'free', effective_at => now() - interval '40 days',
                     expires_at => now() - interval '20 days') > 0 AS expired_free;
SELECT credits.grant('stmt', 60, 'promo', effective_at => now() - interval '30 days') > 0 AS promo;
SELECT credits.grant('stmt', 200, 'plan', effective_at => now() - interval '10 days',
                     expires_at => now() + interval '20 days') > 0 AS plan;
SELECT credits.grant('stmt', 500, 'purchased') AS purchased \gset
SELECT credits.grant('stmt', 40, 'purchased', effective_at => now() + interval '3 days') > 0 AS future;
-- a partial void, and a subscription whose rollover is capped by amount
-- (10 credits carried over at each period start, the rest expires)
SELECT credits.grant('stmt', 30, 'promo', effective_at => now() - interval '25 days') AS partial \gset
SELECT credits.void_grant(:partial, 'partial chargeback', 10) AS partly_voided;
-- an amendment: the partly voided grant now expired two days ago
SELECT credits.set_grant_expiry(:partial, now() - interval '2 days');
SELECT credits.subscribe('stmt', 'team', 30, interval '1 day', 5, 'plan', now() - interval '2 days',
                         rollover_max => 10) > 0 AS subscribed;
CALL credits.renew_subscriptions(now() + interval '3 days 1 hour');
SELECT count(*) AS rollover_expiries FROM credits.ledger_entries
 WHERE pool = 'stmt' AND entry_type = 'expire' AND reason IS DISTINCT FROM 'grant expired';
CALL credits.expire_grants();
SELECT status FROM credits.charge('stmt', 'a', 250, 'chat');
SELECT charge_id AS refundable FROM credits.charge('stmt', 'b', 30) \gset
SELECT credits.refund(:refundable, 12) AS refunded;
SELECT (credits.capture(credits.reserve('stmt', 'c', 20, '1 hour'), 15)).status;
SELECT credits.release(credits.reserve('stmt', 'c', 5, '1 hour')) AS released;
SELECT credits.reserve('stmt', 'd', 9, '1 hour') > 0 AS pending;
SELECT credits.void_grant(:purchased, 'chargeback') AS voided;

CREATE TEMP VIEW checks AS
SELECT g.granularity, g.tz, s.*
  FROM (VALUES ('day', 'UTC'), ('day', 'America/Los_Angeles'), ('week', 'UTC'), ('month', 'Asia/Kolkata'),
               ('total', 'UTC')) AS g (granularity, tz)
 CROSS JOIN LATERAL credits.statement('stmt', now() - interval '45 days', now() + interval '5 days',
                                      g.granularity, g.tz) s;

-- every row satisfies its identity, and buckets chain
SELECT granularity, tz, count(*) > 0 AS has_rows,
       count(*) FILTER (WHERE carried_forward + allocated - consumed + refunded - expired - voided <> remaining)
           AS identity_broken
  FROM checks GROUP BY 1, 2 ORDER BY 1, 2;
SELECT granularity, tz, count(*) AS chain_broken
  FROM (SELECT c.granularity, c.tz, c.carried_forward,
               lag(c.remaining) OVER (PARTITION BY c.granularity, c.tz ORDER BY c.bucket) AS previous
          FROM checks c) x
 WHERE previous IS NOT NULL AND previous <> carried_forward
 GROUP BY 1, 2;
-- every granularity sums to the same totals; 'total' is one row
SELECT granularity, tz, count(*) = 1 OR granularity <> 'total' AS one_row_if_total,
       sum(allocated) AS allocated, sum(consumed) AS consumed, sum(refunded) AS refunded,
       sum(expired) AS expired, sum(voided) AS voided,
       (array_agg(remaining ORDER BY bucket DESC))[1] AS remaining
  FROM checks GROUP BY 1, 2 ORDER BY 1, 2;
-- buckets start at local midnight in tz; weeks on Monday
SELECT granularity, tz,
       count(*) FILTER (WHERE bucket <> now() - interval '45 days'
                          AND (bucket AT TIME ZONE tz)::time <> '00:00') AS not_midnight,
       count(*) FILTER (WHERE granularity = 'week' AND bucket <> now() - interval '45 days'
                          AND extract(isodow FROM bucket AT TIME ZONE tz) <> 1) AS not_monday
  FROM checks GROUP BY 1, 2 ORDER BY 1, 2;
-- balance_at at each bucket's end equals its remaining
SELECT granularity, tz, count(*) FILTER (WHERE remaining <> credits.balance_at('stmt', hi)) AS balance_at_differs
  FROM (SELECT c.*, coalesce(lead(c.bucket) OVER (PARTITION BY c.granularity, c.tz ORDER BY c.bucket),
                             now() + interval '5 days') AS hi
          FROM checks c) x
 GROUP BY 1, 2 ORDER BY 1, 2;

-- by kind: four rows a bucket, each with its identity, adding up to statement's row
SELECT count(*) = count(DISTINCT bucket) * 4 AS four_a_bucket,
       count(*) FILTER (WHERE carried_forward + allocated - consumed + refunded - expired - voided <> remaining)
           AS identity_broken
  FROM credits.statement_by_kind('stmt', now() - interval '45 days', now() + interval '5 days', 'week');
SELECT count(*) AS buckets_differing
  FROM credits.statement('stmt', now() - interval '45 days', now() + interval '5 days', 'week') s
  JOIN (SELECT bucket, sum(carried_forward) AS cf, sum(allocated) AS al, sum(consumed) AS co, sum(refunded) AS re,
               sum(expired) AS ex, sum(voided) AS vo, sum(remaining) AS rm
          FROM credits.statement_by_kind('stmt', now() - interval '45 days', now() + interval '5 days', 'week')
         GROUP BY bucket) k USING (bucket)
 WHERE (s.carried_forward, s.allocated, s.consumed, s.refunded, s.expired, s.voided, s.remaining)
       <> (k.cf, k.al, k.co, k.re, k.ex, k.vo, k.rm);
SELECT kind, allocated, consumed, refunded, expired, voided, remaining
  FROM credits.statement_by_kind('stmt', now() - interval '45 days', now() + interval '5 days', 'total');

-- errors
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.statement('stmt', now(), now(), 'year')$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.statement('stmt', now(), now(), 'day', 'Mars/Olympus')$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.statement('stmt', now(), now(), 'day', NULL)$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.statement_by_kind('stmt_nowhere', now(), now())$$);

-- docs/reports.md, the article's cases, on pool reports_docs (made in
-- sql/reports.sql: 100 free from 2025-01-10 to 2025-02-01, 500 purchased
-- from 2025-01-20, 300 plan from 2025-02-01 to 2025-04-01)
-- free vs purchased (and plan), by month
SELECT (bucket AT TIME ZONE 'UTC')::date AS month, kind, carried_forward, allocated, expired, remaining
  FROM credits.statement_by_kind('reports_docs', '2025-01-01 00:00+00', '2025-04-01 00:00+00', 'month');
-- daily, in the admin's time zone
SET TIME ZONE 'America/Los_Angeles';
SELECT bucket, carried_forward, allocated, remaining
  FROM credits.statement('reports_docs', '2025-01-18 00:00', '2025-01-21 00:00', 'day', 'America/Los_Angeles');
RESET TIME ZONE;
-- a custom range as one row
SELECT carried_forward, allocated, consumed, expired, remaining
  FROM credits.statement('reports_docs', '2025-01-15 00:00+00', '2025-03-15 00:00+00', 'total');
-- the balance at an instant
SELECT credits.balance_at('reports_docs', '2025-01-31 12:00+00') AS jan_31,
       credits.balance_at('reports_docs', '2025-02-02 00:00+00') AS feb_2;
