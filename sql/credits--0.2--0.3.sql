-- credits 0.2 -> 0.3. The whole current schema is sql/schema/*.sql; this
-- script makes a 0.2 database equal to a fresh 0.3 one
-- (test/stress/dump_upgrade.sh compares the two catalogs).
\echo Use "ALTER EXTENSION credits UPDATE TO '0.3'" to load this file. \quit

-------------------------------------------------------------------------------
-- Checked values become domains (sql/schema/tables.sql says why). The views,
-- SQL-standard functions and trigger that name those columns are dropped
-- here and made again below, as 0.3 defines them.
-------------------------------------------------------------------------------
DROP VIEW credits.monthly_summary, credits.usage_by_feature, credits.transaction_log, credits.pool_balances,
	credits.member_usage, credits.ledger_entries, credits.grant_balances;
DROP FUNCTION credits.verify(), credits._flows(bigint), credits._refundable_parts(bigint, bigint),
	credits._usage_since(bigint, text, timestamptz), credits._available(bigint, timestamptz),
	credits._overdue_held(bigint, timestamptz), credits._grant_dead(credits.grants, timestamptz);
DROP TRIGGER members_alerts ON credits.members;

-- (The table constraints go first: a domain's constraint may take the name
-- one of them had, ledger_entry_type_check.)
ALTER TABLE credits.pools DROP CONSTRAINT pools_topup_increment_check;
ALTER TABLE credits.members DROP CONSTRAINT members_credit_limit_check, DROP CONSTRAINT members_period_check,
	DROP CONSTRAINT members_used_check, DROP CONSTRAINT members_held_check;
-- grants_check (expires_at after effective_at) goes: grant() checks it, and
-- an amended expiry may come before effective_at.
ALTER TABLE credits.grants DROP CONSTRAINT grants_kind_check, DROP CONSTRAINT grants_amount_check,
	DROP CONSTRAINT grants_remaining_check, DROP CONSTRAINT grants_held_check, DROP CONSTRAINT grants_check;
ALTER TABLE credits.ledger DROP CONSTRAINT ledger_entry_type_check, DROP CONSTRAINT ledger_status_check;
ALTER TABLE credits.holds DROP CONSTRAINT holds_amount_check, DROP CONSTRAINT holds_check,
	DROP CONSTRAINT holds_status_check;
ALTER TABLE credits.hold_parts DROP CONSTRAINT hold_parts_held_check;
-- New columns of grants (the views below name them): a retried grant's
-- idempotency key, and the features scoped credits are usable for.
ALTER TABLE credits.grants ADD COLUMN idempotency_key text, ADD COLUMN features text[];

CREATE DOMAIN credits.micros AS bigint CHECK (VALUE >= 0);
CREATE DOMAIN credits.positive_micros AS bigint CHECK (VALUE > 0);
CREATE DOMAIN credits.grant_kind AS text CHECK (VALUE IN ('free', 'promo', 'plan', 'purchased'));
CREATE DOMAIN credits.limit_period AS text CHECK (VALUE IN ('month', 'week', 'day', 'none'));
CREATE DOMAIN credits.ledger_entry_type AS text
	CHECK (VALUE IN ('grant', 'charge', 'hold', 'capture', 'release', 'refund', 'expire', 'void', 'adjust'));
CREATE DOMAIN credits.attempt_status AS text
	CHECK (VALUE IN ('succeeded', 'insufficient_credits', 'member_limit_exceeded', 'access_revoked', 'rate_limited',
	                 'budget_exceeded'));
CREATE DOMAIN credits.hold_status AS text CHECK (VALUE IN ('pending', 'captured', 'released', 'lapsed'));

ALTER TABLE credits.pools ALTER COLUMN topup_increment TYPE credits.positive_micros;
ALTER TABLE credits.members ALTER COLUMN credit_limit TYPE credits.micros, ALTER COLUMN period TYPE credits.limit_period,
	ALTER COLUMN used TYPE credits.micros, ALTER COLUMN held TYPE credits.micros;
ALTER TABLE credits.grants ALTER COLUMN kind TYPE credits.grant_kind, ALTER COLUMN amount TYPE credits.positive_micros,
	ALTER COLUMN remaining TYPE credits.micros, ALTER COLUMN held TYPE credits.micros;
ALTER TABLE credits.ledger ALTER COLUMN entry_type TYPE credits.ledger_entry_type,
	ALTER COLUMN status TYPE credits.attempt_status;
ALTER TABLE credits.holds ALTER COLUMN amount TYPE credits.micros, ALTER COLUMN captured TYPE credits.micros,
	ALTER COLUMN status TYPE credits.hold_status, ADD CONSTRAINT holds_check CHECK (captured <= amount);
ALTER TABLE credits.hold_parts ALTER COLUMN held TYPE credits.micros;

-------------------------------------------------------------------------------
-- Made again. Since 0.2: a hold past its TTL is lapsed everywhere at once
-- (one definition of its parts, _lapsed_hold_parts, shared by balance() and
-- the views); transaction_log has no row for holds; percent_used is
-- used / limit; the views give text, not the domains.
-------------------------------------------------------------------------------
-- Credits a pool can spend at `at` (in micros): live lots, holds excluded.
CREATE FUNCTION credits._available(p_pool_id bigint, p_at timestamptz)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT coalesce(sum(g.remaining), 0)::bigint
	  FROM credits.grants g
	 WHERE g.pool_id = p_pool_id
	   AND g.remaining > 0
	   AND g.voided_at IS NULL
	   AND g.expired_at IS NULL
	   AND g.effective_at <= p_at
	   AND (g.expires_at IS NULL OR g.expires_at > p_at);
END;

-- A grant that can no longer be spent: voided, expired by expire_grants, or
-- past its expires_at.
CREATE FUNCTION credits._grant_dead(g credits.grants, p_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN g.voided_at IS NOT NULL OR g.expired_at IS NOT NULL OR (g.expires_at IS NOT NULL AND g.expires_at <= p_at);

-- A member's consumption (charges and captures, net of their refunds) since
-- `since`, in micros: what its usage counter holds after a period change.
CREATE FUNCTION credits._usage_since(p_pool_id bigint, p_member text, p_since timestamptz)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT (coalesce((SELECT -sum(l.amount + l.held)
	                    FROM credits.ledger l
	                   WHERE l.pool_id = p_pool_id AND l.member = p_member
	                     AND l.entry_type IN ('charge', 'capture') AND l.at >= p_since), 0)
	      - coalesce((SELECT sum(r.amount)
	                    FROM credits.ledger r
	                    JOIN credits.ledger c ON c.pool_id = r.pool_id AND c.entry_id = r.charge_id
	                   WHERE r.pool_id = p_pool_id AND r.member = p_member
	                     AND r.entry_type = 'refund' AND c.at >= p_since), 0))::bigint;
END;

-- The held parts of pending holds past their TTL. Such a hold has lapsed,
-- whether or not a write or expire_holds has recorded it yet: balance() and
-- the views (grant_balances, pool_balances, member_usage) count these parts
-- as not held, and as available again where their grant is still live.
CREATE VIEW credits._lapsed_hold_parts AS
SELECT h.pool_id, h.hold_id, h.member, hp.grant_id, hp.held
  FROM credits.holds h
  JOIN credits.hold_parts hp ON hp.pool_id = h.pool_id AND hp.hold_id = h.hold_id
 WHERE h.status = 'pending' AND h.expires_at <= now() AND hp.held > 0;

CREATE FUNCTION credits._refundable_parts(p_pool_id bigint, p_charge_id bigint)
RETURNS TABLE (grant_id bigint, entry_id bigint, refundable bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT l.grant_id, max(l.entry_id) FILTER (WHERE l.entry_type <> 'refund'),
	       sum(CASE WHEN l.entry_type = 'capture' THEN -l.held ELSE -l.amount END)::bigint
	  FROM credits.ledger l
	 WHERE l.pool_id = p_pool_id AND l.charge_id = p_charge_id AND l.grant_id IS NOT NULL
	   AND l.entry_type IN ('charge', 'capture', 'refund')
	 GROUP BY l.grant_id;
END;

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

CREATE FUNCTION credits.verify()
RETURNS TABLE (problem text, object text, detail text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	WITH sums AS (
		SELECT l.pool_id, l.grant_id, sum(l.amount) AS amount, sum(l.held) AS held
		  FROM credits.ledger l
		 WHERE l.grant_id IS NOT NULL
		 GROUP BY l.pool_id, l.grant_id
	)
	SELECT 'balance differs from ledger', 'grant ' || g.grant_id,
	       format('remaining %s, held %s; the ledger sums to %s and %s',
	              credits._to_credits(g.remaining), credits._to_credits(g.held),
	              credits._to_credits(coalesce(s.amount, 0)), credits._to_credits(coalesce(s.held, 0)))
	  FROM credits.grants g
	  LEFT JOIN sums s ON s.pool_id = g.pool_id AND s.grant_id = g.grant_id
	 WHERE g.remaining IS DISTINCT FROM coalesce(s.amount, 0)::bigint
	    OR g.held IS DISTINCT FROM coalesce(s.held, 0)::bigint
	UNION ALL
	SELECT 'ledger entry for unknown grant', 'grant ' || s.grant_id,
	       format('the ledger moves %s credits', credits._to_credits(s.amount))
	  FROM sums s
	 WHERE NOT EXISTS (SELECT FROM credits.grants g WHERE g.pool_id = s.pool_id AND g.grant_id = s.grant_id)
	UNION ALL
	SELECT 'negative remaining', 'grant ' || g.grant_id,
	       format('remaining %s, held %s', credits._to_credits(g.remaining), credits._to_credits(g.held))
	  FROM credits.grants g
	 WHERE g.remaining < 0 OR g.held < 0
	UNION ALL
	SELECT 'grant holds more than it was granted', 'grant ' || g.grant_id,
	       format('amount %s, remaining %s, held %s', credits._to_credits(g.amount),
	              credits._to_credits(g.remaining), credits._to_credits(g.held))
	  FROM credits.grants g
	 WHERE g.remaining + g.held > g.amount
	UNION ALL
	SELECT 'hold mismatch', 'member ' || p.pool || '/' || m.member,
	       format('member held %s, its grants'' held entries sum to %s', credits._to_credits(m.held),
	              credits._to_credits(coalesce(h.held, 0)))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	  LEFT JOIN (SELECT l.pool_id, l.member, sum(l.held) AS held
	               FROM credits.ledger l
	              WHERE l.entry_type IN ('hold', 'capture', 'release')
	              GROUP BY l.pool_id, l.member) h ON h.pool_id = m.pool_id AND h.member = m.member
	 WHERE m.held <> coalesce(h.held, 0)
	UNION ALL
	SELECT 'usage past a limit', 'member ' || p.pool || '/' || m.member,
	       format('used %s, held %s, limit %s', credits._to_credits(m.used), credits._to_credits(m.held),
	              credits._to_credits(m.credit_limit))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	 WHERE m.credit_limit IS NOT NULL
	   AND m.used + m.held > m.credit_limit
	   -- an owner may lower a limit below what was already used this period
	   AND NOT (m.limit_set_at IS NOT NULL AND m.limit_set_at >= m.period_start)
	UNION ALL
	-- what _usage_since gives for each member, for all members at once:
	-- charges and captures since the member's period start, less the
	-- refunds of those
	SELECT 'usage differs from ledger', 'member ' || p.pool || '/' || m.member,
	       format('used %s this period, the ledger shows %s', credits._to_credits(m.used),
	              credits._to_credits(coalesce(u.used, 0)::bigint))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	  LEFT JOIN (SELECT x.pool_id, x.member, sum(x.used) AS used
	               FROM (SELECT l.pool_id, l.member, -(l.amount + l.held) AS used
	                       FROM credits.ledger l
	                       JOIN credits.members lm ON lm.pool_id = l.pool_id AND lm.member = l.member
	                      WHERE l.entry_type IN ('charge', 'capture') AND l.at >= lm.period_start
	                     UNION ALL
	                     SELECT r.pool_id, r.member, -r.amount
	                       FROM credits.ledger r
	                       JOIN credits.ledger c ON c.pool_id = r.pool_id AND c.entry_id = r.charge_id
	                       JOIN credits.members rm ON rm.pool_id = r.pool_id AND rm.member = r.member
	                      WHERE r.entry_type = 'refund' AND c.at >= rm.period_start) x
	              GROUP BY x.pool_id, x.member) u
	    ON u.pool_id = m.pool_id AND u.member = m.member
	 WHERE m.used <> coalesce(u.used, 0)
	UNION ALL
	SELECT 'hold mismatch', 'grant ' || g.grant_id,
	       format('grant held %s, its pending hold parts sum to %s', credits._to_credits(g.held),
	              credits._to_credits(coalesce(hp.held, 0)))
	  FROM credits.grants g
	  LEFT JOIN (SELECT p.pool_id, p.grant_id, sum(p.held) AS held
	               FROM credits.hold_parts p GROUP BY p.pool_id, p.grant_id) hp
	    ON hp.pool_id = g.pool_id AND hp.grant_id = g.grant_id
	 WHERE g.held <> coalesce(hp.held, 0)
	UNION ALL
	SELECT 'hold mismatch', 'hold ' || h.hold_id,
	       format('%s hold of %s, its parts hold %s', h.status, credits._to_credits(h.amount),
	              credits._to_credits(coalesce(hp.held, 0)))
	  FROM credits.holds h
	  LEFT JOIN (SELECT p.pool_id, p.hold_id, sum(p.held) AS held
	               FROM credits.hold_parts p GROUP BY p.pool_id, p.hold_id) hp
	    ON hp.pool_id = h.pool_id AND hp.hold_id = h.hold_id
	 WHERE coalesce(hp.held, 0) <> CASE WHEN h.status = 'pending' THEN h.amount ELSE 0 END
	UNION ALL
	SELECT 'hold mismatch', 'member ' || p.pool || '/' || m.member,
	       format('member held %s, its pending holds sum to %s', credits._to_credits(m.held),
	              credits._to_credits(coalesce(h.amount, 0)))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	  LEFT JOIN (SELECT x.pool_id, x.member, sum(x.amount) AS amount
	               FROM credits.holds x WHERE x.status = 'pending' GROUP BY x.pool_id, x.member) h
	    ON h.pool_id = m.pool_id AND h.member = m.member
	 WHERE m.held <> coalesce(h.amount, 0)
	UNION ALL
	SELECT 'refund exceeds charge', 'charge ' || r.charge_id,
	       format('grant %s gave %s, refunds returned %s', r.grant_id, credits._to_credits(r.given),
	              credits._to_credits(r.returned))
	  FROM (SELECT l.pool_id, l.charge_id, l.grant_id,
	               sum(CASE WHEN l.entry_type = 'charge' THEN -l.amount WHEN l.entry_type = 'capture' THEN -l.held END) AS given,
	               sum(CASE WHEN l.entry_type = 'refund' THEN l.amount END) AS returned
	          FROM credits.ledger l
	         WHERE l.charge_id IS NOT NULL AND l.grant_id IS NOT NULL
	         GROUP BY l.pool_id, l.charge_id, l.grant_id) r
	 WHERE coalesce(r.returned, 0) > coalesce(r.given, 0);
END;

-- The member_usage_percent alert: used of the limit, as member_usage says.
CREATE OR REPLACE FUNCTION credits._member_alerts()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_threshold numeric;
	v_used bigint;
	v_percent numeric;
	v_period timestamptz;
BEGIN
	SELECT threshold INTO v_threshold FROM credits.alert_rules
	 WHERE pool_id = NEW.pool_id AND metric = 'member_usage_percent';
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	-- the row as committed by this transaction, not as the event saw it
	-- member_usage.percent_used: used of the limit (held credits are not usage)
	SELECT CASE WHEN m.period_start = credits._period_start(m.period, now()) THEN m.used ELSE 0 END,
	       m.credit_limit, credits._period_start(m.period, now())
	  INTO v_used, NEW.credit_limit, v_period
	  FROM credits.members m WHERE m.pool_id = NEW.pool_id AND m.member = NEW.member;
	IF NEW.credit_limit IS NULL THEN
		RETURN NULL;
	END IF;
	v_percent := CASE WHEN NEW.credit_limit = 0 THEN CASE WHEN v_used > 0 THEN 100 ELSE 0 END
	                  ELSE round(v_used * 100.0 / NEW.credit_limit, 2) END;
	-- an alert that fired in an earlier period is armed again: the first
	-- charge of a new period can cross the threshold on its own
	UPDATE credits.alert_state s SET fired = false
	 WHERE s.pool_id = NEW.pool_id AND s.metric = 'member_usage_percent' AND s.member = NEW.member
	   AND s.fired AND s.period_start IS DISTINCT FROM v_period;
	PERFORM credits._alert_check(NEW.pool_id, 'member_usage_percent', NEW.member, v_percent, v_percent >= v_threshold);
	UPDATE credits.alert_state s SET period_start = v_period
	 WHERE s.pool_id = NEW.pool_id AND s.metric = 'member_usage_percent' AND s.member = NEW.member
	   AND s.period_start IS DISTINCT FROM v_period;
	RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER members_alerts AFTER UPDATE ON credits.members
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.credit_limit IS NOT NULL) EXECUTE FUNCTION credits._member_alerts();

-- set_member_limits keeps each member's period.
-- period NULL (the default): each member keeps its period (a new member's
-- is month); a period given sets it for all of them.
CREATE OR REPLACE FUNCTION credits.set_member_limits(pool text, members text[], amount numeric, mode text DEFAULT 'each',
                                          period text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_members text[];
	v_each numeric;
	v_member text;
	v_period text;
BEGIN
	PERFORM credits._require('pool', pool, 'members', members, 'amount', amount, 'mode', mode);
	IF array_position(members, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'members must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF mode NOT IN ('each', 'split') THEN
		RAISE EXCEPTION 'unknown mode "%"', mode
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Modes: each, split.';
	END IF;
	PERFORM credits._amount(amount, 'amount');
	SELECT array_agg(DISTINCT m ORDER BY m) INTO v_members FROM unnest(members) AS m;
	IF v_members IS NULL THEN
		RAISE EXCEPTION 'members must name at least one member' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF mode = 'each' THEN
		v_each := amount;
	ELSE
		v_each := trunc(amount / cardinality(v_members), 6);
	END IF;
	FOREACH v_member IN ARRAY v_members LOOP
		v_period := period;
		IF v_period IS NULL THEN
			SELECT m.period INTO v_period
			  FROM credits.members m JOIN credits.pools p USING (pool_id)
			 WHERE p.pool = set_member_limits.pool AND m.member = v_member;
		END IF;
		PERFORM credits.set_member_limit(pool, v_member, v_each, coalesce(v_period, 'month'));
	END LOOP;
END
$$;

-- A charge's result says which limit fired (reason), and charge_usage has a
-- try_ form.
ALTER TYPE credits.charge_result ADD ATTRIBUTE reason text;
CREATE OR REPLACE FUNCTION credits.capture(hold_id bigint, amount numeric DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS credits.charge_result
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h credits.holds;
	v_amount bigint;
	v_id bigint;
	v_used bigint;
	v_balance bigint;
BEGIN
	PERFORM credits._require('hold_id', hold_id);
	v_amount := credits._amount(amount, 'amount');
	h := credits._pending_hold(hold_id);
	v_amount := coalesce(v_amount, h.amount);
	IF v_amount > h.amount THEN
		RAISE EXCEPTION 'cannot capture % credits: hold % holds %', amount, hold_id, credits._to_credits(h.amount)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Capture at most what was reserved, or reserve more.';
	END IF;
	v_id := nextval('credits.ledger_entry_id_seq');
	PERFORM credits._unhold(h.pool_id, h.hold_id, v_amount, v_id, 'captured', 'rest of hold released', now());
	SELECT m.used INTO v_used FROM credits.members m WHERE m.pool_id = h.pool_id AND m.member = h.member;
	v_balance := credits._available(h.pool_id, now());
	INSERT INTO credits.ledger (entry_id, pool_id, entry_type, member, charge_id, hold_id, status, feature,
	                            requested, balance_after, member_used_after, metadata)
	VALUES (v_id, h.pool_id, 'capture', h.member, v_id, h.hold_id, 'succeeded', h.feature,
	        v_amount, v_balance, v_used, coalesce(capture.metadata, h.metadata));
	RETURN ROW(v_id, 'succeeded', credits._to_credits(v_amount), credits._to_credits(v_balance),
	           credits._to_credits(v_used), false, NULL)::credits.charge_result;
END
$$;

CREATE FUNCTION credits.try_charge_usage(pool text, member text, feature text, quantity numeric,
                                         idempotency_key text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS credits.charge_result AS 'MODULE_PATHNAME', 'credits_try_charge_usage'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- New in 0.3: reports of pending holds, balances at an instant, usage in a
-- range.
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

-- statement() gains week and total buckets, a time zone and the full set of
-- columns (carried_forward, refunded, voided), in a new order; and
-- statement_by_kind().
DROP FUNCTION credits.statement(text, timestamptz, timestamptz, text);
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

-- A grant's ledger entry is dated at its effective_at (entries of 0.2 keep
-- their creation time; reports use effective_at for both); and a grant takes
-- an idempotency key (a new last argument: the function is made again).
CREATE UNIQUE INDEX grants_idempotency_idx ON credits.grants (pool_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL;
DROP FUNCTION credits.grant(text, numeric, text, timestamptz, text, timestamptz, integer, text, jsonb);
CREATE FUNCTION credits.grant(pool text, amount numeric, kind text DEFAULT 'purchased',
                              expires_at timestamptz DEFAULT NULL, member text DEFAULT NULL,
                              effective_at timestamptz DEFAULT now(), priority integer DEFAULT NULL,
                              external_ref text DEFAULT NULL, metadata jsonb DEFAULT NULL,
                              idempotency_key text DEFAULT NULL, features text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_amount bigint;
	v_rank integer;
	v_id bigint;
	v_unspent numeric;
	v_key text := idempotency_key;
	v_first credits.grants;
	v_features text[];
	v_feature text;
BEGIN
	PERFORM credits._require('pool', pool, 'amount', amount, 'kind', kind, 'effective_at', effective_at);
	IF v_key IS NOT NULL THEN
		PERFORM credits._check_key('idempotency_key', v_key);
	END IF;
	v_amount := credits._amount(amount, 'amount', false);
	-- scoped credits: kept as a sorted set of feature keys
	IF features IS NOT NULL THEN
		IF cardinality(features) = 0 OR array_position(features, NULL) IS NOT NULL THEN
			RAISE EXCEPTION 'features must name at least one feature, and no NULL'
				USING ERRCODE = 'invalid_parameter_value',
				      DETAIL = format('features were %s.', features),
				      HINT = 'Pass features => NULL for credits usable by any charge.';
		END IF;
		FOREACH v_feature IN ARRAY features LOOP
			PERFORM credits._check_key('feature', v_feature);
		END LOOP;
		SELECT array_agg(DISTINCT f ORDER BY f) INTO v_features FROM unnest(features) f;
	END IF;
	-- the kind is checked even when an explicit priority replaces its rank
	v_rank := credits._kind_rank(kind);
	IF priority IS NOT NULL THEN
		v_rank := priority;
	END IF;
	IF NOT isfinite(effective_at) OR (expires_at IS NOT NULL AND NOT isfinite(expires_at)) THEN
		RAISE EXCEPTION 'a grant''s effective_at and expires_at must be finite'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('effective_at %s, expires_at %s.', effective_at, coalesce(expires_at::text, 'NULL')),
			      HINT = 'Pass expires_at => NULL for credits that never expire.';
	END IF;
	IF expires_at IS NOT NULL AND expires_at <= effective_at THEN
		RAISE EXCEPTION 'a grant must expire after it takes effect'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('effective_at %s, expires_at %s.', effective_at, expires_at);
	END IF;
	v_pool := credits._lock_pool(pool);
	-- A retried grant (a webhook delivered twice) returns the first one. The
	-- pool lock orders the retries; the key is the pool's, for grants only.
	IF v_key IS NOT NULL THEN
		SELECT * INTO v_first FROM credits.grants g WHERE g.pool_id = v_pool.pool_id AND g.idempotency_key = v_key;
		IF FOUND THEN
			IF v_first.amount <> v_amount OR v_first.kind <> kind OR v_first.member IS DISTINCT FROM member
			   OR v_first.expires_at IS DISTINCT FROM expires_at OR v_first.features IS DISTINCT FROM v_features THEN
				RAISE EXCEPTION 'idempotency key "%" was used for a different grant', v_key
					USING ERRCODE = 'CR005',
					      DETAIL = format('the first grant was %s %s credits%s, expires_at %s.',
					                      credits._to_credits(v_first.amount), v_first.kind,
					                      CASE WHEN v_first.member IS NOT NULL
					                           THEN format(' for member "%s"', v_first.member) ELSE '' END,
					                      coalesce(v_first.expires_at::text, 'NULL')),
					      HINT = 'Use a new key for a new grant; repeat a grant only with the same amount, kind, member, expiry and features.';
			END IF;
			RETURN v_first.grant_id;
		END IF;
	END IF;
	IF kind = 'purchased' AND v_pool.topup_increment IS NOT NULL AND v_amount % v_pool.topup_increment <> 0 THEN
		RAISE EXCEPTION 'purchased amount % is not a multiple of the pool''s top-up increment', amount
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('amount %s, topup_increment %s.', amount, credits._to_credits(v_pool.topup_increment)),
			      HINT = 'Buy credits in multiples of the top-up increment.';
	END IF;
	-- Balances are summed in int64 micro-credits: a pool's unspent credits
	-- stay below 9 * 10^12 so that no sum of them can overflow.
	SELECT coalesce(sum(g.remaining + g.held), 0) INTO v_unspent
	  FROM credits.grants g
	 WHERE g.pool_id = v_pool.pool_id AND g.voided_at IS NULL AND g.expired_at IS NULL;
	IF v_unspent + v_amount > 9000000000000000000 THEN
		RAISE EXCEPTION 'grant of % would take pool "%" above 9000000000000 unspent credits', amount, pool
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('amount %s, unspent %s.', amount, credits._to_credits(v_unspent)),
			      HINT = 'Void what will not be used, or keep the credits in another pool.';
	END IF;
	IF member IS NOT NULL THEN
		PERFORM credits._enroll(v_pool.pool_id, member);
	END IF;
	INSERT INTO credits.grants (pool_id, kind, priority, rank, member, amount, remaining,
	                            effective_at, expires_at, external_ref, metadata, idempotency_key, features)
	VALUES (v_pool.pool_id, kind, priority, v_rank, member, v_amount, v_amount,
	        effective_at, expires_at, external_ref, metadata, v_key, v_features)
	RETURNING grant_id INTO v_id;
	-- dated when it takes effect, as reports count it (an expiry is dated at
	-- expires_at; every other entry when it happened)
	INSERT INTO credits.ledger (pool_id, at, entry_type, member, grant_id, amount, metadata)
	VALUES (v_pool.pool_id, effective_at, 'grant', member, v_id, v_amount, metadata);
	RETURN v_id;
END
$$;

-- extend_hold, and its pool-first form.
-- A pending hold gets a new expiry, now() + ttl (longer or shorter); a hold
-- that is not pending (lapsed included) raises CR006. No credits move, so
-- the ledger has no entry for it.
CREATE FUNCTION credits.extend_hold(hold_id bigint, ttl interval)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h credits.holds;
	v_expires timestamptz;
BEGIN
	PERFORM credits._require('hold_id', hold_id, 'ttl', ttl);
	-- as reserve: positive, and at most 100 years (a timestamp must hold it)
	IF ttl <= interval '0' OR ttl > interval '100 years' THEN
		RAISE EXCEPTION 'invalid ttl: must be a positive interval of at most 100 years'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass an interval such as ''15 minutes''.';
	END IF;
	h := credits._pending_hold(hold_id);
	v_expires := now() + ttl;
	UPDATE credits.holds SET expires_at = v_expires WHERE pool_id = h.pool_id AND holds.hold_id = h.hold_id;
	-- the pool's next hold expiry may be early, never late
	UPDATE credits.pools SET next_hold_expiry = least(next_hold_expiry, v_expires) WHERE pool_id = h.pool_id;
	RETURN v_expires;
END
$$;

CREATE FUNCTION credits.extend_hold(pool text, hold_id bigint, ttl interval)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'hold_id', hold_id);
	PERFORM credits._pool_owns(pool, 'hold', hold_id);
	RETURN credits.extend_hold(hold_id, ttl);
END
$$;

-- set_grant_expiry, and its pool-first form.
-- Moves a live grant's expiry (an amendment): any time, even one before
-- effective_at (a time in the past expires it at the next expire_grants),
-- NULL for never. Recorded as an 'adjust' entry of amount 0 whose metadata
-- has the old and the new time. A voided or expired grant raises 22023.
CREATE FUNCTION credits.set_grant_expiry(grant_id bigint, expires_at timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
	g credits.grants;
BEGIN
	PERFORM credits._require('grant_id', grant_id);
	IF expires_at IS NOT NULL AND NOT isfinite(expires_at) THEN
		RAISE EXCEPTION 'invalid expires_at: must be finite' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Pass NULL for credits that never expire.';
	END IF;
	SELECT pool_id INTO v_pool_id FROM credits.grants WHERE grants.grant_id = set_grant_expiry.grant_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'grant % not found', grant_id USING ERRCODE = 'CR010';
	END IF;
	PERFORM credits._lock_pool_id(v_pool_id);
	SELECT * INTO g FROM credits.grants WHERE pool_id = v_pool_id AND grants.grant_id = set_grant_expiry.grant_id;
	IF g.voided_at IS NOT NULL OR g.expired_at IS NOT NULL OR g.expires_at <= now() THEN
		RAISE EXCEPTION 'grant % is %: its expiry cannot be moved', grant_id,
				CASE WHEN g.voided_at IS NOT NULL THEN 'voided' ELSE 'expired' END
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('expires_at %s.', coalesce(g.expires_at::text, 'NULL'));
	END IF;
	UPDATE credits.grants SET expires_at = set_grant_expiry.expires_at
	 WHERE pool_id = v_pool_id AND grants.grant_id = set_grant_expiry.grant_id;
	INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, reason, metadata)
	VALUES (v_pool_id, 'adjust', g.member, g.grant_id, 0, 'expiry amended',
	        jsonb_build_object('expires_at_before', g.expires_at, 'expires_at', set_grant_expiry.expires_at));
END
$$;

CREATE FUNCTION credits.set_grant_expiry(pool text, grant_id bigint, expires_at timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'grant_id', grant_id);
	PERFORM credits._pool_owns(pool, 'grant', grant_id);
	PERFORM credits.set_grant_expiry(grant_id, expires_at);
END
$$;

-- Pool-first forms, for routing across nodes.
-- Pool-first forms (capture(pool, hold_id, ...) and the like) name the pool
-- first, so that a router can send the call to the node that holds it: the
-- id must be one of that pool's (CR010 otherwise, CR004 for an unknown pool).
CREATE FUNCTION credits._pool_owns(p_pool text, p_what text, p_id bigint)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
	v_found boolean;
BEGIN
	SELECT p.pool_id INTO v_pool_id FROM credits.pools p WHERE p.pool = p_pool;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown pool "%"', p_pool USING ERRCODE = 'CR004', HINT = 'Create it with credits.create_pool().';
	END IF;
	v_found := CASE p_what
		WHEN 'hold' THEN EXISTS (SELECT FROM credits.holds h WHERE h.pool_id = v_pool_id AND h.hold_id = p_id)
		WHEN 'grant' THEN EXISTS (SELECT FROM credits.grants g WHERE g.pool_id = v_pool_id AND g.grant_id = p_id)
		WHEN 'charge' THEN EXISTS (SELECT FROM credits.ledger l WHERE l.pool_id = v_pool_id AND l.entry_id = p_id
		                                                          AND l.entry_type IN ('charge', 'capture'))
	END;
	IF NOT v_found THEN
		RAISE EXCEPTION '% % not found in pool "%"', p_what, p_id, p_pool
			USING ERRCODE = 'CR010', HINT = format('Pass an id of a %s of pool "%s".', p_what, p_pool);
	END IF;
END
$$;

CREATE FUNCTION credits.capture(pool text, hold_id bigint, amount numeric DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS credits.charge_result
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'hold_id', hold_id);
	PERFORM credits._pool_owns(pool, 'hold', hold_id);
	RETURN credits.capture(hold_id, amount, metadata);
END
$$;

CREATE FUNCTION credits.release(pool text, hold_id bigint)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'hold_id', hold_id);
	PERFORM credits._pool_owns(pool, 'hold', hold_id);
	RETURN credits.release(hold_id);
END
$$;

CREATE FUNCTION credits.refund(pool text, charge_id bigint, amount numeric DEFAULT NULL, reason text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'charge_id', charge_id);
	PERFORM credits._pool_owns(pool, 'charge', charge_id);
	RETURN credits.refund(charge_id, amount, reason);
END
$$;

CREATE FUNCTION credits.void_grant(pool text, grant_id bigint, reason text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'grant_id', grant_id);
	PERFORM credits._pool_owns(pool, 'grant', grant_id);
	RETURN credits.void_grant(grant_id, reason);
END
$$;

-- New in 0.3: batch charges.
-- Many charges in one call: each event as try_charge would decide it, in
-- array order; rows back in ord order.
CREATE FUNCTION credits.charge_many(pools text[], members text[], amounts numeric[], features text[] DEFAULT NULL,
                                    idempotency_keys text[] DEFAULT NULL, metadata jsonb[] DEFAULT NULL)
RETURNS TABLE (ord integer, charge_id bigint, status text, charged numeric, balance numeric, member_used numeric,
               replayed boolean, reason text)
AS 'MODULE_PATHNAME', 'credits_charge_many'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- balance() takes a feature (scoped credits): made again with a third
-- argument.
DROP FUNCTION credits.balance(text, text);
CREATE FUNCTION credits.balance(pool text, member text DEFAULT NULL, feature text DEFAULT NULL)
RETURNS numeric AS 'MODULE_PATHNAME', 'credits_balance'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION credits.balance(text, text, text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Budgets, and frequency caps per window and scope (0.3)
-------------------------------------------------------------------------------
-- A budget: a cap inside a pool on what a group of members (a department,
-- a project) may use per period. used counts the period that begins at
-- period_start; held, the group's pending holds. The members table trigger
-- keeps both (src/pg/member_guard.cpp), so every path that records usage
-- counts against the budget.
CREATE TABLE credits.budgets (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	budget text NOT NULL,
	credit_limit credits.micros,
	period credits.limit_period NOT NULL DEFAULT 'month',
	period_start timestamptz NOT NULL,
	used credits.micros NOT NULL DEFAULT 0,
	held credits.micros NOT NULL DEFAULT 0,
	limit_set_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (pool_id, budget)
);

ALTER TABLE credits.members ADD COLUMN budget text,
	ADD FOREIGN KEY (pool_id, budget) REFERENCES credits.budgets ON DELETE SET NULL (budget);
SELECT pg_catalog.pg_extension_config_dump('credits.budgets', '');
ALTER TABLE credits.frequency_caps
	ADD COLUMN scope text NOT NULL DEFAULT 'member' CHECK (scope IN ('member', 'pool')),
	DROP CONSTRAINT frequency_caps_pkey,
	ADD PRIMARY KEY (pool_id, feature, per, scope);
CREATE INDEX ledger_pool_calls_idx ON credits.ledger (pool_id, feature, at)
	WHERE status = 'succeeded' AND feature IS NOT NULL;
-- verify() checks budgets as it checks member limits
CREATE OR REPLACE FUNCTION credits.verify()
RETURNS TABLE (problem text, object text, detail text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	WITH sums AS (
		SELECT l.pool_id, l.grant_id, sum(l.amount) AS amount, sum(l.held) AS held
		  FROM credits.ledger l
		 WHERE l.grant_id IS NOT NULL
		 GROUP BY l.pool_id, l.grant_id
	)
	SELECT 'balance differs from ledger', 'grant ' || g.grant_id,
	       format('remaining %s, held %s; the ledger sums to %s and %s',
	              credits._to_credits(g.remaining), credits._to_credits(g.held),
	              credits._to_credits(coalesce(s.amount, 0)), credits._to_credits(coalesce(s.held, 0)))
	  FROM credits.grants g
	  LEFT JOIN sums s ON s.pool_id = g.pool_id AND s.grant_id = g.grant_id
	 WHERE g.remaining IS DISTINCT FROM coalesce(s.amount, 0)::bigint
	    OR g.held IS DISTINCT FROM coalesce(s.held, 0)::bigint
	UNION ALL
	SELECT 'ledger entry for unknown grant', 'grant ' || s.grant_id,
	       format('the ledger moves %s credits', credits._to_credits(s.amount))
	  FROM sums s
	 WHERE NOT EXISTS (SELECT FROM credits.grants g WHERE g.pool_id = s.pool_id AND g.grant_id = s.grant_id)
	UNION ALL
	SELECT 'negative remaining', 'grant ' || g.grant_id,
	       format('remaining %s, held %s', credits._to_credits(g.remaining), credits._to_credits(g.held))
	  FROM credits.grants g
	 WHERE g.remaining < 0 OR g.held < 0
	UNION ALL
	SELECT 'grant holds more than it was granted', 'grant ' || g.grant_id,
	       format('amount %s, remaining %s, held %s', credits._to_credits(g.amount),
	              credits._to_credits(g.remaining), credits._to_credits(g.held))
	  FROM credits.grants g
	 WHERE g.remaining + g.held > g.amount
	UNION ALL
	SELECT 'hold mismatch', 'member ' || p.pool || '/' || m.member,
	       format('member held %s, its grants'' held entries sum to %s', credits._to_credits(m.held),
	              credits._to_credits(coalesce(h.held, 0)))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	  LEFT JOIN (SELECT l.pool_id, l.member, sum(l.held) AS held
	               FROM credits.ledger l
	              WHERE l.entry_type IN ('hold', 'capture', 'release')
	              GROUP BY l.pool_id, l.member) h ON h.pool_id = m.pool_id AND h.member = m.member
	 WHERE m.held <> coalesce(h.held, 0)
	UNION ALL
	SELECT 'usage past a limit', 'member ' || p.pool || '/' || m.member,
	       format('used %s, held %s, limit %s', credits._to_credits(m.used), credits._to_credits(m.held),
	              credits._to_credits(m.credit_limit))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	 WHERE m.credit_limit IS NOT NULL
	   AND m.used + m.held > m.credit_limit
	   -- an owner may lower a limit below what was already used this period
	   AND NOT (m.limit_set_at IS NOT NULL AND m.limit_set_at >= m.period_start)
	UNION ALL
	-- what _usage_since gives for each member, for all members at once:
	-- charges and captures since the member's period start, less the
	-- refunds of those
	SELECT 'usage differs from ledger', 'member ' || p.pool || '/' || m.member,
	       format('used %s this period, the ledger shows %s', credits._to_credits(m.used),
	              credits._to_credits(coalesce(u.used, 0)::bigint))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	  LEFT JOIN (SELECT x.pool_id, x.member, sum(x.used) AS used
	               FROM (SELECT l.pool_id, l.member, -(l.amount + l.held) AS used
	                       FROM credits.ledger l
	                       JOIN credits.members lm ON lm.pool_id = l.pool_id AND lm.member = l.member
	                      WHERE l.entry_type IN ('charge', 'capture') AND l.at >= lm.period_start
	                     UNION ALL
	                     SELECT r.pool_id, r.member, -r.amount
	                       FROM credits.ledger r
	                       JOIN credits.ledger c ON c.pool_id = r.pool_id AND c.entry_id = r.charge_id
	                       JOIN credits.members rm ON rm.pool_id = r.pool_id AND rm.member = r.member
	                      WHERE r.entry_type = 'refund' AND c.at >= rm.period_start) x
	              GROUP BY x.pool_id, x.member) u
	    ON u.pool_id = m.pool_id AND u.member = m.member
	 WHERE m.used <> coalesce(u.used, 0)
	UNION ALL
	SELECT 'hold mismatch', 'grant ' || g.grant_id,
	       format('grant held %s, its pending hold parts sum to %s', credits._to_credits(g.held),
	              credits._to_credits(coalesce(hp.held, 0)))
	  FROM credits.grants g
	  LEFT JOIN (SELECT p.pool_id, p.grant_id, sum(p.held) AS held
	               FROM credits.hold_parts p GROUP BY p.pool_id, p.grant_id) hp
	    ON hp.pool_id = g.pool_id AND hp.grant_id = g.grant_id
	 WHERE g.held <> coalesce(hp.held, 0)
	UNION ALL
	SELECT 'hold mismatch', 'hold ' || h.hold_id,
	       format('%s hold of %s, its parts hold %s', h.status, credits._to_credits(h.amount),
	              credits._to_credits(coalesce(hp.held, 0)))
	  FROM credits.holds h
	  LEFT JOIN (SELECT p.pool_id, p.hold_id, sum(p.held) AS held
	               FROM credits.hold_parts p GROUP BY p.pool_id, p.hold_id) hp
	    ON hp.pool_id = h.pool_id AND hp.hold_id = h.hold_id
	 WHERE coalesce(hp.held, 0) <> CASE WHEN h.status = 'pending' THEN h.amount ELSE 0 END
	UNION ALL
	SELECT 'hold mismatch', 'member ' || p.pool || '/' || m.member,
	       format('member held %s, its pending holds sum to %s', credits._to_credits(m.held),
	              credits._to_credits(coalesce(h.amount, 0)))
	  FROM credits.members m
	  JOIN credits.pools p USING (pool_id)
	  LEFT JOIN (SELECT x.pool_id, x.member, sum(x.amount) AS amount
	               FROM credits.holds x WHERE x.status = 'pending' GROUP BY x.pool_id, x.member) h
	    ON h.pool_id = m.pool_id AND h.member = m.member
	 WHERE m.held <> coalesce(h.amount, 0)
	UNION ALL
	SELECT 'usage past a budget', 'budget ' || p.pool || '/' || b.budget,
	       format('used %s, held %s, limit %s', credits._to_credits(b.used), credits._to_credits(b.held),
	              credits._to_credits(b.credit_limit))
	  FROM credits.budgets b
	  JOIN credits.pools p USING (pool_id)
	 WHERE b.credit_limit IS NOT NULL
	   AND b.period_start = credits._period_start(b.period, now())
	   AND b.used + b.held > b.credit_limit
	   -- an owner may lower a budget below what was already used this period
	   AND NOT (b.limit_set_at IS NOT NULL AND b.limit_set_at >= b.period_start)
	UNION ALL
	SELECT 'hold mismatch', 'budget ' || p.pool || '/' || b.budget,
	       format('budget held %s, its members hold %s', credits._to_credits(b.held),
	              credits._to_credits(coalesce(m.held, 0)))
	  FROM credits.budgets b
	  JOIN credits.pools p USING (pool_id)
	  LEFT JOIN (SELECT x.pool_id, x.budget, sum(x.held) AS held
	               FROM credits.members x WHERE x.budget IS NOT NULL GROUP BY x.pool_id, x.budget) m
	    ON m.pool_id = b.pool_id AND m.budget = b.budget
	 WHERE b.held <> coalesce(m.held, 0)
	UNION ALL
	SELECT 'refund exceeds charge', 'charge ' || r.charge_id,
	       format('grant %s gave %s, refunds returned %s', r.grant_id, credits._to_credits(r.given),
	              credits._to_credits(r.returned))
	  FROM (SELECT l.pool_id, l.charge_id, l.grant_id,
	               sum(CASE WHEN l.entry_type = 'charge' THEN -l.amount WHEN l.entry_type = 'capture' THEN -l.held END) AS given,
	               sum(CASE WHEN l.entry_type = 'refund' THEN l.amount END) AS returned
	          FROM credits.ledger l
	         WHERE l.charge_id IS NOT NULL AND l.grant_id IS NOT NULL
	         GROUP BY l.pool_id, l.charge_id, l.grant_id) r
	 WHERE coalesce(r.returned, 0) > coalesce(r.given, 0);
END;
DROP FUNCTION credits.set_frequency_cap(text, text, integer, interval), credits.remove_frequency_cap(text, text);
CREATE FUNCTION credits.set_frequency_cap(pool text, feature text, max_calls integer, per interval,
                                          scope text DEFAULT 'member')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool, 'feature', feature, 'max_calls', max_calls, 'per', per, 'scope', scope);
	IF max_calls < 0 THEN
		RAISE EXCEPTION 'invalid max_calls: must be 0 or more' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('max_calls was %s.', max_calls);
	END IF;
	PERFORM credits._check_key('feature', feature);
	-- at most 100 years: a charge looks back `per` from now
	IF per <= interval '0' OR per > interval '100 years' THEN
		RAISE EXCEPTION 'invalid per: must be a positive interval of at most 100 years'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('per was %s.', per);
	END IF;
	IF scope NOT IN ('member', 'pool') THEN
		RAISE EXCEPTION 'unknown scope "%"', scope
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Scopes: member (each member''s calls), pool (all members'' calls together).';
	END IF;
	v_pool := credits._lock_pool(pool);
	-- one cap per window and scope: setting it again changes max_calls
	INSERT INTO credits.frequency_caps (pool_id, feature, max_calls, per, scope)
	VALUES (v_pool.pool_id, set_frequency_cap.feature, set_frequency_cap.max_calls, set_frequency_cap.per,
	        set_frequency_cap.scope)
	ON CONFLICT ON CONSTRAINT frequency_caps_pkey DO UPDATE SET max_calls = excluded.max_calls;
	UPDATE credits.pools SET has_caps = true WHERE pool_id = v_pool.pool_id;
END
$$;

-- per and scope NULL (the defaults): every cap on the feature that matches.
CREATE FUNCTION credits.remove_frequency_cap(pool text, feature text, per interval DEFAULT NULL,
                                             scope text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool, 'feature', feature);
	v_pool := credits._lock_pool(pool);
	DELETE FROM credits.frequency_caps c
	 WHERE c.pool_id = v_pool.pool_id AND c.feature = remove_frequency_cap.feature
	   AND (remove_frequency_cap.per IS NULL OR c.per = remove_frequency_cap.per)
	   AND (remove_frequency_cap.scope IS NULL OR c.scope = remove_frequency_cap.scope);
	UPDATE credits.pools
	   SET has_caps = EXISTS (SELECT FROM credits.frequency_caps c WHERE c.pool_id = v_pool.pool_id)
	 WHERE pool_id = v_pool.pool_id;
END
$$;

-- Budgets: named caps inside a pool for groups of members. A budget's
-- usage is kept by the members table trigger (member_guard.cpp) as its
-- members' usage changes; a member's usage counts from the moment it joins.
CREATE FUNCTION credits.set_budget(pool text, budget text, credit_limit numeric, period text DEFAULT 'month')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_limit bigint;
	v_available bigint;
	v_start timestamptz;
BEGIN
	PERFORM credits._require('pool', pool, 'budget', budget, 'period', period);
	PERFORM credits._check_key('budget', budget);
	IF period NOT IN ('month', 'week', 'day', 'none') THEN
		RAISE EXCEPTION 'unknown period "%"', period
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Periods: month, week, day, none.';
	END IF;
	v_limit := credits._amount(credit_limit, 'credit_limit');
	v_pool := credits._lock_pool(pool);
	IF v_limit IS NOT NULL THEN
		v_available := credits._available(v_pool.pool_id, now());
		IF v_limit > v_available THEN
			RAISE EXCEPTION 'budget "%" of % exceeds the credits available in pool "%"', budget, credit_limit, pool
				USING ERRCODE = 'CR008',
				      DETAIL = format('limit %s, available %s.', credit_limit, credits._to_credits(v_available)),
				      HINT = 'Grant more credits to the pool first, or set a lower budget.';
		END IF;
	END IF;
	v_start := credits._period_start(period, now());
	INSERT INTO credits.budgets AS b (pool_id, budget, credit_limit, period, period_start, limit_set_at)
	VALUES (v_pool.pool_id, set_budget.budget, v_limit, set_budget.period, v_start, now())
	ON CONFLICT ON CONSTRAINT budgets_pkey DO UPDATE
	   SET credit_limit = excluded.credit_limit,
	       limit_set_at = excluded.limit_set_at,
	       -- another kind of period starts counting from now
	       used = CASE WHEN b.period = excluded.period AND b.period_start = excluded.period_start THEN b.used ELSE 0 END,
	       period = excluded.period,
	       period_start = excluded.period_start;
END
$$;

-- A member is in at most one budget; NULL takes it out of its budget. Its
-- pending holds move with it; what it used stays counted where it was.
CREATE FUNCTION credits.assign_budget(pool text, member text, budget text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	m credits.members;
BEGIN
	PERFORM credits._require('pool', pool, 'member', member);
	v_pool := credits._lock_pool(pool);
	IF budget IS NOT NULL AND NOT EXISTS (SELECT FROM credits.budgets b
	                                       WHERE b.pool_id = v_pool.pool_id AND b.budget = assign_budget.budget) THEN
		RAISE EXCEPTION 'unknown budget "%" in pool "%"', budget, pool
			USING ERRCODE = 'CR010', HINT = 'Create it with credits.set_budget().';
	END IF;
	PERFORM credits._enroll(v_pool.pool_id, member);
	SELECT * INTO m FROM credits.members x WHERE x.pool_id = v_pool.pool_id AND x.member = assign_budget.member;
	IF m.budget IS NOT DISTINCT FROM assign_budget.budget THEN
		RETURN;
	END IF;
	UPDATE credits.budgets b SET held = greatest(b.held - m.held, 0)
	 WHERE b.pool_id = v_pool.pool_id AND b.budget = m.budget;
	UPDATE credits.budgets b SET held = b.held + m.held
	 WHERE b.pool_id = v_pool.pool_id AND b.budget = assign_budget.budget;
	UPDATE credits.members x SET budget = assign_budget.budget
	 WHERE x.pool_id = v_pool.pool_id AND x.member = assign_budget.member;
END
$$;

-- Its members become unassigned (the foreign key sets their budget NULL).
CREATE FUNCTION credits.remove_budget(pool text, budget text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool, 'budget', budget);
	v_pool := credits._lock_pool(pool);
	DELETE FROM credits.budgets b WHERE b.pool_id = v_pool.pool_id AND b.budget = remove_budget.budget;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown budget "%" in pool "%"', budget, pool USING ERRCODE = 'CR010';
	END IF;
END
$$;

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

-------------------------------------------------------------------------------
-- Privileges of what was made again, and comments
-------------------------------------------------------------------------------
GRANT EXECUTE ON FUNCTION credits.verify() TO credits_owner;
GRANT SELECT ON credits.pool_balances, credits.grant_balances, credits.member_usage, credits.transaction_log,
	credits.ledger_entries
TO credits_reader;
GRANT SELECT ON credits._lapsed_hold_parts TO credits_reader;
GRANT EXECUTE ON FUNCTION credits._flows(bigint) TO credits_reader;
GRANT SELECT ON credits.monthly_summary, credits.usage_by_feature TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.charge_many(text[], text[], numeric[], text[], text[], jsonb[]) TO credits_app;
GRANT EXECUTE ON FUNCTION credits.try_charge_usage(text, text, text, numeric, text, jsonb) TO credits_app;
GRANT SELECT ON credits.hold_balances TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.capture(text, bigint, numeric, jsonb), credits.release(text, bigint) TO credits_app;
GRANT EXECUTE ON FUNCTION credits.extend_hold(bigint, interval), credits.extend_hold(text, bigint, interval) TO credits_app;
GRANT EXECUTE ON FUNCTION credits.refund(text, bigint, numeric, text), credits.void_grant(text, bigint, text)
TO credits_owner;
GRANT EXECUTE ON FUNCTION credits.set_grant_expiry(bigint, timestamptz), credits.set_grant_expiry(text, bigint, timestamptz)
TO credits_owner;
GRANT EXECUTE ON FUNCTION credits.grant(text, numeric, text, timestamptz, text, timestamptz, integer, text, jsonb, text, text[])
TO credits_owner;
GRANT EXECUTE ON FUNCTION credits.statement(text, timestamptz, timestamptz, text, text),
	credits.statement_by_kind(text, timestamptz, timestamptz, text, text)
TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.balance_at(text, timestamptz), credits.usage(text, timestamptz, timestamptz)
TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.balance(text, text, text) TO credits_app;
GRANT EXECUTE ON FUNCTION credits.balance(text, text, text) TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.set_frequency_cap(text, text, integer, interval, text),
	credits.remove_frequency_cap(text, text, interval, text)
TO credits_owner;
GRANT EXECUTE ON FUNCTION credits.set_budget(text, text, numeric, text), credits.assign_budget(text, text, text),
	credits.remove_budget(text, text)
TO credits_owner;
GRANT SELECT ON credits.budget_usage TO credits_reader;

-- One line on every public function, procedure and view (\df+, \dv+).
COMMENT ON FUNCTION credits.create_pool(text, text, jsonb) IS 'Creates a pool of credits for an organization; returns its id.';
COMMENT ON FUNCTION credits.set_member_limit(text, text, numeric, text) IS 'Sets a member''s credit limit per period (month, week, day, none); NULL removes it.';
COMMENT ON FUNCTION credits.set_member_limits(text, text[], numeric, text, text) IS 'Sets the credit limit of several members: each gets the amount, or a split of it.';
COMMENT ON FUNCTION credits.remove_member_limit(text, text) IS 'Removes a member''s credit limit.';
COMMENT ON FUNCTION credits.revoke_access(text, text) IS 'Revokes a member''s access: its charges and holds are refused.';
COMMENT ON FUNCTION credits.restore_access(text, text) IS 'Restores a revoked member''s access.';
COMMENT ON FUNCTION credits.grant(text, numeric, text, timestamptz, text, timestamptz, integer, text, jsonb, text, text[]) IS 'Adds a lot of credits (free, promo, plan or purchased) to a pool; returns the grant id.';
COMMENT ON FUNCTION credits.void_grant(bigint, text) IS 'Removes what remains of a grant (e.g. a chargeback); returns the amount voided.';
COMMENT ON FUNCTION credits.current_actor() IS 'The role that called into the credits API, as recorded in the ledger.';
COMMENT ON FUNCTION credits.charge(text, text, numeric, text, text, jsonb) IS 'Charges a member''s action to its pool in FIFO order; raises a CR error when refused.';
COMMENT ON FUNCTION credits.try_charge(text, text, numeric, text, text, jsonb) IS 'Charges like charge(), but returns a refusal as a status and logs the failed attempt.';
COMMENT ON FUNCTION credits.balance(text, text, text) IS 'The credits a pool, or a charge by one member of it or for one feature, can spend now.';
COMMENT ON FUNCTION credits.charge_usage(text, text, text, numeric, text, jsonb) IS 'Charges a quantity of a feature at the rate in force now.';
COMMENT ON FUNCTION credits.reserve(text, text, numeric, interval, text, text, jsonb) IS 'Holds credits for work whose cost is not yet known; returns the hold id.';
COMMENT ON FUNCTION credits.capture(bigint, numeric, jsonb) IS 'Charges all or part of a pending hold and releases the rest.';
COMMENT ON FUNCTION credits.release(bigint) IS 'Releases a pending hold; returns the amount released.';
COMMENT ON FUNCTION credits.refund(bigint, numeric, text) IS 'Returns all or part of a charge to the grants it came from; returns the amount refunded.';
COMMENT ON FUNCTION credits.set_rate(text, numeric, text, timestamptz) IS 'Sets a feature''s rate (credits per unit) from a given time on; the history is kept.';
COMMENT ON VIEW credits.rate_card IS 'The rates in force now and those scheduled.';
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
COMMENT ON FUNCTION credits.statement(text, timestamptz, timestamptz, text, text) IS 'A pool''s credits for any range, by day, week, month or in total, in a time zone.';
COMMENT ON FUNCTION credits.statement_by_kind(text, timestamptz, timestamptz, text, text) IS 'statement() per kind of credits: free, promo, plan, purchased.';
COMMENT ON FUNCTION credits.verify() IS 'Every broken invariant of the credits data; empty when balances equal the ledger.';

COMMENT ON FUNCTION credits.capture(text, bigint, numeric, jsonb) IS 'capture() of a hold of the named pool (pool-first form, for routing).';
COMMENT ON FUNCTION credits.extend_hold(bigint, interval) IS 'Gives a pending hold a new expiry, now() + ttl; returns it.';
COMMENT ON FUNCTION credits.extend_hold(text, bigint, interval) IS 'extend_hold() of a hold of the named pool (pool-first form, for routing).';
COMMENT ON FUNCTION credits.set_grant_expiry(bigint, timestamptz) IS 'Moves a live grant''s expiry (NULL: never); recorded as an adjust entry.';
COMMENT ON FUNCTION credits.set_grant_expiry(text, bigint, timestamptz) IS 'set_grant_expiry() of a grant of the named pool (pool-first form, for routing).';
COMMENT ON FUNCTION credits.release(text, bigint) IS 'release() of a hold of the named pool (pool-first form, for routing).';
COMMENT ON FUNCTION credits.refund(text, bigint, numeric, text) IS 'refund() of a charge of the named pool (pool-first form, for routing).';
COMMENT ON FUNCTION credits.void_grant(text, bigint, text) IS 'void_grant() of a grant of the named pool (pool-first form, for routing).';
COMMENT ON VIEW credits.hold_balances IS 'Pending holds (not lapsed): amount and expiry.';
COMMENT ON FUNCTION credits.balance_at(text, timestamptz) IS 'A pool''s credits (held counted as remaining) at an instant, from the ledger.';
COMMENT ON FUNCTION credits.usage(text, timestamptz, timestamptz) IS 'Per member and feature in a range: calls, credits charged and refunded.';
COMMENT ON FUNCTION credits.try_charge_usage(text, text, text, numeric, text, jsonb) IS 'Charges like charge_usage(), but returns a refusal as a status and logs the failed attempt.';
COMMENT ON FUNCTION credits.charge_many(text[], text[], numeric[], text[], text[], jsonb[]) IS 'Charges many events in one call, each as try_charge would; one row per event, in order.';

-- 0.2 left PUBLIC's default EXECUTE on some internal functions and the
-- default (NULL) ACL on two sequences; 0.3 revokes everything from PUBLIC.
REVOKE ALL ON ALL TABLES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA credits FROM PUBLIC;
COMMENT ON FUNCTION credits.set_budget(text, text, numeric, text) IS 'Creates or changes a budget: a cap per period on what a group of a pool''s members may use.';
COMMENT ON FUNCTION credits.assign_budget(text, text, text) IS 'Puts a member in a budget (NULL: in none).';
COMMENT ON FUNCTION credits.remove_budget(text, text) IS 'Removes a budget; its members become unassigned.';
COMMENT ON FUNCTION credits.set_frequency_cap(text, text, integer, interval, text) IS 'Caps how often each member of a pool (or all of them together) may call a feature within a window.';
COMMENT ON FUNCTION credits.remove_frequency_cap(text, text, interval, text) IS 'Removes a pool''s frequency caps on a feature (those of one window or scope, or all).';
COMMENT ON VIEW credits.budget_usage IS 'One row per budget: its members, used and held this period, limit and what remains.';


-------------------------------------------------------------------------------
-- Idempotent writes everywhere: void_grant (and partial voids), refund and
-- capture (and allow_more) take an idempotency key; their keys live in
-- credits.write_keys.
-------------------------------------------------------------------------------
-- The keys of retried writes that are not grants, charges or holds
-- (void_grant, refund, capture; 0.3): per pool and per function, with the
-- arguments of the first call and its result, which a retry returns.
CREATE TABLE credits.write_keys (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	function text NOT NULL,
	idempotency_key text NOT NULL,
	arguments jsonb NOT NULL,
	result jsonb NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (pool_id, function, idempotency_key)
);
SELECT pg_catalog.pg_extension_config_dump('credits.write_keys', '');

-- The first call's result for a retried key (NULL: the key is new, or no
-- key); CR005 when the key was first used with other arguments.
CREATE FUNCTION credits._replayed(p_pool_id bigint, p_function text, p_key text, p_arguments jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k credits.write_keys;
BEGIN
	IF p_key IS NULL THEN
		RETURN NULL;
	END IF;
	SELECT * INTO k FROM credits.write_keys
	 WHERE pool_id = p_pool_id AND function = p_function AND idempotency_key = p_key;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF k.arguments <> p_arguments THEN
		RAISE EXCEPTION 'idempotency key "%" was used for a different %', p_key, p_function
			USING ERRCODE = 'CR005',
			      DETAIL = format('the first call had %s; this one has %s.', k.arguments, p_arguments),
			      HINT = format('Use a new key for a new %s; repeat one only with the same arguments.', p_function);
	END IF;
	RETURN k.result;
END
$$;

-- Records a keyed write's arguments and result (nothing without a key).
CREATE FUNCTION credits._remember(p_pool_id bigint, p_function text, p_key text, p_arguments jsonb, p_result jsonb)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	INSERT INTO credits.write_keys (pool_id, function, idempotency_key, arguments, result)
	SELECT p_pool_id, p_function, p_key, p_arguments, p_result WHERE p_key IS NOT NULL;
END;

DROP FUNCTION credits.void_grant(text, bigint, text);
DROP FUNCTION credits.void_grant(bigint, text);
-- Removes credits of a grant (e.g. a chargeback). amount NULL voids the
-- grant: what remains goes, voided_at is set and credits that come back to
-- it later (a refund, a release) are voided too. An amount voids only that
-- part of the unheld remaining: the grant stays live (voided_at stays NULL)
-- and the part shows in the ledger and the reports as voided.
CREATE FUNCTION credits.void_grant(grant_id bigint, reason text DEFAULT NULL, amount numeric DEFAULT NULL,
                                   idempotency_key text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
	v_amount bigint;
	v_args jsonb := jsonb_build_object('grant_id', grant_id, 'amount', amount);
	v_first jsonb;
	g credits.grants;
BEGIN
	PERFORM credits._require('grant_id', grant_id);
	IF idempotency_key IS NOT NULL THEN
		PERFORM credits._check_key('idempotency_key', idempotency_key);
	END IF;
	v_amount := credits._amount(amount, 'amount', false);
	SELECT pool_id INTO v_pool_id FROM credits.grants WHERE grants.grant_id = void_grant.grant_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'grant % not found', grant_id USING ERRCODE = 'CR010';
	END IF;
	PERFORM credits._lock_pool_id(v_pool_id);
	v_first := credits._replayed(v_pool_id, 'void_grant', idempotency_key, v_args);
	IF v_first IS NOT NULL THEN
		RETURN v_first::numeric;
	END IF;
	SELECT * INTO g FROM credits.grants WHERE pool_id = v_pool_id AND grants.grant_id = void_grant.grant_id;
	IF v_amount IS NULL THEN
		v_amount := CASE WHEN g.voided_at IS NULL THEN g.remaining ELSE 0 END;
		IF g.voided_at IS NULL THEN
			UPDATE credits.grants SET remaining = 0, voided_at = now(), void_reason = reason
			 WHERE pool_id = v_pool_id AND grants.grant_id = void_grant.grant_id;
			INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, reason)
			VALUES (v_pool_id, 'void', g.member, g.grant_id, -g.remaining, reason);
		END IF;
	ELSE
		IF v_amount > g.remaining THEN
			RAISE EXCEPTION 'cannot void % credits of grant %: % remain unheld', amount, grant_id,
					credits._to_credits(g.remaining)
				USING ERRCODE = 'invalid_parameter_value',
				      DETAIL = format('amount %s, remaining %s, held %s.', credits._to_credits(g.amount),
				                      credits._to_credits(g.remaining), credits._to_credits(g.held)),
				      HINT = 'Void at most what remains unheld, or pass amount => NULL to void the whole grant.';
		END IF;
		UPDATE credits.grants SET remaining = remaining - v_amount
		 WHERE pool_id = v_pool_id AND grants.grant_id = void_grant.grant_id;
		INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, reason)
		VALUES (v_pool_id, 'void', g.member, g.grant_id, -v_amount, reason);
	END IF;
	PERFORM credits._remember(v_pool_id, 'void_grant', idempotency_key, v_args, to_jsonb(credits._to_credits(v_amount)));
	RETURN credits._to_credits(v_amount);
END
$$;

-- Pool-first form (see credits._pool_owns).
CREATE FUNCTION credits.void_grant(pool text, grant_id bigint, reason text DEFAULT NULL, amount numeric DEFAULT NULL,
                                   idempotency_key text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'grant_id', grant_id);
	PERFORM credits._pool_owns(pool, 'grant', grant_id);
	RETURN credits.void_grant(grant_id, reason, amount, idempotency_key);
END
$$;

DROP FUNCTION credits.refund(text, bigint, numeric, text);
DROP FUNCTION credits.refund(bigint, numeric, text);
-- Gives credits of a succeeded charge or capture back to the grants they
-- came from, the last consumed first. A part whose grant has expired or been
-- voided since is refunded and expires (or is voided) at once.
CREATE FUNCTION credits.refund(charge_id bigint, amount numeric DEFAULT NULL, reason text DEFAULT NULL,
                               idempotency_key text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	head credits.ledger;
	v_amount bigint;
	v_refundable bigint;
	v_left bigint;
	v_back bigint;
	part record;
	g credits.grants;
	m credits.members;
	v_args jsonb := jsonb_build_object('charge_id', charge_id, 'amount', amount);
	v_first jsonb;
BEGIN
	PERFORM credits._require('charge_id', charge_id);
	IF idempotency_key IS NOT NULL THEN
		PERFORM credits._check_key('idempotency_key', idempotency_key);
	END IF;
	v_amount := credits._amount(amount, 'amount', false);
	SELECT * INTO head FROM credits.ledger l
	 WHERE l.charge_id = refund.charge_id AND l.entry_id = refund.charge_id
	   AND l.entry_type IN ('charge', 'capture') AND l.status = 'succeeded';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'charge % not found', charge_id
			USING ERRCODE = 'CR010', HINT = 'Pass the charge_id of a succeeded charge or capture.';
	END IF;
	PERFORM credits._lock_pool_id(head.pool_id);
	v_first := credits._replayed(head.pool_id, 'refund', idempotency_key, v_args);
	IF v_first IS NOT NULL THEN
		RETURN v_first::numeric;
	END IF;
	SELECT coalesce(sum(p.refundable), 0) INTO v_refundable FROM credits._refundable_parts(head.pool_id, head.entry_id) p;
	v_amount := coalesce(v_amount, v_refundable);
	IF v_amount > v_refundable THEN
		RAISE EXCEPTION 'cannot refund % credits of charge %: % remain refundable', amount, charge_id,
				credits._to_credits(v_refundable)
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('charged %s, refundable %s.', credits._to_credits(head.requested),
			                      credits._to_credits(v_refundable)),
			      HINT = 'Refund at most what remains refundable.';
	END IF;
	v_left := v_amount;
	FOR part IN SELECT * FROM credits._refundable_parts(head.pool_id, head.entry_id) p
	             WHERE p.refundable > 0 ORDER BY p.entry_id DESC LOOP
		EXIT WHEN v_left = 0;
		v_back := least(v_left, part.refundable);
		v_left := v_left - v_back;
		SELECT * INTO STRICT g FROM credits.grants WHERE pool_id = head.pool_id AND grant_id = part.grant_id;
		UPDATE credits.grants SET remaining = remaining + v_back WHERE pool_id = head.pool_id AND grant_id = part.grant_id;
		INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, charge_id, reason, feature)
		VALUES (head.pool_id, 'refund', head.member, part.grant_id, v_back, head.entry_id, reason, head.feature);
		IF credits._grant_dead(g, now()) THEN
			UPDATE credits.grants SET remaining = remaining - v_back WHERE pool_id = head.pool_id AND grant_id = part.grant_id;
			INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, charge_id, reason)
			VALUES (head.pool_id, CASE WHEN g.voided_at IS NOT NULL THEN 'void' ELSE 'expire' END, head.member,
			        part.grant_id, -v_back, head.entry_id,
			        CASE WHEN g.voided_at IS NOT NULL THEN 'refund to a voided grant' ELSE 'refund to an expired grant' END);
		END IF;
	END LOOP;
	-- the member's usage goes down when the charge counts in its current period
	SELECT * INTO m FROM credits.members WHERE pool_id = head.pool_id AND member = head.member;
	IF FOUND AND m.period_start = credits._period_start(m.period, now()) AND head.at >= m.period_start THEN
		UPDATE credits.members SET used = greatest(used - v_amount, 0)
		 WHERE pool_id = head.pool_id AND member = head.member;
	END IF;
	PERFORM credits._remember(head.pool_id, 'refund', idempotency_key, v_args, to_jsonb(credits._to_credits(v_amount)));
	RETURN credits._to_credits(v_amount);
END
$$;

-- Pool-first form (see credits._pool_owns).
CREATE FUNCTION credits.refund(pool text, charge_id bigint, amount numeric DEFAULT NULL, reason text DEFAULT NULL,
                               idempotency_key text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'charge_id', charge_id);
	PERFORM credits._pool_owns(pool, 'charge', charge_id);
	RETURN credits.refund(charge_id, amount, reason, idempotency_key);
END
$$;

DROP FUNCTION credits.capture(text, bigint, numeric, jsonb);
DROP FUNCTION credits.capture(bigint, numeric, jsonb);
-- With an idempotency key, a retry of the capture that settled the hold
-- returns its result (replayed = true); without one a settled hold raises
-- CR006. allow_more: an amount above the hold takes the difference as a
-- charge of its own (credits.charge: deduction order, member limit, budget
-- and frequency caps as for any charge), made before the hold is settled,
-- so that a refused difference leaves the hold pending.
CREATE FUNCTION credits.capture(hold_id bigint, amount numeric DEFAULT NULL, metadata jsonb DEFAULT NULL,
                                idempotency_key text DEFAULT NULL, allow_more boolean DEFAULT false)
RETURNS credits.charge_result
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h credits.holds;
	v_amount bigint;
	v_id bigint;
	v_used bigint;
	v_balance bigint;
	v_pool_id bigint;
	v_args jsonb := jsonb_build_object('hold_id', hold_id, 'amount', amount, 'allow_more', allow_more);
	v_first jsonb;
	v_more credits.charge_result;
	r credits.charge_result;
BEGIN
	PERFORM credits._require('hold_id', hold_id, 'allow_more', allow_more);
	IF idempotency_key IS NOT NULL THEN
		PERFORM credits._check_key('idempotency_key', idempotency_key);
	END IF;
	v_amount := credits._amount(amount, 'amount');
	IF idempotency_key IS NOT NULL THEN
		-- before the pending check: the retried capture has settled the hold
		SELECT pool_id INTO v_pool_id FROM credits.holds WHERE holds.hold_id = capture.hold_id;
		IF FOUND THEN
			PERFORM credits._lock_pool_id(v_pool_id);
			v_first := credits._replayed(v_pool_id, 'capture', idempotency_key, v_args);
			IF v_first IS NOT NULL THEN
				RETURN jsonb_populate_record(NULL::credits.charge_result, v_first || '{"replayed": true}');
			END IF;
		END IF;
	END IF;
	h := credits._pending_hold(hold_id);
	v_amount := coalesce(v_amount, h.amount);
	IF v_amount > h.amount AND NOT allow_more THEN
		RAISE EXCEPTION 'cannot capture % credits: hold % holds %', amount, hold_id, credits._to_credits(h.amount)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Capture at most what was reserved, reserve more, or pass allow_more => true.';
	END IF;
	IF v_amount > h.amount THEN
		v_more := credits.charge(pool => (SELECT p.pool FROM credits.pools p WHERE p.pool_id = h.pool_id),
		                         member => h.member, amount => credits._to_credits(v_amount - h.amount),
		                         feature => h.feature,
		                         metadata => coalesce(capture.metadata, h.metadata, '{}') || jsonb_build_object('capture_of_hold', h.hold_id));
	END IF;
	v_id := nextval('credits.ledger_entry_id_seq');
	PERFORM credits._unhold(h.pool_id, h.hold_id, least(v_amount, h.amount), v_id, 'captured', 'rest of hold released', now());
	SELECT m.used INTO v_used FROM credits.members m WHERE m.pool_id = h.pool_id AND m.member = h.member;
	v_balance := credits._available(h.pool_id, now());
	INSERT INTO credits.ledger (entry_id, pool_id, entry_type, member, charge_id, hold_id, status, feature,
	                            requested, balance_after, member_used_after, metadata, idempotency_key)
	VALUES (v_id, h.pool_id, 'capture', h.member, v_id, h.hold_id, 'succeeded', h.feature,
	        least(v_amount, h.amount), v_balance, v_used, coalesce(capture.metadata, h.metadata), idempotency_key);
	r := ROW(v_id, 'succeeded', credits._to_credits(v_amount), credits._to_credits(v_balance),
	         credits._to_credits(v_used), false, NULL)::credits.charge_result;
	PERFORM credits._remember(h.pool_id, 'capture', idempotency_key, v_args, to_jsonb(r));
	RETURN r;
END
$$;

-- Pool-first forms (see credits._pool_owns).
CREATE FUNCTION credits.capture(pool text, hold_id bigint, amount numeric DEFAULT NULL, metadata jsonb DEFAULT NULL,
                                idempotency_key text DEFAULT NULL, allow_more boolean DEFAULT false)
RETURNS credits.charge_result
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'hold_id', hold_id);
	PERFORM credits._pool_owns(pool, 'hold', hold_id);
	RETURN credits.capture(hold_id, amount, metadata, idempotency_key, allow_more);
END
$$;

REVOKE ALL ON TABLE credits.write_keys FROM PUBLIC;
REVOKE ALL ON FUNCTION credits._replayed(bigint, text, text, jsonb), credits._remember(bigint, text, text, jsonb, jsonb),
	credits.void_grant(bigint, text, numeric, text), credits.void_grant(text, bigint, text, numeric, text),
	credits.refund(bigint, numeric, text, text), credits.refund(text, bigint, numeric, text, text),
	credits.capture(bigint, numeric, jsonb, text, boolean), credits.capture(text, bigint, numeric, jsonb, text, boolean)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credits.void_grant(bigint, text, numeric, text), credits.refund(bigint, numeric, text, text)
TO credits_owner;
GRANT EXECUTE ON FUNCTION credits.capture(bigint, numeric, jsonb, text, boolean) TO credits_app;
GRANT EXECUTE ON FUNCTION credits.capture(text, bigint, numeric, jsonb, text, boolean) TO credits_app;
GRANT EXECUTE ON FUNCTION credits.refund(text, bigint, numeric, text, text), credits.void_grant(text, bigint, text, numeric, text)
TO credits_owner;
COMMENT ON FUNCTION credits.void_grant(bigint, text, numeric, text) IS 'Removes what remains of a grant, or part of it (e.g. a chargeback); returns the amount voided.';
COMMENT ON FUNCTION credits.void_grant(text, bigint, text, numeric, text) IS 'void_grant() of a grant of the named pool (pool-first form, for routing).';
COMMENT ON FUNCTION credits.refund(bigint, numeric, text, text) IS 'Returns all or part of a charge to the grants it came from; returns the amount refunded.';
COMMENT ON FUNCTION credits.refund(text, bigint, numeric, text, text) IS 'refund() of a charge of the named pool (pool-first form, for routing).';
COMMENT ON FUNCTION credits.capture(bigint, numeric, jsonb, text, boolean) IS 'Charges all or part of a pending hold (or more, with allow_more) and releases the rest.';
COMMENT ON FUNCTION credits.capture(text, bigint, numeric, jsonb, text, boolean) IS 'capture() of a hold of the named pool (pool-first form, for routing).';

-------------------------------------------------------------------------------
-- Auto top-up requests: set_auto_topup, remove_auto_topup,
-- cancel_topup_request; credits.topup_requests; a grant with a request's key
-- settles it.
-------------------------------------------------------------------------------
ALTER TABLE credits.pools ADD COLUMN topup_below credits.micros, ADD COLUMN topup_amount credits.positive_micros;
-- Auto top-up requests (0.3): the extension asks, the application pays and
-- grants with the request's key. At most one open request per pool.
CREATE SEQUENCE credits.topup_request_id_seq;
CREATE TABLE credits.topup_requests (
	request_id bigint NOT NULL DEFAULT nextval('credits.topup_request_id_seq'),
	pool text NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	amount numeric NOT NULL,
	idempotency_key text NOT NULL,
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'settled', 'cancelled')),
	pool_id bigint NOT NULL REFERENCES credits.pools,
	-- when it was settled or cancelled; the grant that settled it
	closed_at timestamptz,
	grant_id bigint,
	PRIMARY KEY (pool_id, request_id)
);
ALTER SEQUENCE credits.topup_request_id_seq OWNED BY credits.topup_requests.request_id;
CREATE UNIQUE INDEX topup_requests_id_idx ON credits.topup_requests (request_id);
CREATE UNIQUE INDEX topup_requests_open_idx ON credits.topup_requests (pool_id) WHERE status = 'open';
CREATE UNIQUE INDEX topup_requests_key_idx ON credits.topup_requests (pool_id, idempotency_key);
SELECT pg_catalog.pg_extension_config_dump('credits.topup_requests', '');
SELECT pg_catalog.pg_extension_config_dump('credits.topup_request_id_seq', '');

CREATE FUNCTION credits.set_auto_topup(pool text, below numeric, amount numeric)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_below bigint;
	v_amount bigint;
BEGIN
	PERFORM credits._require('pool', pool, 'below', below, 'amount', amount);
	v_below := credits._amount(below, 'below');
	v_amount := credits._amount(amount, 'amount', false);
	v_pool := credits._lock_pool(pool);
	IF v_pool.topup_increment IS NOT NULL AND v_amount % v_pool.topup_increment <> 0 THEN
		RAISE EXCEPTION 'auto top-up amount % is not a multiple of the pool''s top-up increment', amount
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('amount %s, topup_increment %s.', amount, credits._to_credits(v_pool.topup_increment)),
			      HINT = 'Top up in multiples of the top-up increment.';
	END IF;
	UPDATE credits.pools SET topup_below = v_below, topup_amount = v_amount WHERE pool_id = v_pool.pool_id;
	-- a new rule starts armed, and is checked at commit (a pool already
	-- below it gets a request then)
	DELETE FROM credits.alert_state s WHERE s.pool_id = v_pool.pool_id AND s.metric = 'auto_topup';
END
$$;

-- An open request stays open: the application may be paying it.
CREATE FUNCTION credits.remove_auto_topup(pool text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool);
	v_pool := credits._lock_pool(pool);
	UPDATE credits.pools SET topup_below = NULL, topup_amount = NULL WHERE pool_id = v_pool.pool_id;
	DELETE FROM credits.alert_state s WHERE s.pool_id = v_pool.pool_id AND s.metric = 'auto_topup';
END
$$;

-- Cancels an open request (a cancelled one: nothing to do; a settled one:
-- 22023). The pool is not asked again until its credits have recovered
-- above the threshold and dropped below it again.
CREATE FUNCTION credits.cancel_topup_request(request_id bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
	r credits.topup_requests;
BEGIN
	PERFORM credits._require('request_id', request_id);
	SELECT t.pool_id INTO v_pool_id FROM credits.topup_requests t WHERE t.request_id = cancel_topup_request.request_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'top-up request % not found', request_id
			USING ERRCODE = 'CR010', HINT = 'Pass a request_id of credits.topup_requests.';
	END IF;
	PERFORM credits._lock_pool_id(v_pool_id);
	SELECT * INTO STRICT r FROM credits.topup_requests t
	 WHERE t.pool_id = v_pool_id AND t.request_id = cancel_topup_request.request_id;
	IF r.status = 'settled' THEN
		RAISE EXCEPTION 'top-up request % is settled: it cannot be cancelled', request_id
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('settled at %s by grant %s.', r.closed_at, r.grant_id),
			      HINT = 'Void the grant to take the credits back.';
	END IF;
	UPDATE credits.topup_requests t SET status = 'cancelled', closed_at = now()
	 WHERE t.pool_id = v_pool_id AND t.request_id = r.request_id AND t.status = 'open';
END
$$;

-- At commit, under the pool's lock (the transaction wrote the pool row):
-- opens a request when the pool is below its threshold and this drop has
-- not been asked for yet; re-arms once it has recovered.
CREATE FUNCTION credits._pool_topups()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p credits.pools;
	v_available numeric;
	v_below numeric;
	v_asked boolean;
	r credits.topup_requests;
	v_id bigint;
BEGIN
	-- the row as committed by this transaction, not as the event saw it
	SELECT * INTO p FROM credits.pools WHERE pool_id = NEW.pool_id;
	IF p.topup_below IS NULL THEN
		RETURN NULL;
	END IF;
	-- what balance(pool) says: lapsed holds count as available
	v_available := credits.balance(p.pool);
	v_below := credits._to_credits(p.topup_below);
	SELECT fired INTO v_asked FROM credits.alert_state
	 WHERE pool_id = p.pool_id AND metric = 'auto_topup' AND member = '';
	IF v_available < v_below AND NOT coalesce(v_asked, false) THEN
		INSERT INTO credits.alert_state (pool_id, metric, member, fired) VALUES (p.pool_id, 'auto_topup', '', true)
		ON CONFLICT ON CONSTRAINT alert_state_pkey DO UPDATE SET fired = true;
		v_id := nextval('credits.topup_request_id_seq');
		INSERT INTO credits.topup_requests (request_id, pool, amount, idempotency_key, pool_id)
		VALUES (v_id, p.pool, credits._to_credits(p.topup_amount), 'topup-' || v_id, p.pool_id)
		ON CONFLICT (pool_id) WHERE status = 'open' DO NOTHING
		RETURNING * INTO r;
		IF FOUND THEN
			PERFORM pg_notify('credits_topups', json_build_object(
				'request_id', r.request_id, 'pool', r.pool, 'at', r.at, 'amount', r.amount,
				'idempotency_key', r.idempotency_key, 'status', r.status)::text);
		END IF;
	ELSIF v_available >= v_below AND v_asked THEN
		UPDATE credits.alert_state SET fired = false
		 WHERE pool_id = p.pool_id AND metric = 'auto_topup' AND member = '';
	END IF;
	RETURN NULL;
END
$$;

-- A purchased grant with an open request's key settles it.
CREATE FUNCTION credits._grant_settles_topup()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE credits.topup_requests t SET status = 'settled', closed_at = now(), grant_id = NEW.grant_id
	 WHERE t.pool_id = NEW.pool_id AND t.idempotency_key = NEW.idempotency_key AND t.status = 'open';
	RETURN NULL;
END
$$;

-- Checked at commit (a rolled-back transaction asks nothing; pg_notify is
-- delivered on commit), and only for pools with an auto top-up: others pay
-- nothing.
CREATE CONSTRAINT TRIGGER pools_topups AFTER UPDATE ON credits.pools
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.topup_below IS NOT NULL) EXECUTE FUNCTION credits._pool_topups();
CREATE TRIGGER grants_settle_topup AFTER INSERT ON credits.grants
	FOR EACH ROW WHEN (NEW.idempotency_key IS NOT NULL AND NEW.kind = 'purchased')
	EXECUTE FUNCTION credits._grant_settles_topup();

COMMENT ON FUNCTION credits.set_auto_topup(text, numeric, numeric) IS 'Asks for a top-up of amount credits when the pool''s available credits drop below a threshold.';
COMMENT ON FUNCTION credits.remove_auto_topup(text) IS 'Removes a pool''s auto top-up (open requests stay open).';
COMMENT ON FUNCTION credits.cancel_topup_request(bigint) IS 'Cancels an open auto top-up request.';
COMMENT ON TABLE credits.topup_requests IS 'Auto top-up requests: open until a purchased grant with the request''s key settles them.';

REVOKE ALL ON TABLE credits.topup_requests FROM PUBLIC;
REVOKE ALL ON SEQUENCE credits.topup_request_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION credits.set_auto_topup(text, numeric, numeric), credits.remove_auto_topup(text),
	credits.cancel_topup_request(bigint), credits._pool_topups(), credits._grant_settles_topup()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credits.set_auto_topup(text, numeric, numeric), credits.remove_auto_topup(text),
	credits.cancel_topup_request(bigint)
TO credits_owner;
GRANT SELECT ON credits.topup_requests TO credits_reader;

-------------------------------------------------------------------------------
-- Subscriptions: subscribe(..., rollover_max, external_ref) and
-- change_subscription.
-------------------------------------------------------------------------------
ALTER TABLE credits.subscriptions ADD COLUMN rollover_max credits.micros, ADD COLUMN external_ref text;
-- The rollover cap at the start of period k: what remains (unheld) of the
-- subscription's earlier grants still live then, beyond rollover_max,
-- expires, the oldest grants' credits first; each part is an `expire` entry
-- dated at the period start. The grant stays live with what is left. The
-- caller has locked the pool.
CREATE FUNCTION credits._cap_rollover(s credits.subscriptions, p_period integer, p_start timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_over bigint;
	v_take bigint;
	g credits.grants;
BEGIN
	SELECT coalesce(sum(x.remaining), 0) - s.rollover_max INTO v_over
	  FROM credits.grants x
	 WHERE x.pool_id = s.pool_id AND x.subscription_id = s.subscription_id AND x.period_index < p_period
	   AND x.voided_at IS NULL AND x.expired_at IS NULL AND x.expires_at > p_start;
	FOR g IN SELECT * FROM credits.grants x
	          WHERE x.pool_id = s.pool_id AND x.subscription_id = s.subscription_id AND x.period_index < p_period
	            AND x.voided_at IS NULL AND x.expired_at IS NULL AND x.expires_at > p_start AND x.remaining > 0
	          ORDER BY x.period_index LOOP
		EXIT WHEN v_over <= 0;
		v_take := least(g.remaining, v_over);
		v_over := v_over - v_take;
		UPDATE credits.grants x SET remaining = x.remaining - v_take
		 WHERE x.pool_id = g.pool_id AND x.grant_id = g.grant_id;
		INSERT INTO credits.ledger (pool_id, at, entry_type, member, grant_id, amount, reason)
		VALUES (g.pool_id, p_start, 'expire', g.member, g.grant_id, -v_take,
		        format('rollover cap of subscription %s, period %s', s.plan, p_period));
	END LOOP;
END
$$;

-- The argument checks subscribe and change_subscription share (22023).
CREATE FUNCTION credits._check_rollover(p_rollover_periods integer, p_rollover_max numeric)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_rollover_periods < 0 OR p_rollover_periods > 1000 THEN
		RAISE EXCEPTION 'invalid rollover_periods: must be from 0 to 1000' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('rollover_periods was %s.', p_rollover_periods);
	END IF;
	RETURN credits._amount(p_rollover_max, 'rollover_max');
END
$$;

-- Issues a subscription's grants for its periods up to the one containing
-- `as_of`, skipping those that would already have expired. The caller has
-- locked the pool. Returns the number of grants issued.
CREATE OR REPLACE FUNCTION credits._issue_periods(s credits.subscriptions, p_as_of timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k integer;
	v_last integer := credits._period_index(s.anchor, s.period, p_as_of);
	v_start timestamptz;
	v_expires timestamptz;
	v_id bigint;
	v_count integer := 0;
BEGIN
	-- period k expires at the start of k + 1 + rollover_periods: the periods
	-- before v_last - rollover_periods have all expired by `as_of`
	FOR k IN greatest(s.issued_through + 1, v_last - s.rollover_periods) .. v_last LOOP
		v_start := credits._period_at(s.anchor, s.period, k);
		v_expires := credits._period_at(s.anchor, s.period, k + 1 + s.rollover_periods);
		CONTINUE WHEN v_expires <= p_as_of;
		INSERT INTO credits.grants (pool_id, kind, rank, amount, remaining, effective_at, expires_at,
		                            external_ref, subscription_id, period_index)
		VALUES (s.pool_id, s.kind, credits._kind_rank(s.kind), s.credits_per_period, s.credits_per_period,
		        v_start, v_expires, coalesce(s.external_ref, s.plan), s.subscription_id, k)
		ON CONFLICT DO NOTHING
		RETURNING grant_id INTO v_id;
		CONTINUE WHEN v_id IS NULL;
		IF s.rollover_max IS NOT NULL THEN
			PERFORM credits._cap_rollover(s, k, v_start);
		END IF;
		INSERT INTO credits.ledger (pool_id, at, entry_type, grant_id, amount, reason)
		VALUES (s.pool_id, v_start, 'grant', v_id, s.credits_per_period,
		        format('subscription %s, period %s', s.plan, k));
		v_count := v_count + 1;
	END LOOP;
	IF v_last > s.issued_through THEN
		UPDATE credits.subscriptions SET issued_through = v_last
		 WHERE pool_id = s.pool_id AND subscription_id = s.subscription_id;
	END IF;
	RETURN v_count;
END
$$;

DROP FUNCTION credits.subscribe(text, text, numeric, interval, integer, text, timestamptz);
CREATE FUNCTION credits.subscribe(pool text, plan text, credits_per_period numeric, period interval DEFAULT '1 month',
                                  rollover_periods integer DEFAULT 0, kind text DEFAULT 'plan',
                                  anchor timestamptz DEFAULT now(), rollover_max numeric DEFAULT NULL,
                                  external_ref text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_amount bigint;
	v_max bigint;
	s credits.subscriptions;
BEGIN
	PERFORM credits._require('pool', pool, 'plan', plan, 'credits_per_period', credits_per_period, 'period', period,
	                         'rollover_periods', rollover_periods, 'kind', kind, 'anchor', anchor);
	PERFORM credits._check_key('plan', plan);
	v_amount := credits._amount(credits_per_period, 'credits_per_period', false);
	PERFORM credits._kind_rank(kind);
	IF NOT isfinite(anchor) THEN
		RAISE EXCEPTION 'invalid anchor: must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF period <= interval '0' OR period > interval '100 years' OR credits._period_at(anchor, period, 1) <= anchor THEN
		RAISE EXCEPTION 'invalid period: must be a positive interval of at most 100 years'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('period was %s.', period);
	END IF;
	v_max := credits._check_rollover(rollover_periods, rollover_max);
	v_pool := credits._lock_pool(pool);
	IF EXISTS (SELECT FROM credits.subscriptions x
	            WHERE x.pool_id = v_pool.pool_id AND x.plan = subscribe.plan AND x.cancelled_at IS NULL) THEN
		RAISE EXCEPTION 'pool "%" already has an active subscription to plan "%"', pool, plan
			USING ERRCODE = 'unique_violation', HINT = 'Cancel it first with credits.cancel_subscription().';
	END IF;
	INSERT INTO credits.subscriptions (pool_id, plan, credits_per_period, period, rollover_periods, kind, anchor,
	                                   issued_through, rollover_max, external_ref)
	VALUES (v_pool.pool_id, plan, v_amount, period, rollover_periods, kind, anchor,
	        greatest(credits._period_index(anchor, period, now()), 0) - 1, v_max, external_ref)
	RETURNING * INTO s;
	-- the current period's grant at once (an anchor in the future: its first period, scheduled)
	PERFORM credits._issue_periods(s, greatest(now(), anchor));
	RETURN s.subscription_id;
END
$$;

-- Changes a subscription from its next period on: the periods that have
-- started are issued first as they were (the current period's grant is not
-- touched), then the new values apply to every later period (and the new
-- rollover cap at every later period start). NULL keeps a value.
CREATE FUNCTION credits.change_subscription(pool text, plan text, credits_per_period numeric,
                                            rollover_periods integer DEFAULT NULL, rollover_max numeric DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_amount bigint;
	v_max bigint;
	s credits.subscriptions;
BEGIN
	PERFORM credits._require('pool', pool, 'plan', plan, 'credits_per_period', credits_per_period);
	v_amount := credits._amount(credits_per_period, 'credits_per_period', false);
	v_max := credits._check_rollover(rollover_periods, rollover_max);
	v_pool := credits._lock_pool(pool);
	SELECT * INTO s FROM credits.subscriptions x
	 WHERE x.pool_id = v_pool.pool_id AND x.plan = change_subscription.plan AND x.cancelled_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'pool "%" has no active subscription to plan "%"', pool, plan
			USING ERRCODE = 'CR010', HINT = 'Subscribe with credits.subscribe().';
	END IF;
	PERFORM credits._issue_periods(s, greatest(now(), s.anchor));
	UPDATE credits.subscriptions x
	   SET credits_per_period = v_amount,
	       rollover_periods = coalesce(change_subscription.rollover_periods, x.rollover_periods),
	       rollover_max = coalesce(v_max, x.rollover_max)
	 WHERE x.pool_id = s.pool_id AND x.subscription_id = s.subscription_id;
END
$$;

-- One row per subscription, amounts in credits: what it issues, and when.
CREATE OR REPLACE VIEW credits.subscription_status AS
SELECT x.subscription_id,
       p.pool,
       x.plan,
       x.kind,
       credits._to_credits(x.credits_per_period) AS credits_per_period,
       x.period,
       x.rollover_periods,
       x.anchor,
       CASE WHEN x.issued_through >= 0 THEN credits._period_at(x.anchor, x.period, x.issued_through) END
           AS last_period_start,
       CASE WHEN x.cancelled_at IS NULL THEN credits._period_at(x.anchor, x.period, x.issued_through + 1) END
           AS next_period_start,
       CASE WHEN x.cancelled_at IS NULL THEN 'active' ELSE 'cancelled' END AS status,
       x.created_at,
       x.cancelled_at,
       credits._to_credits(x.rollover_max) AS rollover_max,
       coalesce(x.external_ref, x.plan) AS external_ref
  FROM credits.subscriptions x
  JOIN credits.pools p USING (pool_id);

REVOKE ALL ON FUNCTION credits._cap_rollover(credits.subscriptions, integer, timestamptz),
	credits._check_rollover(integer, numeric),
	credits.subscribe(text, text, numeric, interval, integer, text, timestamptz, numeric, text),
	credits.change_subscription(text, text, numeric, integer, numeric)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credits.subscribe(text, text, numeric, interval, integer, text, timestamptz, numeric, text)
TO credits_owner;
GRANT EXECUTE ON FUNCTION credits.change_subscription(text, text, numeric, integer, numeric) TO credits_owner;
COMMENT ON FUNCTION credits.subscribe(text, text, numeric, interval, integer, text, timestamptz, numeric, text) IS 'Subscribes a pool to a plan that grants credits every period; returns the subscription id.';
COMMENT ON FUNCTION credits.change_subscription(text, text, numeric, integer, numeric) IS 'Changes a subscription''s credits per period and rollover from its next period on.';

-- The hold lifecycle in C++ (src/pg/holds_settle.cpp): settling a hold and
-- lapsing a pool's overdue holds, under the same names.
CREATE OR REPLACE FUNCTION credits._unhold(p_pool_id bigint, p_hold_id bigint, p_keep bigint, p_capture_id bigint,
                                p_status text, p_reason text, p_at timestamptz)
RETURNS bigint AS 'MODULE_PATHNAME', 'credits_unhold'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
CREATE OR REPLACE FUNCTION credits._lapse_holds(p_pool_id bigint, p_at timestamptz)
RETURNS integer AS 'MODULE_PATHNAME', 'credits_lapse_holds'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

-- capture, release and extend_hold in C++ (src/pg/hold.cpp), under the
-- same signatures.
CREATE OR REPLACE FUNCTION credits.capture(hold_id bigint, amount numeric DEFAULT NULL, metadata jsonb DEFAULT NULL,
                                idempotency_key text DEFAULT NULL, allow_more boolean DEFAULT false)
RETURNS credits.charge_result AS 'MODULE_PATHNAME', 'credits_capture'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
CREATE OR REPLACE FUNCTION credits.release(hold_id bigint)
RETURNS numeric AS 'MODULE_PATHNAME', 'credits_release'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
CREATE OR REPLACE FUNCTION credits.extend_hold(hold_id bigint, ttl interval)
RETURNS timestamptz AS 'MODULE_PATHNAME', 'credits_extend_hold'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
-- (the by-id lookup of a pending hold moved into them)
DROP FUNCTION credits._pending_hold(bigint);

-------------------------------------------------------------------------------
-- Operations (0.3): the progress of maintenance runs (maintenance_log, the
-- maintenance_runs view), record_verify(), and the aggregates monitoring
-- reads (credits_monitor). The batch functions now return how many rows
-- they did. Last in this script: metrics() reads
-- credits.topup_requests, made above.
-------------------------------------------------------------------------------
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'credits_monitor') THEN
		CREATE ROLE credits_monitor NOLOGIN;
	END IF;
END
$roles$;
GRANT credits_monitor TO credits_owner;
GRANT USAGE ON SCHEMA credits TO credits_monitor;

-- Monitoring counts the attempts of the last minutes (credits.metrics_charge_attempts):
-- the ledger is appended in time order, so a BRIN index finds the recent
-- pages for almost nothing, and costs a charge almost nothing to keep.
CREATE INDEX ledger_at_brin_idx ON credits.ledger USING brin (at);

-- One row per run of a maintenance job (expire_grants, renew_subscriptions,
-- expire_holds, verify), updated in the transaction of each batch, so it
-- shows what has committed. A run whose session died keeps finished_at NULL
-- (credits.maintenance_runs shows it as interrupted).
CREATE TABLE credits.maintenance_log (
	run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job text NOT NULL,
	as_of timestamptz NOT NULL,
	pid integer NOT NULL,
	started_at timestamptz NOT NULL,
	last_batch_at timestamptz,
	finished_at timestamptz,
	batches integer NOT NULL DEFAULT 0,
	rows_done bigint NOT NULL DEFAULT 0,
	-- verify: the problems it found
	problems bigint,
	-- SQLSTATE and message of the error that ended the run
	error text
);
CREATE INDEX maintenance_log_job_idx ON credits.maintenance_log (job, started_at);

SELECT pg_catalog.pg_extension_config_dump('credits.maintenance_log', '');
SELECT pg_catalog.pg_extension_config_dump('credits.maintenance_log_run_id_seq', '');

DROP FUNCTION credits._maintenance_batch(text, timestamptz), credits._expire_holds_batch(timestamptz),
	credits._renew_batch(timestamptz), credits._expire_batch(timestamptz);

-- One batch of maintenance job `p_job` (expire_holds, renew_subscriptions,
-- expire_grants): how many rows it did, 0 when nothing was left. Each batch
-- is one set-based statement that locks its pools in pool_id order.
-- C++: src/pg/maintenance.cpp.
CREATE FUNCTION credits._maintenance_batch(p_job text, p_as_of timestamptz)
RETURNS integer AS 'MODULE_PATHNAME', 'credits_maintenance_batch'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Progress of maintenance runs, in credits.maintenance_log: one call to
-- start a run, one per batch (in the batch's transaction, so the row shows
-- what has committed), one to finish or fail it. Small and separate, so that
-- any driver can call them. A run killed halfway keeps finished_at NULL; the
-- next run is a new row, and goes on where the killed one stopped because
-- every job selects its work by state (grants past expiry not yet expired,
-- holds past their TTL still pending, periods due not yet issued).
CREATE FUNCTION credits._maintenance_run_start(p_job text, p_as_of timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_run bigint;
BEGIN
	-- a week of history per job (a job scheduled every minute: ~10,000 rows)
	DELETE FROM credits.maintenance_log l WHERE l.job = p_job AND l.started_at < now() - interval '7 days';
	INSERT INTO credits.maintenance_log (job, as_of, pid, started_at)
	VALUES (p_job, p_as_of, pg_backend_pid(), clock_timestamp())
	RETURNING run_id INTO v_run;
	RETURN v_run;
END
$$;

CREATE FUNCTION credits._maintenance_run_batch(p_run bigint, p_rows bigint)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	UPDATE credits.maintenance_log
	   SET batches = batches + 1, rows_done = rows_done + p_rows, last_batch_at = clock_timestamp()
	 WHERE run_id = p_run;
END;

-- Ends a run: finished, or failed with an error (its SQLSTATE and message).
CREATE FUNCTION credits._maintenance_run_end(p_run bigint, p_sqlstate text, p_message text)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	UPDATE credits.maintenance_log
	   SET finished_at = clock_timestamp(), error = p_sqlstate || ': ' || p_message
	 WHERE run_id = p_run;
END;

-- One step of run `p_run` of job `p_job`: a batch, recorded in the run's row
-- in the batch's transaction; false when nothing was left. The job verify
-- is one step that records the number of problems verify() finds.
CREATE FUNCTION credits._maintenance_step(p_run bigint, p_job text, p_as_of timestamptz)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_rows integer;
BEGIN
	IF p_job = 'verify' THEN
		UPDATE credits.maintenance_log SET problems = (SELECT count(*) FROM credits.verify()) WHERE run_id = p_run;
		RETURN false;
	END IF;
	v_rows := credits._maintenance_batch(p_job, p_as_of);
	IF v_rows = 0 THEN
		RETURN false;
	END IF;
	PERFORM credits._maintenance_run_batch(p_run, v_rows);
	RETURN true;
END
$$;

-- Runs maintenance job `p_job` (expire_holds, renew_subscriptions,
-- expire_grants, or verify: one step that counts verify()'s problems) as of
-- `as_of`: nothing on a standby or while another session runs the same
-- job; otherwise the job's batches until none is left.
-- Called as a top-level CALL it commits the run's row, then after each batch,
-- then takes the job's lock again (it ended with the transaction) or yields
-- to a run that took it meanwhile; inside a transaction block it does all in
-- that one. A batch that fails is rolled back (each runs in a
-- subtransaction), the run is marked failed (and committed, at top level),
-- and the error raised again as it was.
-- Procedures that COMMIT may not be SECURITY DEFINER nor SET search_path:
-- this one and the four below (C++: src/pg/maintenance.cpp) only call the
-- extension's own SECURITY DEFINER functions, schema-qualified, with typed
-- parameters and no operator (the caller's search_path may put its own
-- before pg_catalog's).
CREATE OR REPLACE PROCEDURE credits._run_maintenance(p_job text, as_of timestamptz)
AS 'MODULE_PATHNAME', 'credits_run_maintenance'
LANGUAGE C;

-- The maintenance procedures in C++ (they were PL/pgSQL): batches of one
-- set-based statement each.
CREATE OR REPLACE PROCEDURE credits.expire_holds(as_of timestamptz DEFAULT now())
AS 'MODULE_PATHNAME', 'credits_expire_holds'
LANGUAGE C;
CREATE OR REPLACE PROCEDURE credits.renew_subscriptions(as_of timestamptz DEFAULT now())
AS 'MODULE_PATHNAME', 'credits_renew_subscriptions'
LANGUAGE C;
CREATE OR REPLACE PROCEDURE credits.expire_grants(as_of timestamptz DEFAULT now())
AS 'MODULE_PATHNAME', 'credits_expire_grants'
LANGUAGE C;
CREATE OR REPLACE PROCEDURE credits.maintain()
AS 'MODULE_PATHNAME', 'credits_maintain'
LANGUAGE C;

-- Whether the session `p_pid`, started by `p_since`, is still busy (running
-- a statement). Runs as the extension's owner, who sees every session.
CREATE FUNCTION credits._session_busy(p_pid integer, p_since timestamptz)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT FROM pg_catalog.pg_stat_activity a
                WHERE a.pid = p_pid AND coalesce(a.backend_start <= p_since, true)
                  AND a.state IS DISTINCT FROM 'idle');

-- One row per maintenance run of the last week. state: running, finished,
-- failed, or interrupted (unfinished, and its session is gone or idle: it
-- was killed, or its server stopped).
CREATE VIEW credits.maintenance_runs AS
SELECT l.run_id,
       l.job,
       CASE WHEN l.finished_at IS NOT NULL THEN CASE WHEN l.error IS NULL THEN 'finished' ELSE 'failed' END
            WHEN credits._session_busy(l.pid, l.started_at) THEN 'running'
            ELSE 'interrupted' END AS state,
       l.as_of,
       l.started_at,
       l.last_batch_at,
       l.finished_at,
       l.batches,
       l.rows_done,
       l.problems,
       l.error,
       l.pid
  FROM credits.maintenance_log l;

-- verify() as a job: its problem count is kept in maintenance_log, so that
-- monitoring reads it for nothing (verify() itself reads the whole ledger).
-- Schedule it hourly:
--   SELECT cron.schedule('credits-verify', '7 * * * *', 'CALL credits.record_verify()');
CREATE PROCEDURE credits.record_verify()
LANGUAGE plpgsql
AS $$
BEGIN
	CALL credits._run_maintenance('verify', pg_catalog.now());
END
$$;

-- The gauges of monitoring/queries.yaml, one row; only counts leave it.
CREATE FUNCTION credits.metrics()
RETURNS TABLE (ledger_entries_total bigint, pools_at_zero bigint, pools_below_alert bigint, holds_overdue bigint,
               grants_overdue bigint, subscriptions_due bigint, verify_problems bigint, topup_requests_open bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT
	-- ids handed out: entries written (plus any rolled back)
	coalesce(pg_catalog.pg_sequence_last_value('credits.ledger_entry_id_seq'), 0),
	-- available = 0 in pool_balances: no live grant with credits left, nor
	-- with a part of a lapsed hold to give back
	(SELECT count(*) FROM credits.pools p
	  WHERE NOT EXISTS (SELECT FROM credits.grants g
	                     WHERE g.pool_id = p.pool_id AND g.voided_at IS NULL AND g.expired_at IS NULL
	                       AND g.effective_at <= now() AND (g.expires_at IS NULL OR g.expires_at > now())
	                       AND (g.remaining > 0
	                            OR (g.held > 0 AND EXISTS (SELECT FROM credits._lapsed_hold_parts lp
	                                                        WHERE lp.pool_id = g.pool_id AND lp.grant_id = g.grant_id))))),
	-- as the pool_balance_below alert decides
	(SELECT count(*) FROM credits.alert_rules r JOIN credits.pools p ON p.pool_id = r.pool_id
	  WHERE r.metric = 'pool_balance_below' AND credits.balance(p.pool) < r.threshold),
	(SELECT count(*) FROM credits.holds h WHERE h.status = 'pending' AND h.expires_at <= now()),
	(SELECT count(*) FROM credits.grants g
	  WHERE g.expires_at <= now() AND g.expired_at IS NULL AND g.voided_at IS NULL AND g.expires_at IS NOT NULL),
	(SELECT count(*) FROM credits.subscriptions x
	  WHERE x.cancelled_at IS NULL AND credits._period_at(x.anchor, x.period, x.issued_through + 1) <= now()),
	(SELECT l.problems FROM credits.maintenance_log l
	  WHERE l.job = 'verify' AND l.finished_at IS NOT NULL AND l.error IS NULL
	  ORDER BY l.started_at DESC LIMIT 1),
	(SELECT count(*) FROM credits.topup_requests t WHERE t.status = 'open');
END;

-- Charge attempts (and captures: transaction_log's rows) of the last 5
-- minutes, by status; every status has a row.
CREATE FUNCTION credits.metrics_charge_attempts()
RETURNS TABLE (status text, attempts bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT s.status, coalesce(a.attempts, 0)
	  FROM (VALUES ('succeeded'), ('insufficient_credits'), ('member_limit_exceeded'), ('access_revoked'),
	               ('rate_limited'), ('budget_exceeded')) s(status)
	  LEFT JOIN (SELECT l.status::text AS status, count(*) AS attempts
	               FROM credits.ledger l
	              WHERE l.at > now() - interval '5 minutes' AND l.status IS NOT NULL AND l.entry_type <> 'hold'
	              GROUP BY 1) a ON a.status = s.status
	 ORDER BY 1;
END;

-- Per maintenance job: seconds since its last successful run (since 1970
-- when it never ran), the run in progress, and the failed and interrupted
-- runs of the last hour.
CREATE FUNCTION credits.metrics_maintenance()
RETURNS TABLE (job text, last_success_age_seconds double precision, last_success_timestamp_seconds double precision,
               running integer, running_seconds double precision, running_batches bigint, running_rows bigint,
               failed_last_hour bigint, interrupted_last_hour bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT j.job,
	       extract(epoch FROM now() - coalesce(s.finished_at, 'epoch'))::double precision,
	       extract(epoch FROM coalesce(s.finished_at, 'epoch'))::double precision,
	       coalesce(r.running, 0),
	       coalesce(r.running_seconds, 0),
	       coalesce(r.running_batches, 0),
	       coalesce(r.running_rows, 0),
	       coalesce(r.failed, 0),
	       coalesce(r.interrupted, 0)
	  FROM (VALUES ('renew_subscriptions'), ('expire_grants'), ('expire_holds'), ('verify')) j(job)
	  LEFT JOIN LATERAL (SELECT l.finished_at FROM credits.maintenance_log l
	                      WHERE l.job = j.job AND l.finished_at IS NOT NULL AND l.error IS NULL
	                      ORDER BY l.started_at DESC LIMIT 1) s ON true
	  LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE m.state = 'running')::integer AS running,
	                            extract(epoch FROM now() - min(m.started_at) FILTER (WHERE m.state = 'running'))::double precision
	                                AS running_seconds,
	                            sum(m.batches) FILTER (WHERE m.state = 'running') AS running_batches,
	                            sum(m.rows_done) FILTER (WHERE m.state = 'running') AS running_rows,
	                            count(*) FILTER (WHERE m.state = 'failed' AND m.finished_at > now() - interval '1 hour')
	                                AS failed,
	                            count(*) FILTER (WHERE m.state = 'interrupted' AND m.started_at > now() - interval '1 hour')
	                                AS interrupted
	                       FROM credits.maintenance_runs m
	                      WHERE m.job = j.job AND (m.finished_at IS NULL OR m.finished_at > now() - interval '1 hour')) r
	         ON true
	 ORDER BY 1;
END;

COMMENT ON VIEW credits.maintenance_runs IS 'One row per maintenance run of the last week: state, batches and rows done, error.';
COMMENT ON PROCEDURE credits.record_verify() IS 'Runs verify() and keeps its problem count for monitoring (schedule it hourly).';
COMMENT ON FUNCTION credits.metrics() IS 'Gauges for monitoring: ledger entries, pools at zero or below alert, overdue work, verify problems, open top-ups.';
COMMENT ON FUNCTION credits.metrics_charge_attempts() IS 'Charge attempts of the last 5 minutes, by status, for monitoring.';
COMMENT ON FUNCTION credits.metrics_maintenance() IS 'Per maintenance job: age of the last successful run, the run in progress, recent failures.';

GRANT EXECUTE ON FUNCTION credits._maintenance_batch(text, timestamptz) TO credits_owner;

-- Monitoring (0.3): progress of maintenance runs, a cached verify(), and
-- the aggregates of monitoring/queries.yaml for credits_monitor.
GRANT EXECUTE ON FUNCTION credits._maintenance_run_start(text, timestamptz),
	credits._maintenance_run_batch(bigint, bigint),
	credits._maintenance_run_end(bigint, text, text),
	credits._maintenance_step(bigint, text, timestamptz)
TO credits_owner;
GRANT EXECUTE ON PROCEDURE credits.record_verify() TO credits_owner;
GRANT EXECUTE ON FUNCTION credits._session_busy(integer, timestamptz) TO credits_reader;
GRANT SELECT ON credits.maintenance_runs TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.metrics(), credits.metrics_charge_attempts(), credits.metrics_maintenance()
TO credits_monitor;

REVOKE ALL ON ALL TABLES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA credits FROM PUBLIC;
-- (end of operations 0.3)
