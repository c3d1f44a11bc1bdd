-- Charges: charge, try_charge, the FIFO deduction order, idempotency,
-- zero-cost charges, member limits and access, and argument errors.
-- Ids differ between runs: they are captured with \gset, never printed.
\set VERBOSITY default
\set SHOW_CONTEXT never

-------------------------------------------------------------------------------
-- A first charge (docs/charges.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('charges_acme', 'Acme Inc') > 0 AS created;
SELECT credits.grant('charges_acme', 10, 'free') > 0 AS granted;
SELECT credits.grant('charges_acme', 100, 'purchased') > 0 AS granted;

SELECT status, charged, balance, member_used, replayed
  FROM credits.charge('charges_acme', 'alice', 25, feature => 'chat',
                      metadata => '{"model": "small"}');

-- The charge spans two grants; the ledger records both parts.
SELECT max(charge_id) AS charge_id FROM credits.transaction_log WHERE pool = 'charges_acme' \gset
SELECT b.kind, -e.amount AS taken, b.remaining AS left_in_grant
  FROM credits.ledger_entries e
  JOIN credits.grant_balances b USING (grant_id)
 WHERE e.charge_id = :charge_id
 ORDER BY e.entry_id;

-- The unknown member was enrolled by its first charge.
SELECT member, used, credit_limit, access FROM credits.member_usage WHERE pool = 'charges_acme';

-------------------------------------------------------------------------------
-- Idempotency
-------------------------------------------------------------------------------
SELECT charge_id AS first_id, status, charged, balance, member_used, replayed
  FROM credits.charge('charges_acme', 'alice', 5, 'chat', 'req-1') \gset
SELECT :'status' AS status, :charged AS charged, :balance AS balance, :'replayed' AS replayed;
SELECT count(*) AS entries_before FROM credits.ledger_entries WHERE pool = 'charges_acme' \gset

-- docs example: the same key again replays the first result
SELECT status, charged, balance, member_used, replayed
  FROM credits.charge('charges_acme', 'alice', 5, 'chat', 'req-1');
-- ... with the same charge_id, and nothing charged or logged
SELECT charge_id = :first_id AS same_charge FROM credits.charge('charges_acme', 'alice', 5, 'chat', 'req-1');
SELECT count(*) = :entries_before AS nothing_logged,
       credits.balance('charges_acme') AS balance
  FROM credits.ledger_entries WHERE pool = 'charges_acme';
-- try_charge replays a charge's key too
SELECT charge_id = :first_id AS same_charge, status, charged, replayed
  FROM credits.try_charge('charges_acme', 'alice', 5, 'chat', 'req-1');
-- a different metadata does not make a different charge
SELECT replayed FROM credits.charge('charges_acme', 'alice', 5, 'chat', 'req-1', '{"retry": 2}');

-- The same key with a different amount, member or feature: CR005
SELECT * FROM credits.charge('charges_acme', 'alice', 6, 'chat', 'req-1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'bob', 5, 'chat', 'req-1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'alice', 5, 'image', 'req-1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'alice', 5, NULL, 'req-1');
\echo :LAST_ERROR_SQLSTATE
-- try_charge raises CR005 as well
SELECT * FROM credits.try_charge('charges_acme', 'alice', 6, 'chat', 'req-1');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = :entries_before AS nothing_logged FROM credits.ledger_entries WHERE pool = 'charges_acme';

-- Keys belong to a pool: the same key in another pool is a new charge.
SELECT credits.create_pool('charges_other') > 0 AS created;
SELECT credits.grant('charges_other', 10) > 0 AS granted;
SELECT status, charged, replayed FROM credits.charge('charges_other', 'alice', 5, 'chat', 'req-1');

-------------------------------------------------------------------------------
-- try_charge: a rejected attempt returns its status, is logged, and does not
-- consume its idempotency key
-------------------------------------------------------------------------------
-- docs example
SELECT status, charged, balance, member_used, replayed
  FROM credits.try_charge('charges_acme', 'alice', 500, 'chat', 'req-2');
SELECT member, feature, credits, credit_kinds, status, reason, idempotency_key
  FROM credits.transaction_log
 WHERE pool = 'charges_acme' AND idempotency_key = 'req-2';
-- the key is still free: a later charge with it really charges
SELECT status, charged, balance, replayed FROM credits.charge('charges_acme', 'alice', 50, 'chat', 'req-2');
SELECT status, charged, balance, replayed FROM credits.try_charge('charges_acme', 'alice', 50, 'chat', 'req-2');
SELECT status, count(*) FROM credits.transaction_log
 WHERE pool = 'charges_acme' AND idempotency_key = 'req-2'
 GROUP BY status ORDER BY status;

-------------------------------------------------------------------------------
-- Zero-cost charges are allowed and logged
-------------------------------------------------------------------------------
SELECT status, charged, balance, member_used, replayed
  FROM credits.charge('charges_acme', 'alice', 0, 'ping');
SELECT member, feature, credits, credit_kinds, status
  FROM credits.transaction_log WHERE pool = 'charges_acme' AND feature = 'ping';
SELECT e.entry_type, e.amount, e.grant_id IS NULL AS no_grant
  FROM credits.ledger_entries e
  JOIN credits.transaction_log t USING (charge_id)
 WHERE t.pool = 'charges_acme' AND t.feature = 'ping';
-- trailing zeros are not extra decimal places
SELECT status, charged FROM credits.charge('charges_acme', 'alice', 1.5000000);

-------------------------------------------------------------------------------
-- Member limit: CR002
-------------------------------------------------------------------------------
SELECT credits.set_member_limit('charges_acme', 'carol', 10);
SELECT status, charged, member_used FROM credits.charge('charges_acme', 'carol', 8);
-- docs example
SELECT * FROM credits.charge('charges_acme', 'carol', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT status, charged, balance, member_used FROM credits.try_charge('charges_acme', 'carol', 3);
-- up to the limit exactly is fine; a zero-cost charge at the limit too
SELECT status, charged, member_used FROM credits.charge('charges_acme', 'carol', 2);
SELECT status, charged, member_used FROM credits.charge('charges_acme', 'carol', 0);
SELECT * FROM credits.charge('charges_acme', 'carol', 0.000001);
\echo :LAST_ERROR_SQLSTATE
SELECT used, credit_limit, remaining_limit FROM credits.member_usage
 WHERE pool = 'charges_acme' AND member = 'carol';

-------------------------------------------------------------------------------
-- Revoked access: CR003
-------------------------------------------------------------------------------
SELECT credits.revoke_access('charges_acme', 'dave');
SELECT * FROM credits.charge('charges_acme', 'dave', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT status, charged FROM credits.try_charge('charges_acme', 'dave', 1);
SELECT status, charged FROM credits.try_charge('charges_acme', 'dave', 0);
SELECT credits.restore_access('charges_acme', 'dave');
SELECT status, charged FROM credits.charge('charges_acme', 'dave', 1);

-------------------------------------------------------------------------------
-- Insufficient credits: CR001
-------------------------------------------------------------------------------
SELECT credits.balance('charges_acme') AS balance;
-- docs example
SELECT * FROM credits.charge('charges_acme', 'alice', 1000);
\echo :LAST_ERROR_SQLSTATE
SELECT status, charged, balance FROM credits.try_charge('charges_acme', 'alice', 1000);

-------------------------------------------------------------------------------
-- Unknown pool, invalid amounts, NULL arguments
-------------------------------------------------------------------------------
SELECT * FROM credits.charge('charges_nope', 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.try_charge('charges_nope', 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'alice', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'alice', 0.0000001);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'alice', 'NaN');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'alice', 'Infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'alice', '-Infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'alice', 1e13);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.try_charge('charges_acme', 'alice', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge(NULL, 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'alice', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.try_charge(NULL, 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.try_charge('charges_acme', NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.try_charge('charges_acme', 'alice', NULL);
\echo :LAST_ERROR_SQLSTATE

-------------------------------------------------------------------------------
-- A failed charge changes nothing
-------------------------------------------------------------------------------
SELECT credits.balance('charges_acme') AS balance_before,
       (SELECT count(*) FROM credits.ledger_entries WHERE pool = 'charges_acme') AS entries_before,
       (SELECT count(*) FROM credits.member_usage WHERE pool = 'charges_acme') AS members_before,
       (SELECT used FROM credits.member_usage WHERE pool = 'charges_acme' AND member = 'carol') AS carol_before
\gset
SELECT * FROM credits.charge('charges_acme', 'erin', 1000);           -- CR001, erin is new
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'carol', 5);             -- CR002
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'frank', 1, 'chat', 'req-1'); -- CR005
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('charges_acme', 'gina', -5);             -- 22023
\echo :LAST_ERROR_SQLSTATE
-- inside a transaction, the failed charge aborts only what a savepoint wraps
BEGIN;
SELECT status, charged FROM credits.charge('charges_acme', 'alice', 1);
SAVEPOINT before_charge;
SELECT * FROM credits.charge('charges_acme', 'alice', 1000);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO before_charge;
ROLLBACK;
SELECT credits.balance('charges_acme') = :balance_before AS balance_unchanged,
       (SELECT count(*) FROM credits.ledger_entries WHERE pool = 'charges_acme') = :entries_before AS ledger_unchanged,
       (SELECT count(*) FROM credits.member_usage WHERE pool = 'charges_acme') = :members_before AS no_member_enrolled,
       (SELECT used FROM credits.member_usage WHERE pool = 'charges_acme' AND member = 'carol') = :carol_before AS usage_unchanged;

-------------------------------------------------------------------------------
-- The deduction order (FIFO): rank (free 10 < promo 20 < plan 30 <
-- purchased 40, an explicit priority replacing the rank), then expires_at
-- ascending with never-expiring last, then effective_at, then grant id.
-- Every grant holds 1 credit and is labelled with external_ref; they are
-- created out of order so that creation order proves nothing.
-------------------------------------------------------------------------------
SELECT credits.create_pool('charges_fifo') > 0 AS created;
SELECT count(credits.grant('charges_fifo', 1, kind, expires_at, member, effective_at, priority, ref))
  FROM (VALUES
    ('purchased', NULL::timestamptz, NULL, now(), NULL::int, 'purchased, never expires'),
    ('plan', NULL, NULL, now(), NULL, 'plan'),
    ('promo', NULL, NULL, now(), NULL, 'promo, never expires'),
    ('purchased', now() + interval '20 days', NULL, now(), NULL, 'purchased, expires in 20 days'),
    ('purchased', NULL, NULL, now(), 25, 'purchased, priority 25'),
    ('promo', '2100-01-01 00:00+00', NULL, '2020-01-01 00:00+00', NULL, 'promo, 2100, created first'),
    ('purchased', now() + interval '10 days', NULL, now(), NULL, 'purchased, expires in 10 days'),
    ('plan', NULL, NULL, now() - interval '2 days', NULL, 'plan, effective 2 days ago'),
    ('purchased', NULL, NULL, now(), 15, 'purchased, priority 15'),
    ('promo', '2100-01-01 00:00+00', NULL, '2020-01-01 00:00+00', NULL, 'promo, 2100, created second'),
    ('free', NULL, NULL, now(), NULL, 'free'),
    ('purchased', NULL, NULL, now(), 5, 'purchased, priority 5'),
    -- not usable by alice: bob's own, not yet effective, expired, voided
    ('free', NULL, 'bob', now(), NULL, 'free, bob''s own'),
    ('free', NULL, NULL, now() + interval '1 day', NULL, 'free, effective tomorrow'),
    ('free', now() - interval '1 day', NULL, now() - interval '2 days', NULL, 'free, expired yesterday'),
    ('free', NULL, NULL, now(), NULL, 'free, voided')
  ) AS g(kind, expires_at, member, effective_at, priority, ref);
SELECT credits.void_grant(grant_id) FROM credits.grant_balances
 WHERE pool = 'charges_fifo' AND external_ref = 'free, voided';

SELECT credits.balance('charges_fifo') AS pool_balance,
       credits.balance('charges_fifo', 'alice') AS alice_can_spend,
       credits.balance('charges_fifo', 'bob') AS bob_can_spend;
SELECT charge_id, status, charged, balance, member_used
  FROM credits.charge('charges_fifo', 'alice', 12) \gset
SELECT :'status' AS status, :charged AS charged, :balance AS balance, :member_used AS member_used;
-- every part of the charge, in the order it was taken
SELECT row_number() OVER (ORDER BY e.entry_id) AS n, b.external_ref AS grant, -e.amount AS taken
  FROM credits.ledger_entries e
  JOIN credits.grant_balances b USING (grant_id)
 WHERE e.charge_id = :charge_id
 ORDER BY e.entry_id;
SELECT credit_kinds FROM credits.transaction_log WHERE charge_id = :charge_id;
-- alice has nothing left; bob's own grant is still his
SELECT * FROM credits.charge('charges_fifo', 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT status, charged, balance FROM credits.charge('charges_fifo', 'bob', 1);
SELECT external_ref AS grant, remaining, status FROM credits.grant_balances
 WHERE pool = 'charges_fifo' AND remaining > 0 ORDER BY external_ref;

-- A charge takes part of a grant and leaves the rest for the next one.
SELECT credits.create_pool('charges_split') > 0 AS created;
SELECT credits.grant('charges_split', 3, 'promo', external_ref => 'promo 3') > 0 AS granted;
SELECT credits.grant('charges_split', 10, 'purchased', external_ref => 'purchased 10') > 0 AS granted;
SELECT status, charged, balance FROM credits.charge('charges_split', 'alice', 2);
SELECT status, charged, balance FROM credits.charge('charges_split', 'alice', 2.5);
SELECT t.credits, b.external_ref AS grant, -e.amount AS taken
  FROM credits.transaction_log t
  JOIN credits.ledger_entries e USING (charge_id)
  JOIN credits.grant_balances b USING (grant_id)
 WHERE t.pool = 'charges_split'
 ORDER BY e.entry_id;

-------------------------------------------------------------------------------
-- Member-only grants are used only by that member (in the same FIFO order)
-------------------------------------------------------------------------------
SELECT credits.create_pool('charges_members') > 0 AS created;
SELECT credits.grant('charges_members', 50, 'free', member => 'bob', external_ref => 'bob''s allowance') > 0 AS granted;
SELECT credits.grant('charges_members', 20, 'purchased', external_ref => 'pool') > 0 AS granted;
SELECT credits.balance('charges_members') AS pool_balance,
       credits.balance('charges_members', 'alice') AS alice,
       credits.balance('charges_members', 'bob') AS bob;
SELECT * FROM credits.charge('charges_members', 'alice', 30);
\echo :LAST_ERROR_SQLSTATE
SELECT status, charged, balance FROM credits.charge('charges_members', 'alice', 20);
SELECT status, charged, balance FROM credits.charge('charges_members', 'bob', 30);
SELECT external_ref AS grant, member, remaining FROM credits.grant_balances
 WHERE pool = 'charges_members' ORDER BY external_ref;

-------------------------------------------------------------------------------
-- A grant that takes effect in the future is not spendable yet
-------------------------------------------------------------------------------
SELECT credits.create_pool('charges_future') > 0 AS created;
SELECT credits.grant('charges_future', 100, effective_at => now() + interval '1 hour') > 0 AS granted;
SELECT credits.balance('charges_future') AS balance;
SELECT * FROM credits.charge('charges_future', 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM credits.try_charge('charges_future', 'alice', 1);

-------------------------------------------------------------------------------
-- Every attempt in the transaction log (replays are not logged)
-------------------------------------------------------------------------------
SELECT member, feature, credits, credit_kinds, status, idempotency_key, metadata
  FROM credits.transaction_log
 WHERE pool = 'charges_acme'
 ORDER BY charge_id;
