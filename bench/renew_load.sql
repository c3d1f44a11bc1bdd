-- Data for bench/renew.sh, written in bulk straight into credits' tables
-- (what credits.create_pool / credits.subscribe would write):
--   :pools pools p1 .. pN;
--   :subs monthly subscriptions spread round-robin over the pools (plans
--   plan1, plan2, ...), anchored on the 1st of a month 13 months ago, each
--   with its grants issued through the period before the current one, so
--   that exactly one period (the current month's) is due for every one;
--   every :capped-th of them has a rollover cap (rollover_max, issued one by
--   one by renew_subscriptions); rollover_periods 1;
--   one grant and one 'grant' ledger entry for each one's last issued
--   period (still live: it expires at the end of the current month).
-- psql -v pools=10000 -v subs=100000 -v capped=0 -f bench/renew_load.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
INSERT INTO credits.pools (pool) SELECT 'p' || i FROM generate_series(1, :pools) i ORDER BY i;
CREATE TEMP TABLE anchor AS
SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '13 months' AS at;
INSERT INTO credits.subscriptions (pool_id, plan, credits_per_period, period, rollover_periods, kind, anchor,
                                   issued_through, rollover_max)
SELECT (i % :pools) + 1, 'plan' || (i / :pools + 1), 100000000, interval '1 month', 1, 'plan', a.at,
       12, CASE WHEN :capped > 0 AND i % greatest(:capped, 1) = 0 THEN 150000000 END
  FROM generate_series(0, :subs - 1) i, anchor a
 ORDER BY 1, 2;
INSERT INTO credits.grants (pool_id, kind, rank, amount, remaining, effective_at, expires_at, external_ref,
                            subscription_id, period_index, created_at)
SELECT s.pool_id, 'plan', credits._kind_rank('plan'), s.credits_per_period, s.credits_per_period,
       credits._period_at(s.anchor, s.period, 12), credits._period_at(s.anchor, s.period, 14), s.plan,
       s.subscription_id, 12, credits._period_at(s.anchor, s.period, 12)
  FROM credits.subscriptions s ORDER BY s.pool_id, s.subscription_id;
INSERT INTO credits.ledger (pool_id, at, entry_type, grant_id, amount, reason)
SELECT g.pool_id, g.effective_at, 'grant', g.grant_id, g.amount, format('subscription %s, period %s', g.external_ref, 12)
  FROM credits.grants g ORDER BY g.grant_id;
COMMIT;
VACUUM (ANALYZE) credits.pools, credits.subscriptions, credits.grants, credits.ledger;
