-- The reading side: plain views over the tables, amounts in credits.

-- Each grant as it stands now. remaining and held count the parts of lapsed
-- holds (credits._lapsed_hold_parts) as given back already, as balance()
-- does: remaining where the grant is still live (a dead grant's part
-- expires with it), never as held.
CREATE VIEW credits.grant_balances AS
SELECT g.grant_id,
       p.pool,
       g.member,
       g.kind::text AS kind,
       credits._to_credits(g.amount) AS amount,
       credits._to_credits(g.remaining) AS remaining,
       credits._to_credits(g.held) AS held,
       g.effective_at,
       g.expires_at,
       CASE
           WHEN g.voided_at IS NOT NULL THEN 'voided'
           WHEN g.expired_at IS NOT NULL OR g.expires_at <= now() THEN 'expired'
           WHEN g.effective_at > now() THEN 'scheduled'
           WHEN g.remaining = 0 AND g.held = 0 THEN 'exhausted'
           ELSE 'active'
       END AS status,
       coalesce(g.priority, g.rank) AS priority,
       g.external_ref,
       g.metadata,
       g.created_at,
       g.features
  FROM (SELECT gr.grant_id, gr.pool_id, gr.member, gr.kind, gr.amount, gr.effective_at, gr.expires_at,
               gr.voided_at, gr.expired_at, gr.priority, gr.rank, gr.external_ref, gr.metadata, gr.created_at,
               gr.features,
               gr.remaining + CASE WHEN gr.voided_at IS NULL AND gr.expired_at IS NULL
                                        AND (gr.expires_at IS NULL OR gr.expires_at > now())
                                   THEN coalesce(l.held, 0) ELSE 0 END AS remaining,
               gr.held - coalesce(l.held, 0) AS held
          FROM credits.grants gr
          LEFT JOIN (SELECT lp.pool_id, lp.grant_id, sum(lp.held) AS held
                       FROM credits._lapsed_hold_parts lp GROUP BY lp.pool_id, lp.grant_id) l
                 ON l.pool_id = gr.pool_id AND l.grant_id = gr.grant_id) g
  JOIN credits.pools p USING (pool_id);

-- One row per pool; available is what balance(pool) returns.
CREATE VIEW credits.pool_balances AS
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
      SELECT gr.remaining + CASE WHEN gr.live THEN coalesce(l.held, 0) ELSE 0 END AS remaining,
             gr.held - coalesce(l.held, 0) AS held,
             gr.kind, gr.expires_at, gr.live, gr.scheduled
        FROM (SELECT x.grant_id, x.remaining, x.held, x.kind, x.expires_at,
                     (x.voided_at IS NULL AND x.expired_at IS NULL AND x.effective_at <= now()
                      AND (x.expires_at IS NULL OR x.expires_at > now())) AS live,
                     (x.voided_at IS NULL AND x.expired_at IS NULL AND x.effective_at > now()) AS scheduled
                FROM credits.grants x
               WHERE x.pool_id = p.pool_id AND (x.remaining > 0 OR x.held > 0)) gr
        LEFT JOIN (SELECT lp.grant_id, sum(lp.held) AS held
                     FROM credits._lapsed_hold_parts lp WHERE lp.pool_id = p.pool_id GROUP BY lp.grant_id) l
               ON l.grant_id = gr.grant_id
  ) g ON true
 GROUP BY p.pool_id, p.pool, p.name;

-- One row per member. percent_used is 100 * used / credit_limit (held
-- credits are not usage; remaining_limit accounts for them); the
-- member_usage_percent alert uses the same figure.
CREATE VIEW credits.member_usage AS
SELECT p.pool,
       m.member,
       credits._to_credits(u.used) AS used,
       credits._to_credits(u.held) AS held,
       credits._to_credits(m.credit_limit) AS credit_limit,
       CASE
           WHEN m.credit_limit IS NULL THEN NULL
           WHEN m.credit_limit = 0 THEN CASE WHEN u.used > 0 THEN 100.00 ELSE 0.00 END
           ELSE round(u.used::numeric * 100 / m.credit_limit, 2)
       END AS percent_used,
       credits._to_credits(CASE WHEN m.credit_limit IS NULL THEN NULL
                               ELSE greatest(m.credit_limit - u.used - u.held, 0) END) AS remaining_limit,
       m.period::text AS period,
       CASE WHEN m.revoked THEN 'revoked' ELSE 'active' END AS access
  FROM credits.members m
  JOIN credits.pools p USING (pool_id)
  CROSS JOIN LATERAL (
      SELECT CASE WHEN m.period_start = credits._period_start(m.period, now()) THEN m.used ELSE 0 END AS used,
             m.held - coalesce((SELECT sum(lp.held) FROM credits._lapsed_hold_parts lp
                                 WHERE lp.pool_id = m.pool_id AND lp.member = m.member), 0) AS held
  ) u;

-- One row per charge attempt (succeeded or refused) and per capture.
CREATE VIEW credits.transaction_log AS
SELECT h.at,
       p.pool,
       h.member,
       h.feature,
       credits._to_credits(h.requested) AS credits,
       -- in deduction order: a charge writes its parts in the order it takes them
       ARRAY(SELECT g.kind::text
               FROM credits.ledger x
               JOIN credits.grants g ON g.pool_id = x.pool_id AND g.grant_id = x.grant_id
              WHERE x.pool_id = h.pool_id AND x.charge_id = h.entry_id
                AND x.entry_type = h.entry_type AND x.grant_id IS NOT NULL
              GROUP BY g.kind
              ORDER BY min(x.entry_id)) AS credit_kinds,
       h.status::text AS status,
       h.reason,
       h.entry_id AS charge_id,
       h.idempotency_key,
       h.metadata,
       h.entry_type::text AS operation,
       h.actor,
       -- charge_usage: the quantity priced, and the unit of the rate used
       h.quantity,
       (SELECT r.unit
          FROM credits.rates r
         WHERE h.quantity IS NOT NULL AND r.feature = h.feature AND r.effective_from <= h.at
         ORDER BY r.effective_from DESC
         LIMIT 1) AS unit,
       credits._to_credits(h.balance_after) AS balance_after,
       credits._to_credits((SELECT coalesce(sum(x.amount), 0)
                              FROM credits.ledger x
                             WHERE x.pool_id = h.pool_id AND x.charge_id = h.entry_id
                               AND x.entry_type = 'refund')) AS refunded
  FROM credits.ledger h
  JOIN credits.pools p USING (pool_id)
 WHERE h.status IS NOT NULL
   -- a hold is not a charge: its capture is
   AND h.entry_type <> 'hold';

-- Pending holds: a hold past its TTL has lapsed and is not here.
CREATE VIEW credits.hold_balances AS
SELECT h.hold_id,
       p.pool,
       h.member,
       h.feature,
       credits._to_credits(h.amount) AS amount,
       h.expires_at
  FROM credits.holds h
  JOIN credits.pools p USING (pool_id)
 WHERE h.status = 'pending' AND h.expires_at > now();

-- The ledger as readers see it: pool keys and amounts in credits.
CREATE VIEW credits.ledger_entries AS
SELECT l.entry_id,
       l.at,
       l.actor,
       l.entry_type::text AS entry_type,
       p.pool,
       l.member,
       l.grant_id,
       credits._to_credits(l.amount) AS amount,
       credits._to_credits(l.held) AS held,
       l.charge_id,
       l.hold_id,
       l.status::text AS status,
       l.reason,
       l.feature,
       l.idempotency_key,
       l.metadata
  FROM credits.ledger l
  JOIN credits.pools p USING (pool_id);

-- One row per budget: used in its current period, held by its members'
-- pending holds (lapsed ones counted as given back, as member_usage does).
CREATE VIEW credits.budget_usage AS
SELECT p.pool,
       b.budget,
       (SELECT count(*) FROM credits.members m WHERE m.pool_id = b.pool_id AND m.budget = b.budget) AS members,
       credits._to_credits(u.used) AS used,
       credits._to_credits(u.held) AS held,
       credits._to_credits(b.credit_limit) AS credit_limit,
       CASE
           WHEN b.credit_limit IS NULL THEN NULL
           WHEN b.credit_limit = 0 THEN CASE WHEN u.used > 0 THEN 100.00 ELSE 0.00 END
           ELSE round(u.used::numeric * 100 / b.credit_limit, 2)
       END AS percent_used,
       credits._to_credits(CASE WHEN b.credit_limit IS NULL THEN NULL
                               ELSE greatest(b.credit_limit - u.used - u.held, 0) END) AS remaining_limit,
       b.period::text AS period
  FROM credits.budgets b
  JOIN credits.pools p USING (pool_id)
  CROSS JOIN LATERAL (
      SELECT CASE WHEN b.period_start = credits._period_start(b.period, now()) THEN b.used ELSE 0 END AS used,
             greatest(b.held - coalesce((SELECT sum(lp.held) FROM credits._lapsed_hold_parts lp
                                           JOIN credits.members m ON m.pool_id = lp.pool_id AND m.member = lp.member
                                          WHERE lp.pool_id = b.pool_id AND m.budget = b.budget), 0), 0) AS held
  ) u;

-- What \df+ and \dv+ show.
COMMENT ON VIEW credits.grant_balances IS 'One row per grant: amount, remaining, held and status.';
COMMENT ON VIEW credits.pool_balances IS 'One row per pool: available, held, remaining by kind, and what expires soon.';
COMMENT ON VIEW credits.member_usage IS 'One row per member: usage this period, held credits, limit and access.';
COMMENT ON VIEW credits.transaction_log IS 'One row per charge attempt or capture, succeeded or refused.';
COMMENT ON VIEW credits.hold_balances IS 'Pending holds (not lapsed): amount and expiry.';
COMMENT ON VIEW credits.ledger_entries IS 'The append-only ledger, with pool keys and amounts in credits.';
COMMENT ON VIEW credits.budget_usage IS 'One row per budget: its members, used and held this period, limit and what remains.';
