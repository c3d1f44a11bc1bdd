-- Subscriptions in 0.3: subscribe(..., rollover_max, external_ref) and
-- change_subscription(pool, plan, credits_per_period, rollover_periods,
-- rollover_max). At each period start, what remains of the subscription's
-- earlier grants beyond rollover_max expires, the oldest first; a change
-- applies from the next period on. Dates are relative to the current
-- month, so only figures are printed.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('sc') > 0 AS created;
SELECT date_trunc('month', now(), 'UTC') AS m0 \gset
SELECT credits.subscribe('sc', 'pro', 100, '1 month', 3, 'plan', :'m0', rollover_max => 150,
                         external_ref => 'stripe:sub_1') > 0 AS subscribed;
SELECT period_index, amount / 1000000 AS amount, external_ref FROM credits.grants g
  JOIN credits.pools p USING (pool_id) WHERE p.pool = 'sc' ORDER BY period_index;
SELECT status, charged FROM credits.charge('sc', 'alice', 30);
-- period 1: 70 + nothing older: under the cap of 150, nothing expires
CALL credits.renew_subscriptions(:'m0'::timestamptz + interval '1 month 1 day');
-- period 2: 70 + 100 carried over is 170: the 20 above 150 expire, from the oldest grant
CALL credits.renew_subscriptions(:'m0'::timestamptz + interval '2 months 1 day');
SELECT g.period_index, credits._to_credits(g.remaining) AS remaining, g.external_ref,
       g.expires_at = credits._period_at(:'m0', '1 month', g.period_index + 4) AS expires_after_3_more
  FROM credits.grants g JOIN credits.pools p USING (pool_id) WHERE p.pool = 'sc' ORDER BY g.period_index;
SELECT l.amount, l.at = credits._period_at(:'m0', '1 month', 2) AS at_period_start, l.reason
  FROM credits.ledger_entries l WHERE l.pool = 'sc' AND l.entry_type = 'expire' ORDER BY l.entry_id;

-- change_subscription: 40 a period, no rollover of periods, at most 50 carried
-- over; the current period's grant (period 2) keeps its 100
SELECT credits.change_subscription('sc', 'pro', 40, 0, 50);
SELECT credits_per_period, rollover_periods, rollover_max, external_ref
  FROM credits.subscription_status WHERE pool = 'sc';
CALL credits.renew_subscriptions(:'m0'::timestamptz + interval '3 months 1 day');
-- at period 3's start 50 + 100 + 100 remained of periods 0-2: 200 above 50 expired, oldest first
SELECT g.period_index, credits._to_credits(g.amount) AS amount, credits._to_credits(g.remaining) AS remaining,
       -- periods 0-2 keep their expiry (3 periods of rollover), period 3 has none
       g.expires_at = credits._period_at(:'m0', '1 month', g.period_index + CASE WHEN g.period_index < 3 THEN 4 ELSE 1 END)
           AS expiry_as_issued
  FROM credits.grants g JOIN credits.pools p USING (pool_id) WHERE p.pool = 'sc' ORDER BY g.period_index;
-- NULL keeps a value
SELECT credits.change_subscription('sc', 'pro', 45);
SELECT credits_per_period, rollover_periods, rollover_max FROM credits.subscription_status WHERE pool = 'sc';

-- the expiries are reported as expired, and every row adds up
SELECT sum(allocated) AS allocated, sum(consumed) AS consumed, sum(expired) AS expired,
       bool_and(carried_forward + allocated - consumed + refunded - expired - voided = remaining) AS adds_up
  FROM credits.monthly_summary WHERE pool = 'sc';
SELECT sum(expired) AS expired,
       bool_and(carried_forward + allocated - consumed + refunded - expired - voided = remaining) AS adds_up
  FROM credits.statement_by_kind('sc', :'m0', :'m0'::timestamptz + interval '5 months', 'month');
SELECT * FROM credits.verify();

-- without external_ref the grants carry the plan's name, as before
SELECT credits.subscribe('sc', 'basic', 10, anchor => :'m0') > 0 AS subscribed;
SELECT DISTINCT g.external_ref FROM credits.grants g JOIN credits.subscriptions s USING (pool_id, subscription_id)
 WHERE s.plan = 'basic';

-- errors
SELECT code, message FROM regress.error_of($$SELECT credits.change_subscription('sc', 'nope', 10)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.change_subscription('nope', 'pro', 10)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.change_subscription('sc', 'pro', NULL)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.change_subscription('sc', 'pro', 0)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.change_subscription('sc', 'pro', 10, -1)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.change_subscription('sc', 'pro', 10, NULL, -1)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.change_subscription('sc', 'pro', 10, NULL, 0.0000001)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.subscribe('sc', 'x', 10, rollover_max => -5)$$);
SELECT credits.cancel_subscription('sc', 'pro');
SELECT code, message FROM regress.error_of($$SELECT credits.change_subscription('sc', 'pro', 10)$$);
