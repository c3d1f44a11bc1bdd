-- The 0.3 clarifications of the contract ("Clarified in 0.3" in the spec):
-- each of the five places where 0.2 departed from it, with its minimal
-- reproduction.
\set VERBOSITY default
\set SHOW_CONTEXT never

-- 1. An admin may change a member's limit or period at any time: a period
-- change recounts usage, it does not spend. The member then cannot spend
-- until the period turns (a free action still succeeds).
SELECT credits.create_pool('contract_limits') > 0 AS created;
SELECT credits.grant('contract_limits', 100) > 0 AS granted;
SELECT status, charged FROM credits.charge('contract_limits', 'm', 10);
SELECT credits.set_member_limit('contract_limits', 'm', 5, 'week');
SELECT member, used, credit_limit, period, percent_used, remaining_limit
  FROM credits.member_usage WHERE pool = 'contract_limits';
SELECT status, charged, member_used FROM credits.try_charge('contract_limits', 'm', 1);
SELECT status, charged, member_used FROM credits.try_charge('contract_limits', 'm', 0);
SELECT credits.balance('contract_limits', 'm');
-- the same for a revoked member; a free action is still refused to it
SELECT status FROM credits.charge('contract_limits', 'r', 10);
SELECT credits.revoke_access('contract_limits', 'r');
SELECT credits.set_member_limit('contract_limits', 'r', 50, 'week');
SELECT status, charged FROM credits.try_charge('contract_limits', 'r', 0);
-- back to a month: the month's usage is counted again, nothing is spent
SELECT credits.set_member_limit('contract_limits', 'm', 5, 'month');
SELECT member, used, period FROM credits.member_usage WHERE pool = 'contract_limits' AND member = 'm';
-- the only error a limit can raise is CR008 (above the pool's available)
SELECT code, message FROM regress.error_of($$SELECT credits.set_member_limit('contract_limits', 'm', 81, 'day')$$);
SELECT * FROM credits.verify();

-- 2. set_member_limits keeps each member's period (new members: month); an
-- empty members array raises 22023.
SELECT credits.create_pool('contract_bulk') > 0 AS created;
SELECT credits.grant('contract_bulk', 1000) > 0 AS granted;
SELECT credits.set_member_limit('contract_bulk', 'weekly', 10, 'week');
SELECT credits.set_member_limit('contract_bulk', 'daily', 10, 'day');
SELECT credits.set_member_limits('contract_bulk', ARRAY['weekly', 'daily', 'newcomer'], 90, 'split');
SELECT member, credit_limit, period FROM credits.member_usage WHERE pool = 'contract_bulk' ORDER BY member;
-- a period given sets it for all
SELECT credits.set_member_limits('contract_bulk', ARRAY['weekly', 'newcomer'], 20, 'each', 'none');
SELECT member, credit_limit, period FROM credits.member_usage WHERE pool = 'contract_bulk' ORDER BY member;
SELECT code, message FROM regress.error_of($$SELECT credits.set_member_limits('contract_bulk', ARRAY[]::text[], 10)$$);

-- 3. A hold past its TTL is lapsed at once everywhere: balance() and every
-- view count its credits as available and not held, before any write or
-- expire_holds records it.
SELECT credits.create_pool('contract_lapse') > 0 AS created;
SELECT credits.grant('contract_lapse', 100) > 0 AS granted;
SELECT credits.set_member_limit('contract_lapse', 'm', 50);
SELECT credits.reserve('contract_lapse', 'm', 10, ttl => '1 microsecond') > 0 AS reserved;
SELECT credits.balance('contract_lapse') AS balance, credits.balance('contract_lapse', 'm') AS member_balance;
SELECT available, held FROM credits.pool_balances WHERE pool = 'contract_lapse';
SELECT remaining, held, status FROM credits.grant_balances WHERE pool = 'contract_lapse';
SELECT used, held, percent_used, remaining_limit FROM credits.member_usage WHERE pool = 'contract_lapse';
-- the hold itself is still pending until something records the lapse
SELECT status FROM credits.holds h JOIN credits.pools p USING (pool_id) WHERE p.pool = 'contract_lapse';
CALL credits.expire_holds();
SELECT status FROM credits.holds h JOIN credits.pools p USING (pool_id) WHERE p.pool = 'contract_lapse';
SELECT available, held FROM credits.pool_balances WHERE pool = 'contract_lapse';
-- a lapsed part of a grant that has expired meanwhile is not available: it
-- expires with its grant
BEGIN;
SELECT credits.grant('contract_lapse', 5, 'promo', effective_at => now() - interval '1 hour',
                     expires_at => now() + interval '1 microsecond') > 0 AS granted;
SELECT credits.reserve('contract_lapse', 'x', 5, ttl => '1 microsecond') > 0 AS reserved;
SELECT credits.balance('contract_lapse') AS balance_in_transaction;
COMMIT;
SELECT credits.balance('contract_lapse'), b.available, b.held FROM credits.pool_balances b WHERE pool = 'contract_lapse';
SELECT kind, remaining, held, status FROM credits.grant_balances WHERE pool = 'contract_lapse' ORDER BY kind;
SELECT * FROM credits.verify();

-- 4. transaction_log has one row per charge attempt and per capture; a
-- pending, released or lapsed hold has none.
SELECT credits.create_pool('contract_log') > 0 AS created;
SELECT credits.grant('contract_log', 100) > 0 AS granted;
SELECT credits.reserve('contract_log', 'm', 10, '1 hour', 'chat') > 0 AS pending;
SELECT credits.release(credits.reserve('contract_log', 'm', 10));
SELECT credits.reserve('contract_log', 'm', 10, ttl => '1 microsecond') > 0 AS lapsing;
SELECT (credits.capture(credits.reserve('contract_log', 'm', 10, '1 hour', 'image'), 4)).status;
SELECT status FROM credits.charge('contract_log', 'm', 3, 'text');
SELECT status FROM credits.try_charge('contract_log', 'm', 1000, 'text');
SELECT operation, member, feature, credits, status FROM credits.transaction_log
 WHERE pool = 'contract_log' ORDER BY charge_id;

-- 5. member_usage.percent_used = 100 * used / credit_limit: held credits
-- are not usage (remaining_limit accounts for them).
SELECT credits.create_pool('contract_percent') > 0 AS created;
SELECT credits.grant('contract_percent', 100) > 0 AS granted;
SELECT credits.set_member_limit('contract_percent', 'm', 50);
SELECT status FROM credits.charge('contract_percent', 'm', 5);
SELECT credits.reserve('contract_percent', 'm', 10, '1 hour') > 0 AS reserved;
SELECT used, held, credit_limit, percent_used, remaining_limit FROM credits.member_usage
 WHERE pool = 'contract_percent';
-- with a limit of 0: 0 while nothing is used, else 100
SELECT credits.set_member_limit('contract_percent', 'zero', 0);
SELECT status FROM credits.charge('contract_percent', 'spent', 1);
SELECT credits.set_member_limit('contract_percent', 'spent', 0);
SELECT member, used, percent_used FROM credits.member_usage
 WHERE pool = 'contract_percent' AND member IN ('zero', 'spent') ORDER BY member;
-- the member_usage_percent alert follows the same figure: used 5 of 50 is
-- 10%, held 10 does not make it 30%
SELECT credits.set_alert('contract_percent', 'member_usage_percent', 20);
SELECT status FROM credits.charge('contract_percent', 'm', 4);
SELECT count(*) AS alerts_at_18_percent FROM credits.alerts WHERE pool = 'contract_percent' AND member = 'm';
SELECT status FROM credits.charge('contract_percent', 'm', 1);
SELECT member, metric, threshold, value FROM credits.alerts WHERE pool = 'contract_percent' ORDER BY id;
SELECT * FROM credits.verify();
