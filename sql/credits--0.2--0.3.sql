-- credits 0.2 -> 0.3. The whole current schema is sql/schema/*.sql; this
-- script makes a 0.2 database equal to a fresh 0.3 one
-- (test/stress/dump_upgrade.sh compares the two catalogs).
\echo Use "ALTER EXTENSION credits UPDATE TO '0.3'" to load this file. \quit

-- 0.2 left PUBLIC's default EXECUTE on some internal functions and the
-- default (NULL) ACL on two sequences; 0.3 revokes everything from PUBLIC.
REVOKE ALL ON ALL TABLES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA credits FROM PUBLIC;

-- pool_balances named its grants' columns with gr.*, which a view fixes at
-- creation: an updated database's view lacked the columns added since.
CREATE OR REPLACE VIEW credits.pool_balances AS
SELECT p.pool,
       p.name,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.live), 0)) AS available,
       credits._to_credits(coalesce(sum(g.held), 0)) AS held,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.live AND g.kind = 'free'), 0)) AS free_remaining,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.live AND g.kind = 'promo'), 0)) AS promo_remaining,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.live AND g.kind = 'plan'), 0)) AS plan_remaining,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.live AND g.kind = 'purchased'), 0)) AS purchased_remaining,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.live AND g.expires_at <= now() + interval '30 days'), 0)) AS expiring_30d,
       min(g.expires_at) FILTER (WHERE g.live AND g.remaining > 0) AS next_expiry_at,
       credits._to_credits(coalesce(sum(g.remaining) FILTER (WHERE g.scheduled), 0)) AS scheduled
  FROM credits.pools p
  LEFT JOIN LATERAL (
      SELECT gr.remaining, gr.held, gr.kind, gr.expires_at,
             (gr.voided_at IS NULL AND gr.expired_at IS NULL AND gr.effective_at <= now()
              AND (gr.expires_at IS NULL OR gr.expires_at > now())) AS live,
             (gr.voided_at IS NULL AND gr.expired_at IS NULL AND gr.effective_at > now()) AS scheduled
        FROM credits.grants gr
       WHERE gr.pool_id = p.pool_id AND (gr.remaining > 0 OR gr.held > 0)
  ) g ON true
 GROUP BY p.pool_id, p.pool, p.name;

-- One line on every public function, procedure and view (\df+, \dv+).
COMMENT ON FUNCTION credits.create_pool(text, text, jsonb) IS 'Creates a pool of credits for an organization; returns its id.';
COMMENT ON FUNCTION credits.set_member_limit(text, text, numeric, text) IS 'Sets a member''s credit limit per period (month, week, day, none); NULL removes it.';
COMMENT ON FUNCTION credits.set_member_limits(text, text[], numeric, text, text) IS 'Sets the credit limit of several members: each gets the amount, or a split of it.';
COMMENT ON FUNCTION credits.remove_member_limit(text, text) IS 'Removes a member''s credit limit.';
COMMENT ON FUNCTION credits.revoke_access(text, text) IS 'Revokes a member''s access: its charges and holds are refused.';
COMMENT ON FUNCTION credits.restore_access(text, text) IS 'Restores a revoked member''s access.';
COMMENT ON FUNCTION credits.grant(text, numeric, text, timestamptz, text, timestamptz, integer, text, jsonb) IS 'Adds a lot of credits (free, promo, plan or purchased) to a pool; returns the grant id.';
COMMENT ON FUNCTION credits.void_grant(bigint, text) IS 'Removes what remains of a grant (e.g. a chargeback); returns the amount voided.';
COMMENT ON FUNCTION credits.current_actor() IS 'The role that called into the credits API, as recorded in the ledger.';
COMMENT ON FUNCTION credits.charge(text, text, numeric, text, text, jsonb) IS 'Charges a member''s action to its pool in FIFO order; raises a CR error when refused.';
COMMENT ON FUNCTION credits.try_charge(text, text, numeric, text, text, jsonb) IS 'Charges like charge(), but returns a refusal as a status and logs the failed attempt.';
COMMENT ON FUNCTION credits.balance(text, text) IS 'The credits a pool, or one member of it, can spend now.';
COMMENT ON FUNCTION credits.charge_usage(text, text, text, numeric, text, jsonb) IS 'Charges a quantity of a feature at the rate in force now.';
COMMENT ON FUNCTION credits.reserve(text, text, numeric, interval, text, text, jsonb) IS 'Holds credits for work whose cost is not yet known; returns the hold id.';
COMMENT ON FUNCTION credits.capture(bigint, numeric, jsonb) IS 'Charges all or part of a pending hold and releases the rest.';
COMMENT ON FUNCTION credits.release(bigint) IS 'Releases a pending hold; returns the amount released.';
COMMENT ON FUNCTION credits.refund(bigint, numeric, text) IS 'Returns all or part of a charge to the grants it came from; returns the amount refunded.';
COMMENT ON FUNCTION credits.set_rate(text, numeric, text, timestamptz) IS 'Sets a feature''s rate (credits per unit) from a given time on; the history is kept.';
COMMENT ON VIEW credits.rate_card IS 'The rates in force now and those scheduled.';
COMMENT ON FUNCTION credits.set_frequency_cap(text, text, integer, interval) IS 'Caps how often each member of a pool may call a feature within a window.';
COMMENT ON FUNCTION credits.remove_frequency_cap(text, text) IS 'Removes a pool''s frequency cap on a feature.';
COMMENT ON PROCEDURE credits.expire_holds(timestamptz) IS 'Lapses every pending hold past its TTL, in batches that commit as they go.';
COMMENT ON FUNCTION credits.subscribe(text, text, numeric, interval, integer, text, timestamptz) IS 'Subscribes a pool to a plan that grants credits every period; returns the subscription id.';
COMMENT ON FUNCTION credits.cancel_subscription(text, text) IS 'Cancels a pool''s subscription to a plan: no further periods are issued.';
COMMENT ON PROCEDURE credits.renew_subscriptions(timestamptz) IS 'Issues the grants of subscription periods that have started, in batches.';
COMMENT ON PROCEDURE credits.expire_grants(timestamptz) IS 'Expires what remains of grants past their expires_at, in batches.';
COMMENT ON VIEW credits.subscription_status IS 'One row per subscription: what it issues, and when.';
COMMENT ON PROCEDURE credits.maintain() IS 'Runs renew_subscriptions, expire_grants and expire_holds: the one job to schedule with pg_cron.';
COMMENT ON FUNCTION credits.set_alert(text, text, numeric) IS 'Sets an alert on a pool''s balance or its members'' usage of their limits.';
COMMENT ON FUNCTION credits.remove_alert(text, text) IS 'Removes a pool''s alert on a metric.';
COMMENT ON VIEW credits.grant_balances IS 'One row per grant: amount, remaining, held and status.';
COMMENT ON VIEW credits.pool_balances IS 'One row per pool: available, held, remaining by kind, and what expires soon.';
COMMENT ON VIEW credits.member_usage IS 'One row per member: usage this period, held credits, limit and access.';
COMMENT ON VIEW credits.transaction_log IS 'One row per charge attempt or capture, succeeded or refused.';
COMMENT ON VIEW credits.ledger_entries IS 'The append-only ledger, with pool keys and amounts in credits.';
COMMENT ON VIEW credits.monthly_summary IS 'Per pool and month: allocated, consumed, refunded, expired, voided, carried forward, remaining.';
COMMENT ON VIEW credits.usage_by_feature IS 'Per pool, month, member and feature: calls and credits charged.';
COMMENT ON FUNCTION credits.statement(text, timestamptz, timestamptz, text) IS 'A pool''s flows of credits for any range, by day or month.';
COMMENT ON FUNCTION credits.verify() IS 'Every broken invariant of the credits data; empty when balances equal the ledger.';
