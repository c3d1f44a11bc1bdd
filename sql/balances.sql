-- Balances: balance(pool) and balance(pool, member).
\set VERBOSITY default
\set SHOW_CONTEXT never

-------------------------------------------------------------------------------
-- The example of docs/balances.md
-------------------------------------------------------------------------------
SELECT credits.create_pool('balances_acme') > 0 AS created;
SELECT credits.grant('balances_acme', 100) > 0 AS granted;                     -- the pool's
SELECT credits.grant('balances_acme', 20, 'free', member => 'bob') > 0 AS granted; -- bob's own
SELECT credits.grant('balances_acme', 30, effective_at => now() + interval '1 day') > 0 AS granted;
SELECT credits.grant('balances_acme', 40, 'promo', effective_at => now() - interval '2 days',
                     expires_at => now() - interval '1 day') > 0 AS granted;
SELECT credits.void_grant(credits.grant('balances_acme', 50)) AS voided;
SELECT credits.set_member_limit('balances_acme', 'alice', 110);
SELECT credits.set_member_limit('balances_acme', 'carol', 40);
SELECT credits.revoke_access('balances_acme', 'dave');

SELECT credits.balance('balances_acme') AS pool,
       credits.balance('balances_acme', 'alice') AS alice,
       credits.balance('balances_acme', 'bob') AS bob,
       credits.balance('balances_acme', 'carol') AS carol,
       credits.balance('balances_acme', 'dave') AS dave,
       credits.balance('balances_acme', 'zoe') AS zoe;

-- asking about an unknown member does not enroll it
SELECT count(*) AS zoe_enrolled FROM credits.member_usage WHERE pool = 'balances_acme' AND member = 'zoe';
-- a NULL member is the pool's balance
SELECT credits.balance('balances_acme', NULL) AS pool;
-- the pool's balance is what pool_balances shows as available
SELECT available = credits.balance('balances_acme') AS same FROM credits.pool_balances WHERE pool = 'balances_acme';

-------------------------------------------------------------------------------
-- Charges move the balances
-------------------------------------------------------------------------------
SELECT status, charged, balance FROM credits.charge('balances_acme', 'carol', 15);
SELECT credits.balance('balances_acme') AS pool,
       credits.balance('balances_acme', 'carol') AS carol,
       credits.balance('balances_acme', 'alice') AS alice;

-- bob spends his own free grant first (free ranks before purchased)
SELECT status, charged, balance FROM credits.charge('balances_acme', 'bob', 25);
SELECT credits.balance('balances_acme') AS pool,
       credits.balance('balances_acme', 'bob') AS bob,
       credits.balance('balances_acme', 'alice') AS alice;

-- alice's balance is capped by what is left of her limit
SELECT status, charged FROM credits.charge('balances_acme', 'alice', 50);
SELECT credits.balance('balances_acme', 'alice') AS alice;   -- credits 30, limit left 60
SELECT credits.grant('balances_acme', 100) > 0 AS granted;
SELECT credits.balance('balances_acme', 'alice') AS alice;   -- credits 130, limit left 60
SELECT used, credit_limit, remaining_limit FROM credits.member_usage
 WHERE pool = 'balances_acme' AND member = 'alice';

-- a member's balance is exactly what it can charge
SELECT credits.balance('balances_acme', 'carol') AS carol_balance \gset
SELECT status FROM credits.try_charge('balances_acme', 'carol', :carol_balance + 0.000001);
SELECT status, charged FROM credits.charge('balances_acme', 'carol', :carol_balance);
SELECT credits.balance('balances_acme', 'carol') AS carol;

-- revoked: 0 whatever the pool holds; restored: back
SELECT credits.balance('balances_acme', 'dave') AS dave;
SELECT credits.restore_access('balances_acme', 'dave');
SELECT credits.balance('balances_acme', 'dave') AS dave;

-- a transaction sees its own charges
BEGIN;
SELECT status, charged FROM credits.charge('balances_acme', 'zoe', 10);
SELECT credits.balance('balances_acme') AS pool, credits.balance('balances_acme', 'zoe') AS zoe;
ROLLBACK;
SELECT credits.balance('balances_acme') AS pool;

-------------------------------------------------------------------------------
-- An empty pool, an unknown pool, NULL
-------------------------------------------------------------------------------
SELECT credits.create_pool('balances_empty') > 0 AS created;
SELECT credits.balance('balances_empty') AS pool, credits.balance('balances_empty', 'alice') AS alice;
SELECT credits.balance('balances_nope');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.balance('balances_nope', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.balance(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.balance(NULL, 'alice');
\echo :LAST_ERROR_SQLSTATE
