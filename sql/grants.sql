-- Grants: grant (every kind, member-only, future effective_at, priority,
-- external_ref, metadata, topup_increment, expiry bounds) and void_grant,
-- with their errors. Every example of docs/grants.md is here.
-- Ids differ between runs: they are captured with \gset, never printed.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-------------------------------------------------------------------------------
-- Every kind
-------------------------------------------------------------------------------
SELECT credits.create_pool('grants_acme', 'Acme Inc') > 0 AS created;

-- docs example: one grant of each kind
SELECT credits.grant('grants_acme', 100) AS purchased_id \gset
SELECT credits.grant('grants_acme', 50, 'free') AS free_id \gset
SELECT credits.grant('grants_acme', 20, 'promo', expires_at => '2100-01-01 00:00:00+00') AS promo_id \gset
SELECT credits.grant('grants_acme', 500, 'plan', expires_at => '2100-02-01 00:00:00+00') AS plan_id \gset
SELECT kind, amount, remaining, held, expires_at, status, priority
  FROM credits.grant_balances WHERE pool = 'grants_acme' ORDER BY grant_id;
SELECT credits.balance('grants_acme') AS balance;
-- ids grow with each grant
SELECT :purchased_id < :free_id AND :free_id < :promo_id AND :promo_id < :plan_id AS ids_ascending;
-- each grant is one ledger entry
SELECT entry_type, g.kind, e.amount, e.member
  FROM credits.ledger_entries e JOIN credits.grant_balances g USING (grant_id, pool)
 WHERE pool = 'grants_acme' ORDER BY entry_id;

-- kinds are exact, lower-case names
SELECT credits.grant('grants_acme', 10, 'gift');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_acme', 10, 'Free');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_acme', 10, 'gift', priority => 5);
\echo :LAST_ERROR_SQLSTATE

-------------------------------------------------------------------------------
-- Member-only grants
-------------------------------------------------------------------------------
SELECT credits.create_pool('grants_team') > 0 AS created;
SELECT credits.grant('grants_team', 10) > 0 AS granted;

-- docs example: a one-time personal allowance of 50 that never expires
SELECT credits.grant('grants_team', 50, 'free', member => 'alice') AS alice_grant \gset
SELECT credits.balance('grants_team') AS pool,
       credits.balance('grants_team', 'alice') AS alice,
       credits.balance('grants_team', 'bob') AS bob;
-- only alice can use it
SELECT * FROM credits.charge('grants_team', 'bob', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT status, charged FROM credits.charge('grants_team', 'alice', 20);
SELECT member, kind, amount, remaining FROM credits.grant_balances WHERE pool = 'grants_team' ORDER BY grant_id;
-- the grant enrolled alice; her grant's ledger entry names her
SELECT member, access FROM credits.member_usage WHERE pool = 'grants_team' ORDER BY member;
SELECT entry_type, member, amount FROM credits.ledger_entries WHERE grant_id = :alice_grant ORDER BY entry_id;

-------------------------------------------------------------------------------
-- effective_at: future grants are not spendable before then
-------------------------------------------------------------------------------
SELECT credits.create_pool('grants_later') > 0 AS created;
-- docs example
SELECT credits.grant('grants_later', 100, 'plan', effective_at => now() + interval '1 day') AS later_id \gset
SELECT status, remaining FROM credits.grant_balances WHERE grant_id = :later_id;
SELECT credits.balance('grants_later') AS balance;
SELECT * FROM credits.charge('grants_later', 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
-- a back-dated grant is spendable at once
SELECT credits.grant('grants_later', 5, effective_at => now() - interval '1 day') AS earlier_id \gset
SELECT credits.balance('grants_later') AS balance;
SELECT status, charged, balance FROM credits.charge('grants_later', 'alice', 5);
SELECT grant_id = :later_id AS is_later_grant, status, remaining
  FROM credits.grant_balances WHERE pool = 'grants_later' ORDER BY grant_id;

-- expires_at must come after effective_at
SELECT credits.grant('grants_later', 10, expires_at => '2030-01-01 00:00:00+00',
                     effective_at => '2030-01-01 00:00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_later', 10, expires_at => '2029-12-31 00:00:00+00',
                     effective_at => '2030-01-01 00:00:00+00');
\echo :LAST_ERROR_SQLSTATE
-- ... and both must be finite: a grant that never expires has expires_at NULL
SELECT credits.grant('grants_later', 10, expires_at => 'infinity', effective_at => '2030-01-01 00:00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_later', 10, effective_at => 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_later', 10, effective_at => '-infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_later', 10, effective_at => NULL);
\echo :LAST_ERROR_SQLSTATE
-- a grant that already expired may be recorded (back-filling history); it is
-- never spendable
SELECT credits.grant('grants_later', 7, 'promo', expires_at => '2020-02-01 00:00:00+00',
                     effective_at => '2020-01-01 00:00:00+00') AS past_id \gset
SELECT status, remaining FROM credits.grant_balances WHERE grant_id = :past_id;
SELECT credits.balance('grants_later') AS balance;

-------------------------------------------------------------------------------
-- priority replaces the kind's rank
-------------------------------------------------------------------------------
SELECT credits.create_pool('grants_order') > 0 AS created;
-- docs example: purchased credits with priority 5 go before free ones;
-- priority 15 sits between free (10) and promo (20)
SELECT credits.grant('grants_order', 10, 'free') > 0 AS granted;
SELECT credits.grant('grants_order', 10, 'promo') > 0 AS granted;
SELECT credits.grant('grants_order', 10, 'purchased', priority => 5) > 0 AS granted;
SELECT credits.grant('grants_order', 10, 'purchased', priority => 15) > 0 AS granted;
SELECT credits.grant('grants_order', 10, 'purchased') > 0 AS granted;
SELECT status, charged FROM credits.charge('grants_order', 'alice', 25);
SELECT kind, priority, amount, remaining
  FROM credits.grant_balances WHERE pool = 'grants_order' ORDER BY priority, grant_id;

-------------------------------------------------------------------------------
-- external_ref and metadata
-------------------------------------------------------------------------------
-- docs example
SELECT credits.grant('grants_acme', 250, external_ref => 'stripe:pi_3Nx',
                     metadata => '{"invoice": "INV-2024-001", "seats": 5}') AS ref_id \gset
SELECT kind, amount, external_ref, metadata FROM credits.grant_balances WHERE grant_id = :ref_id;
SELECT entry_type, amount, metadata FROM credits.ledger_entries WHERE grant_id = :ref_id;

-------------------------------------------------------------------------------
-- topup_increment
-------------------------------------------------------------------------------
-- docs example
SELECT credits.create_pool('grants_topup', settings => '{"topup_increment": 10}') > 0 AS created;
SELECT credits.grant('grants_topup', 30) > 0 AS granted;
SELECT credits.grant('grants_topup', 25);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_topup', 25, 'promo') > 0 AS granted;   -- only purchases are bound
SELECT credits.balance('grants_topup') AS balance;

-------------------------------------------------------------------------------
-- Argument errors
-------------------------------------------------------------------------------
SELECT credits.grant('grants_nowhere', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_acme', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_acme', -10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_acme', 'NaN');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_acme', 'Infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_acme', 0.0000001);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_acme', 1000000000001);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant(NULL, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_acme', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('grants_acme', 10, NULL);
\echo :LAST_ERROR_SQLSTATE
-- amounts are exact: 6 places, trailing zeros ignored, up to 10^12
SELECT credits.grant('grants_acme', 0.000001) AS tiny_id \gset
SELECT credits.grant('grants_acme', 1.2500000) AS trailing_id \gset
SELECT grant_id = :tiny_id AS tiny, amount FROM credits.grant_balances
 WHERE grant_id IN (:tiny_id, :trailing_id) ORDER BY grant_id;
-- a failed call changed nothing
SELECT count(*) AS grants, sum(amount) AS total FROM credits.grant_balances WHERE pool = 'grants_acme';

-- a pool holds at most 9 * 10^12 unspent credits
SELECT credits.create_pool('grants_big') > 0 AS created;
SELECT count(credits.grant('grants_big', 1000000000000)) AS grants FROM generate_series(1, 9);
SELECT credits.grant('grants_big', 0.000001);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.balance('grants_big') AS balance;
SELECT status, charged, balance FROM credits.charge('grants_big', 'alice', 1);
SELECT credits.grant('grants_big', 1) > 0 AS granted;

-------------------------------------------------------------------------------
-- void_grant
-------------------------------------------------------------------------------
SELECT credits.create_pool('grants_void') > 0 AS created;
SELECT credits.grant('grants_void', 100, external_ref => 'stripe:ch_1') AS paid_id \gset
SELECT status, charged FROM credits.charge('grants_void', 'alice', 30);

-- docs example: a chargeback removes what remains
SELECT credits.void_grant(:paid_id, 'chargeback') AS voided;
SELECT status, amount, remaining FROM credits.grant_balances WHERE grant_id = :paid_id;
SELECT entry_type, amount, reason FROM credits.ledger_entries WHERE grant_id = :paid_id ORDER BY entry_id;
SELECT credits.balance('grants_void') AS balance;
-- voiding again voids nothing
SELECT credits.void_grant(:paid_id) AS voided;
SELECT count(*) AS void_entries FROM credits.ledger_entries WHERE grant_id = :paid_id AND entry_type = 'void';

-- a voided grant is never used again
SELECT * FROM credits.charge('grants_void', 'alice', 1);
\echo :LAST_ERROR_SQLSTATE

-- a scheduled grant, a member's grant, an exhausted grant
SELECT credits.grant('grants_void', 40, effective_at => now() + interval '7 days') AS sched_id \gset
SELECT credits.grant('grants_void', 15, 'free', member => 'bob') AS bob_id \gset
SELECT credits.grant('grants_void', 5, 'promo') AS promo_id \gset
SELECT status, charged FROM credits.charge('grants_void', 'carol', 5);
SELECT credits.void_grant(:sched_id) AS scheduled, credits.void_grant(:bob_id, 'left the team') AS bobs,
       credits.void_grant(:promo_id) AS exhausted;
SELECT grant_id = :sched_id AS is_scheduled, member, status, amount, remaining
  FROM credits.grant_balances WHERE grant_id IN (:sched_id, :bob_id, :promo_id) ORDER BY grant_id;
SELECT member, amount, reason FROM credits.ledger_entries
 WHERE grant_id IN (:sched_id, :bob_id, :promo_id) AND entry_type = 'void' ORDER BY entry_id;

-- errors
SELECT credits.void_grant(999999999);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.void_grant(NULL);
\echo :LAST_ERROR_SQLSTATE

-------------------------------------------------------------------------------
-- Everything above kept the books straight.
-------------------------------------------------------------------------------
SELECT * FROM credits.verify();
