-- Rates: set_rate and its history, the rate_card view, charge_usage priced
-- at the rate in force (rounded up to 6 places), free actions, idempotency,
-- roles and argument errors. Rates are global: every feature here starts
-- with rates_ so that other tests' features cannot collide.
-- Times differ between runs: the rate card's timestamps are compared, never
-- printed.
-- Each error is followed by \echo :LAST_ERROR_SQLSTATE (VERBOSITY verbose would
-- also print LOCATION lines, which change between PostgreSQL builds).
\set VERBOSITY default
\set SHOW_CONTEXT never

-------------------------------------------------------------------------------
-- A rate card, and usage priced by it (docs/rates-and-caps.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('rates_acme', 'Acme Inc') > 0 AS created;
SELECT credits.grant('rates_acme', 100) > 0 AS granted;

-- docs example
SELECT credits.set_rate('rates_gpt', 0.002, 'token');
SELECT credits.set_rate('rates_image', 4, 'image');
SELECT credits.set_rate('rates_pixel', 0.0000015, 'pixel');
SELECT feature, unit, credits_per_unit, effective_from <= now() AS in_force, effective_until
  FROM credits.rate_card WHERE feature LIKE 'rates\_%' ORDER BY feature, effective_from;

-- docs example: 1234 tokens at 0.002
SELECT status, charged, balance, member_used, replayed
  FROM credits.charge_usage('rates_acme', 'alice', 'rates_gpt', 1234);
-- docs example: 3 pixels at 0.0000015 cost 0.0000045, rounded up to 0.000005
SELECT status, charged, balance, member_used, replayed
  FROM credits.charge_usage('rates_acme', 'alice', 'rates_pixel', 3);
-- a fraction of a unit is priced too; any cost above 0 costs at least 0.000001
SELECT status, charged FROM credits.charge_usage('rates_acme', 'alice', 'rates_pixel', 0.1);
SELECT status, charged FROM credits.charge_usage('rates_acme', 'alice', 'rates_image', 2.5);
-- an exact cost is not rounded
SELECT status, charged FROM credits.charge_usage('rates_acme', 'alice', 'rates_pixel', 2000000);

-- docs example: the charge's log row keeps the feature, the cost and the quantity
SELECT member, feature, credits, credit_kinds, status
  FROM credits.transaction_log WHERE pool = 'rates_acme' ORDER BY charge_id;
SELECT l.feature, l.quantity, credits._to_credits(l.requested) AS cost
  FROM credits.ledger l JOIN credits.pools p USING (pool_id)
 WHERE p.pool = 'rates_acme' AND l.status IS NOT NULL ORDER BY l.entry_id;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Rate history: a charge uses the rate in force at its time
-------------------------------------------------------------------------------
SELECT credits.create_pool('rates_history') > 0 AS created;
SELECT credits.grant('rates_history', 1000) > 0 AS granted;
SELECT credits.set_rate('rates_chat', 1, 'request', now() - interval '1 day');
-- a rate set for later is on the card but not in force yet
SELECT credits.set_rate('rates_chat', 3, 'request', now() + interval '30 days');
SELECT feature, credits_per_unit, effective_from <= now() AS in_force,
       effective_until > now() + interval '29 days' AS until_next
  FROM credits.rate_card WHERE feature = 'rates_chat' ORDER BY effective_from;
SELECT status, charged FROM credits.charge_usage('rates_history', 'bob', 'rates_chat', 1);
-- docs example: a new rate from now on; the card shows the one in force and
-- the one to come (the history stays in credits.rates)
SELECT credits.set_rate('rates_chat', 2, 'request');
SELECT feature, credits_per_unit, effective_from <= now() AS in_force
  FROM credits.rate_card WHERE feature = 'rates_chat' ORDER BY effective_from;
SELECT status, charged FROM credits.charge_usage('rates_history', 'bob', 'rates_chat', 1);
SELECT credits_per_unit, effective_from <= now() AS in_force FROM credits.rates
 WHERE feature = 'rates_chat' ORDER BY effective_from;
-- now() is the transaction's start: a rate that takes effect a microsecond
-- from now applies from the next transaction on
BEGIN;
SELECT credits.set_rate('rates_chat', 5, 'request', now() + interval '1 microsecond');
SELECT status, charged FROM credits.charge_usage('rates_history', 'bob', 'rates_chat', 1);
COMMIT;
SELECT status, charged FROM credits.charge_usage('rates_history', 'bob', 'rates_chat', 1);
SELECT feature, credits_per_unit, effective_from <= now() AS in_force
  FROM credits.rate_card WHERE feature = 'rates_chat' ORDER BY effective_from;
-- setting a rate again for the same moment replaces it (and its unit)
SELECT credits.set_rate('rates_later', 1, 'request', '2100-01-01 00:00:00+00');
SELECT credits.set_rate('rates_later', 1.5, 'call', '2100-01-01 00:00:00+00');
SELECT feature, unit, credits_per_unit, effective_from = '2100-01-01 00:00:00+00' AS at_2100
  FROM credits.rate_card WHERE feature = 'rates_later';
-- a feature whose only rate is in the future has no rate yet (CR009)
SELECT * FROM credits.charge_usage('rates_history', 'bob', 'rates_later', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Free actions: a rate of 0, a quantity of 0
-------------------------------------------------------------------------------
SELECT credits.create_pool('rates_free') > 0 AS created;
SELECT credits.set_rate('rates_preview', 0);
-- docs example: succeeds even in a pool with no credits, and is logged
SELECT status, charged, balance, member_used FROM credits.charge_usage('rates_free', 'carol', 'rates_preview', 7);
SELECT status, charged FROM credits.charge_usage('rates_free', 'carol', 'rates_gpt', 0);
SELECT member, feature, credits, credit_kinds, status
  FROM credits.transaction_log WHERE pool = 'rates_free' ORDER BY charge_id;
-- a cost above 0 needs credits
SELECT * FROM credits.charge_usage('rates_free', 'carol', 'rates_gpt', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- charge_usage is a charge: limits, access and idempotency
-------------------------------------------------------------------------------
SELECT credits.create_pool('rates_rules') > 0 AS created;
SELECT credits.grant('rates_rules', 50) > 0 AS granted;
SELECT credits.set_member_limit('rates_rules', 'dan', 10);
SELECT * FROM credits.charge_usage('rates_rules', 'dan', 'rates_image', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge_usage('rates_rules', 'erin', 'rates_image', 13);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.revoke_access('rates_rules', 'fay');
SELECT * FROM credits.charge_usage('rates_rules', 'fay', 'rates_image', 1);
\echo :LAST_ERROR_SQLSTATE
-- a failed charge_usage changes nothing and logs nothing
SELECT count(*) AS logged FROM credits.transaction_log WHERE pool = 'rates_rules';

-- docs example: the same key and quantity replay the first charge
SELECT status, charged, balance, member_used, replayed
  FROM credits.charge_usage('rates_rules', 'dan', 'rates_image', 2, 'frame-1');
SELECT status, charged, balance, member_used, replayed
  FROM credits.charge_usage('rates_rules', 'dan', 'rates_image', 2, 'frame-1');
-- 2.000 is the same quantity
SELECT status, charged, replayed FROM credits.charge_usage('rates_rules', 'dan', 'rates_image', 2.000, 'frame-1');
-- even after the rate changed: the replay returns what was charged
SELECT credits.set_rate('rates_image', 5, 'image');
SELECT status, charged, replayed FROM credits.charge_usage('rates_rules', 'dan', 'rates_image', 2, 'frame-1');
-- another quantity, feature or member with that key is CR005
SELECT * FROM credits.charge_usage('rates_rules', 'dan', 'rates_image', 3, 'frame-1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge_usage('rates_rules', 'dan', 'rates_gpt', 2, 'frame-1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge_usage('rates_rules', 'erin', 'rates_image', 2, 'frame-1');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS logged FROM credits.transaction_log WHERE pool = 'rates_rules';
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Argument errors
-------------------------------------------------------------------------------
SELECT credits.create_pool('rates_args') > 0 AS created;
SELECT credits.grant('rates_args', 10) > 0 AS granted;
-- docs example: a feature without a rate is CR009
SELECT * FROM credits.charge_usage('rates_args', 'gus', 'rates_unknown', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge_usage(NULL, 'gus', 'rates_gpt', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge_usage('rates_args', NULL, 'rates_gpt', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge_usage('rates_args', 'gus', NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge_usage('rates_args', 'gus', 'rates_gpt', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge_usage('rates_args', 'gus', 'rates_gpt', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge_usage('rates_args', 'gus', 'rates_gpt', 'NaN');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge_usage('rates_args', 'gus', 'rates_gpt', 'Infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge_usage('rates_args', 'gus', 'rates_gpt', 1e15);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge_usage('rates_nowhere', 'gus', 'rates_gpt', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_rate(NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_rate('rates_bad', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_rate('rates_bad', 1, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_rate('rates_bad', 1, 'request', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_rate('rates_bad', -0.5);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_rate('rates_bad', 'NaN');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_rate('rates_bad', 'Infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_rate('rates_bad', 1000000000001);
\echo :LAST_ERROR_SQLSTATE
-- a rate may have more than 6 decimal places: only the cost is rounded
SELECT credits.set_rate('rates_fine', 0.0000001);
SELECT status, charged FROM credits.charge_usage('rates_args', 'gus', 'rates_fine', 1);
SELECT count(*) AS bad_rates FROM credits.rates WHERE feature = 'rates_bad';
SELECT member, used FROM credits.member_usage WHERE pool = 'rates_args';
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Roles: credits_app charges usage, credits_owner sets rates, readers read
-- the card
-------------------------------------------------------------------------------
SELECT credits.create_pool('rates_roles') > 0 AS created;
SELECT credits.grant('rates_roles', 10) > 0 AS granted;
CREATE ROLE rates_nobody;
SET ROLE credits_app;
SELECT status, charged FROM credits.charge_usage('rates_roles', 'hal', 'rates_gpt', 100);
SELECT credits.set_rate('rates_gpt', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.rate_card;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE credits_reader;
SELECT feature, unit, credits_per_unit FROM credits.rate_card WHERE feature = 'rates_gpt';
SELECT * FROM credits.charge_usage('rates_roles', 'hal', 'rates_gpt', 100);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_rate('rates_gpt', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM credits.rates;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE rates_nobody;
SELECT * FROM credits.charge_usage('rates_roles', 'hal', 'rates_gpt', 100);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_rate('rates_gpt', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.rate_card;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE credits_owner;
SELECT credits.set_rate('rates_owner', 0.5, 'call');
SELECT status, charged FROM credits.charge_usage('rates_roles', 'hal', 'rates_owner', 2);
SELECT feature, unit, credits_per_unit FROM credits.rate_card WHERE feature = 'rates_owner';
RESET ROLE;
SELECT * FROM credits.verify();
DROP ROLE rates_nobody;
