-- verify(): every broken invariant, empty when all hold. Every check is one
-- pass (grouped) over its tables.

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

-- What \df+ and \dv+ show.
COMMENT ON FUNCTION credits.verify() IS 'Every broken invariant of the credits data; empty when balances equal the ledger.';
