-- Pools and members: create_pool (settings, topup_increment), member limits
-- (set_member_limit, set_member_limits, remove_member_limit), access
-- (revoke_access, restore_access), enrollment by admin functions, and their
-- errors. Every example of docs/pools-and-members.md is here.
-- Ids differ between runs: they are compared, never printed.
\set VERBOSITY default
\set SHOW_CONTEXT never

-------------------------------------------------------------------------------
-- create_pool
-------------------------------------------------------------------------------
-- docs example: a pool per organization
SELECT credits.create_pool('pools_acme', 'Acme Inc') AS acme_id \gset
SELECT :acme_id > 0 AS created;
SELECT credits.create_pool('pools_globex', settings => '{"topup_increment": 10}') AS globex_id \gset
SELECT :globex_id > :acme_id AS later_pool_larger_id;
SELECT pool, name, available FROM credits.pool_balances WHERE pool LIKE 'pools\_%' ORDER BY pool;

-- docs example: an existing key
SELECT credits.create_pool('pools_acme');
\echo :LAST_ERROR_SQLSTATE
-- keys are case-sensitive text: this is another pool
SELECT credits.create_pool('POOLS_ACME') > 0 AS created;

-- the name is optional and free text
SELECT credits.create_pool('pools_noname', NULL) > 0 AS created;
SELECT pool, name FROM credits.pool_balances WHERE pool = 'pools_noname';

-- settings
SELECT credits.create_pool('pools_bad', settings => '{"topup_incremnt": 10}');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('pools_bad', settings => '[10]');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('pools_bad', settings => '"x"');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('pools_bad', settings => '{"topup_increment": "10"}');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('pools_bad', settings => '{"topup_increment": null}');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('pools_bad', settings => '{"topup_increment": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('pools_bad', settings => '{"topup_increment": -5}');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('pools_bad', settings => '{"topup_increment": 0.0000001}');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('pools_bad', settings => '{"topup_increment": 1000000000001}');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('pools_bad', settings => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('pools_bad', settings => '{}') > 0 AS created;   -- empty settings are fine
SELECT credits.create_pool('pools_halves', settings => '{"topup_increment": 0.5}') > 0 AS created;

-- the key must be given and must not be empty
SELECT credits.create_pool(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('');
\echo :LAST_ERROR_SQLSTATE
-- a failed call created nothing
SELECT count(*) AS pools FROM credits.pool_balances WHERE pool = '';

-- topup_increment: purchased grants must be multiples of it
SELECT credits.grant('pools_globex', 50) > 0 AS granted;
SELECT credits.grant('pools_globex', 55);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('pools_globex', 5, 'promo') > 0 AS granted;   -- other kinds are not purchases
SELECT credits.grant('pools_halves', 2.5) > 0 AS granted;
SELECT credits.grant('pools_halves', 2.25);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.balance('pools_globex') AS globex, credits.balance('pools_halves') AS halves;

-------------------------------------------------------------------------------
-- set_member_limit
-------------------------------------------------------------------------------
SELECT credits.grant('pools_acme', 100) > 0 AS granted;

-- docs example: limits per period
SELECT credits.set_member_limit('pools_acme', 'alice', 40);            -- per calendar month (UTC)
SELECT credits.set_member_limit('pools_acme', 'bob', 10, 'day');
SELECT credits.set_member_limit('pools_acme', 'carol', 25, 'week');
SELECT credits.set_member_limit('pools_acme', 'dave', 100, 'none');    -- lifetime
SELECT member, used, credit_limit, remaining_limit, period, access
  FROM credits.member_usage WHERE pool = 'pools_acme' ORDER BY member;

-- the limit holds on charges
SELECT status, charged, member_used FROM credits.charge('pools_acme', 'bob', 8);
SELECT * FROM credits.charge('pools_acme', 'bob', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT status, charged, member_used FROM credits.try_charge('pools_acme', 'bob', 3);
SELECT credits.balance('pools_acme', 'bob') AS bob_can_spend;

-- docs example: a limit above what the pool has available
SELECT credits.balance('pools_acme') AS available;
SELECT credits.set_member_limit('pools_acme', 'alice', 95);
\echo :LAST_ERROR_SQLSTATE
-- exactly the available credits is fine
SELECT credits.set_member_limit('pools_acme', 'alice', 92);
SELECT credit_limit FROM credits.member_usage WHERE pool = 'pools_acme' AND member = 'alice';
-- credits that take effect later do not count as available
SELECT credits.grant('pools_acme', 100, effective_at => now() + interval '1 day') > 0 AS granted;
SELECT credits.set_member_limit('pools_acme', 'alice', 93);
\echo :LAST_ERROR_SQLSTATE
-- a limit of 0 blocks every paid charge; a free one still passes
SELECT credits.set_member_limit('pools_acme', 'erin', 0);
SELECT * FROM credits.charge('pools_acme', 'erin', 0.000001);
\echo :LAST_ERROR_SQLSTATE
SELECT status, charged FROM credits.charge('pools_acme', 'erin', 0);

-- lowering a limit below what was already used this period is allowed:
-- the member can spend nothing more until the period turns
SELECT credits.set_member_limit('pools_acme', 'bob', 5, 'day');
SELECT member, used, credit_limit, remaining_limit, percent_used, period
  FROM credits.member_usage WHERE pool = 'pools_acme' AND member = 'bob';
SELECT credits.balance('pools_acme', 'bob') AS bob_can_spend;

-- a new period keeps counting what the ledger shows for it: bob used 8 today,
-- this week and this month
SELECT credits.set_member_limit('pools_acme', 'bob', 20, 'week');
SELECT used, remaining_limit, period FROM credits.member_usage WHERE pool = 'pools_acme' AND member = 'bob';
SELECT credits.set_member_limit('pools_acme', 'bob', 20, 'none');
SELECT used, remaining_limit, period FROM credits.member_usage WHERE pool = 'pools_acme' AND member = 'bob';
SELECT credits.set_member_limit('pools_acme', 'bob', 20, 'month');
SELECT used, remaining_limit, period FROM credits.member_usage WHERE pool = 'pools_acme' AND member = 'bob';

-- docs example: NULL removes the limit
SELECT credits.set_member_limit('pools_acme', 'carol', NULL);
SELECT member, credit_limit, remaining_limit, period
  FROM credits.member_usage WHERE pool = 'pools_acme' AND member = 'carol';
-- removing a limit needs no credits
SELECT credits.create_pool('pools_empty') > 0 AS created;
SELECT credits.set_member_limit('pools_empty', 'zed', NULL);
SELECT credits.set_member_limit('pools_empty', 'zed', 1);
\echo :LAST_ERROR_SQLSTATE

-- admin functions enroll an unknown member
SELECT count(*) AS known FROM credits.member_usage WHERE pool = 'pools_acme' AND member = 'frank';
SELECT credits.set_member_limit('pools_acme', 'frank', 5);
SELECT member, used, credit_limit, period, access
  FROM credits.member_usage WHERE pool = 'pools_acme' AND member = 'frank';

-- errors
SELECT credits.set_member_limit('pools_acme', 'alice', 10, 'year');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limit('pools_acme', 'alice', 10, 'Month');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limit('pools_acme', 'alice', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limit('pools_acme', 'alice', 1.0000001);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limit('pools_nowhere', 'alice', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limit('pools_acme', 'alice', 10, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limit('pools_acme', NULL, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limit(NULL, 'alice', 10);
\echo :LAST_ERROR_SQLSTATE
-- a failed call changed nothing
SELECT credit_limit, period FROM credits.member_usage WHERE pool = 'pools_acme' AND member = 'alice';
SELECT count(*) AS enrolled FROM credits.member_usage WHERE pool = 'pools_nowhere';

-------------------------------------------------------------------------------
-- set_member_limits
-------------------------------------------------------------------------------
SELECT credits.create_pool('pools_team') > 0 AS created;
SELECT credits.grant('pools_team', 1000) > 0 AS granted;

-- docs example: the same limit for each, and a budget split equally
SELECT credits.set_member_limits('pools_team', ARRAY['ann', 'ben'], 50);
SELECT credits.set_member_limits('pools_team', ARRAY['cat', 'dan', 'eve'], 100, 'split');
SELECT member, credit_limit, period FROM credits.member_usage WHERE pool = 'pools_team' ORDER BY member;

-- a period for all of them
SELECT credits.set_member_limits('pools_team', ARRAY['ann', 'ben'], 5, 'each', 'day');
SELECT member, credit_limit, period FROM credits.member_usage
 WHERE pool = 'pools_team' AND member IN ('ann', 'ben') ORDER BY member;

-- split rounds down to 6 places; a member named twice counts once
SELECT credits.set_member_limits('pools_team', ARRAY['fay', 'gus', 'hal', 'gus'], 0.000002, 'split');
SELECT member, credit_limit FROM credits.member_usage
 WHERE pool = 'pools_team' AND member IN ('fay', 'gus', 'hal') ORDER BY member;
SELECT credits.set_member_limits('pools_team', ARRAY['ivy', 'jon', 'kim'], 1, 'split');
SELECT member, credit_limit FROM credits.member_usage
 WHERE pool = 'pools_team' AND member IN ('ivy', 'jon', 'kim') ORDER BY member;

-- every share is checked against the pool's available credits (CR008), and
-- one failure sets no limit at all
SELECT credits.set_member_limits('pools_team', ARRAY['lea', 'max'], 1001);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('pools_team', ARRAY['lea', 'max'], 2000, 'split');   -- 1000 each: fine
SELECT member, credit_limit FROM credits.member_usage
 WHERE pool = 'pools_team' AND member IN ('lea', 'max') ORDER BY member;

-- errors
SELECT credits.set_member_limits('pools_team', ARRAY['ann'], 5, 'half');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('pools_team', ARRAY['ann'], 5, 'each', 'year');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('pools_team', ARRAY[]::text[], 5);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('pools_team', ARRAY['ann', NULL], 5);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('pools_team', ARRAY['ann'], NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('pools_team', ARRAY['ann'], -5);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('pools_team', NULL, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('pools_team', ARRAY['ann'], 5, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits(NULL, ARRAY['ann'], 5);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('pools_nowhere', ARRAY['ann'], 5);
\echo :LAST_ERROR_SQLSTATE
SELECT member, credit_limit, period FROM credits.member_usage
 WHERE pool = 'pools_team' AND member = 'ann';

-------------------------------------------------------------------------------
-- remove_member_limit
-------------------------------------------------------------------------------
-- docs example
SELECT credits.remove_member_limit('pools_team', 'ann');
SELECT member, credit_limit, remaining_limit, period
  FROM credits.member_usage WHERE pool = 'pools_team' AND member = 'ann';
-- removing again, or from a member without a limit, is a no-op
SELECT credits.remove_member_limit('pools_team', 'ann');
-- an unknown member is enrolled, without a limit
SELECT credits.remove_member_limit('pools_team', 'new_member');
SELECT member, credit_limit, access FROM credits.member_usage
 WHERE pool = 'pools_team' AND member = 'new_member';
-- the member can spend again
SELECT status, charged FROM credits.charge('pools_team', 'ann', 200);
-- errors
SELECT credits.remove_member_limit('pools_nowhere', 'ann');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_member_limit(NULL, 'ann');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_member_limit('pools_team', NULL);
\echo :LAST_ERROR_SQLSTATE

-------------------------------------------------------------------------------
-- revoke_access, restore_access
-------------------------------------------------------------------------------
-- docs example
SELECT credits.revoke_access('pools_acme', 'alice');
SELECT member, access FROM credits.member_usage WHERE pool = 'pools_acme' AND member = 'alice';
SELECT * FROM credits.charge('pools_acme', 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT status, charged FROM credits.try_charge('pools_acme', 'alice', 1);
SELECT credits.balance('pools_acme', 'alice') AS alice_can_spend;
SELECT credits.restore_access('pools_acme', 'alice');
SELECT status, charged FROM credits.charge('pools_acme', 'alice', 1);

-- both are idempotent; a revoked member keeps its limit and usage
SELECT credits.revoke_access('pools_acme', 'alice');
SELECT credits.revoke_access('pools_acme', 'alice');
SELECT member, used, credit_limit, access FROM credits.member_usage
 WHERE pool = 'pools_acme' AND member = 'alice';
SELECT credits.restore_access('pools_acme', 'alice');
SELECT credits.restore_access('pools_acme', 'alice');
SELECT member, used, credit_limit, access FROM credits.member_usage
 WHERE pool = 'pools_acme' AND member = 'alice';

-- an unknown member is enrolled: revoked before its first charge
SELECT credits.revoke_access('pools_acme', 'mallory');
SELECT member, used, credit_limit, access FROM credits.member_usage
 WHERE pool = 'pools_acme' AND member = 'mallory';
SELECT credits.restore_access('pools_acme', 'oscar');
SELECT member, access FROM credits.member_usage WHERE pool = 'pools_acme' AND member = 'oscar';

-- errors
SELECT credits.revoke_access('pools_nowhere', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.revoke_access(NULL, 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.revoke_access('pools_acme', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.restore_access('pools_nowhere', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.restore_access(NULL, 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.restore_access('pools_acme', NULL);
\echo :LAST_ERROR_SQLSTATE

-------------------------------------------------------------------------------
-- Everything above kept the books straight.
-------------------------------------------------------------------------------
SELECT * FROM credits.verify();
