-- Expiry and upkeep: expire_grants(as_of) and its ledger dates, held parts
-- of expiring grants, expire_holds, maintain(), transaction blocks,
-- arguments and roles. as_of travels into 2100; ids are never printed.
-- Each error is followed by \echo :LAST_ERROR_SQLSTATE (VERBOSITY verbose would
-- also print LOCATION lines, which change between PostgreSQL builds).
\set VERBOSITY default
\set SHOW_CONTEXT never
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'UTC';
SET IntervalStyle = 'postgres';

-------------------------------------------------------------------------------
-- expire_grants (docs/subscriptions-and-expiry.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('expiry_acme') > 0 AS created;
-- a promotion that ended on 1 February 2020, long before this test ran
SELECT credits.grant('expiry_acme', 50, 'promo', effective_at => '2020-01-01 00:00+00',
                     expires_at => '2020-02-01 00:00+00', external_ref => 'promo-2020') > 0 AS granted;
SELECT credits.grant('expiry_acme', 30, 'free', expires_at => '2100-07-01 00:00+00',
                     external_ref => 'free-2100') > 0 AS granted;
SELECT credits.grant('expiry_acme', 100, 'purchased', expires_at => '2101-01-01 00:00+00',
                     external_ref => 'topup') > 0 AS granted;
-- Past its expires_at a grant can no longer be spent, before expire_grants
-- has run: the 2020 promotion is already 'expired' and not in the balance.
SELECT external_ref AS ref, amount, remaining, expires_at, status FROM credits.grant_balances WHERE pool = 'expiry_acme' ORDER BY expires_at;
SELECT credits.balance('expiry_acme') AS balance;
SELECT status, charged, balance FROM credits.charge('expiry_acme', 'alice', 40);

-- docs example: expire_grants writes what the grant had left as one ledger
-- entry dated at its expires_at, not at the time the job ran
CALL credits.expire_grants();
SELECT e.at, e.entry_type, g.external_ref AS ref, e.amount, e.reason
  FROM credits.ledger_entries e JOIN credits.grant_balances g USING (grant_id)
 WHERE e.pool = 'expiry_acme' AND e.entry_type = 'expire' ORDER BY e.at, e.entry_id;

-- Time travel to 1 July 2100: the free grant, used up by the charge, expires
-- without an entry (it had nothing left); the top-up is still live.
CALL credits.expire_grants('2100-07-01 00:00+00');
SELECT external_ref AS ref, remaining, expires_at, status FROM credits.grant_balances WHERE pool = 'expiry_acme' ORDER BY expires_at;
-- An as_of just before the top-up's expires_at leaves it alone ...
CALL credits.expire_grants('2100-12-31 23:59:59.999999+00');
SELECT external_ref AS ref, remaining, status FROM credits.grant_balances WHERE pool = 'expiry_acme' AND external_ref = 'topup';
-- ... at its expires_at it expires, dated then, even when the job runs later.
CALL credits.expire_grants('2101-03-15 00:00+00');
SELECT e.at, e.entry_type, g.external_ref AS ref, e.amount, e.reason
  FROM credits.ledger_entries e JOIN credits.grant_balances g USING (grant_id)
 WHERE e.pool = 'expiry_acme' AND e.entry_type = 'expire' ORDER BY e.at, e.entry_id;
SELECT external_ref AS ref, remaining, status FROM credits.grant_balances WHERE pool = 'expiry_acme' ORDER BY expires_at;
SELECT credits.balance('expiry_acme') AS balance;

-- Idempotent: running again (or earlier) writes nothing more.
SELECT count(*) AS entries FROM credits.ledger_entries WHERE pool = 'expiry_acme' \gset
CALL credits.expire_grants('2101-03-15 00:00+00');
CALL credits.expire_grants('2102-01-01 00:00+00');
CALL credits.expire_grants();
SELECT count(*) - :entries AS new_entries FROM credits.ledger_entries WHERE pool = 'expiry_acme';

-------------------------------------------------------------------------------
-- Voided, never-expiring and member-only grants
-------------------------------------------------------------------------------
SELECT credits.create_pool('expiry_kinds') > 0 AS created;
SELECT credits.grant('expiry_kinds', 10, 'promo', expires_at => '2100-01-01 00:00+00',
                     external_ref => 'voided') AS voided_id \gset
SELECT credits.void_grant(:voided_id, 'chargeback') AS voided;
SELECT credits.grant('expiry_kinds', 20, 'purchased', external_ref => 'forever') > 0 AS granted;
SELECT credits.grant('expiry_kinds', 5, 'free', member => 'bob', expires_at => '2100-01-01 00:00+00',
                     external_ref => 'bob-only') > 0 AS granted;
CALL credits.expire_grants('2100-01-01 00:00+00');
-- the voided grant stays voided, the never-expiring one stays; bob's expiry
-- entry names him
SELECT external_ref AS ref, member, remaining, status FROM credits.grant_balances WHERE pool = 'expiry_kinds' ORDER BY ref;
SELECT CASE WHEN e.entry_type = 'expire' THEN e.at END AS at, e.entry_type, g.external_ref AS ref, e.member, e.amount
  FROM credits.ledger_entries e JOIN credits.grant_balances g USING (grant_id)
 WHERE e.pool = 'expiry_kinds' AND e.entry_type IN ('expire', 'void') ORDER BY e.entry_id;

-------------------------------------------------------------------------------
-- A grant that expires while part of it is held
-------------------------------------------------------------------------------
SELECT credits.create_pool('expiry_held') > 0 AS created;
SELECT credits.grant('expiry_held', 50, 'promo', expires_at => '2100-01-01 00:00+00',
                     external_ref => 'promo') > 0 AS granted;
SELECT credits.reserve('expiry_held', 'alice', 20, ttl => '1 hour') AS hold_a \gset
SELECT credits.reserve('expiry_held', 'bob', 10, ttl => '1 hour') AS hold_b \gset
-- the held 30 stay with their holds; the 20 not held expire
CALL credits.expire_grants('2100-01-01 00:00+00');
SELECT external_ref AS ref, remaining, held, status FROM credits.grant_balances WHERE pool = 'expiry_held';
-- a hold can still be captured: the 5 it does not use expire at once
SELECT status, charged FROM credits.capture(:hold_a, 15);
-- a released hold expires at once as well
SELECT credits.release(:hold_b) AS released;
SELECT entry_type, amount, held, reason
  FROM credits.ledger_entries WHERE pool = 'expiry_held' AND grant_id IS NOT NULL ORDER BY entry_id;
SELECT external_ref AS ref, remaining, held, status FROM credits.grant_balances WHERE pool = 'expiry_held';
SELECT credits.balance('expiry_held') AS balance;

-------------------------------------------------------------------------------
-- expire_holds and maintain
-------------------------------------------------------------------------------
SELECT credits.create_pool('expiry_holds') > 0 AS created;
SELECT credits.grant('expiry_holds', 100) > 0 AS granted;
SELECT credits.reserve('expiry_holds', 'alice', 30, ttl => '1 hour') AS hold_id \gset
-- docs example: two hours from now the hold has lapsed
CALL credits.expire_holds(now() + interval '2 hours');
SELECT status, credits._to_credits(amount) AS amount FROM credits.holds WHERE hold_id = :hold_id;
SELECT credits.balance('expiry_holds') AS balance;
-- maintain() runs all three jobs at now(); a lapsed promotion gets its entry
SELECT credits.grant('expiry_holds', 7, 'promo', effective_at => '2020-01-01 00:00+00',
                     expires_at => '2020-03-01 00:00+00', external_ref => 'old-promo') > 0 AS granted;
CALL credits.maintain();
SELECT e.at, e.entry_type, g.external_ref AS ref, e.amount
  FROM credits.ledger_entries e JOIN credits.grant_balances g USING (grant_id)
 WHERE e.pool = 'expiry_holds' AND e.entry_type = 'expire';

-------------------------------------------------------------------------------
-- Inside a transaction block the procedures do all their work in the
-- caller's transaction: a rollback undoes it
-------------------------------------------------------------------------------
SELECT credits.create_pool('expiry_tx') > 0 AS created;
SELECT credits.grant('expiry_tx', 10, expires_at => '2100-01-01 00:00+00', external_ref => 'g') > 0 AS granted;
SELECT credits.subscribe('expiry_tx', 'pro', 5, anchor => '2100-01-01 00:00+00') > 0 AS subscribed;
BEGIN;
CALL credits.renew_subscriptions('2100-03-01 00:00+00');
CALL credits.expire_grants('2100-03-01 00:00+00');
CALL credits.maintain();
SELECT count(*) FILTER (WHERE entry_type = 'grant') AS grants,
       count(*) FILTER (WHERE entry_type = 'expire') AS expiries
  FROM credits.ledger_entries WHERE pool = 'expiry_tx';
ROLLBACK;
SELECT count(*) FILTER (WHERE entry_type = 'grant') AS grants,
       count(*) FILTER (WHERE entry_type = 'expire') AS expiries
  FROM credits.ledger_entries WHERE pool = 'expiry_tx';
SELECT external_ref AS ref, remaining, status FROM credits.grant_balances WHERE pool = 'expiry_tx' AND external_ref = 'g';
-- Called from a function (where a procedure may not COMMIT) they also work
-- in the caller's transaction instead of failing with 2D000.
CREATE FUNCTION pg_temp.expire_from_function() RETURNS void LANGUAGE plpgsql
AS $$ BEGIN CALL credits.expire_grants('2100-03-01 00:00+00'); END $$;
SELECT pg_temp.expire_from_function();
SELECT external_ref AS ref, remaining, status FROM credits.grant_balances WHERE pool = 'expiry_tx' AND external_ref = 'g';
SELECT credits.cancel_subscription('expiry_tx', 'pro');

-------------------------------------------------------------------------------
-- A pool with an overdue hold: expire_grants lapses it first, as any write
-- to the pool does, then expires what its grants have (here the held part
-- goes back to the promotion, still live now, and expires with it: one
-- expire entry of 30, not 10 now and 20 "while held")
-------------------------------------------------------------------------------
SELECT credits.create_pool('expiry_lapse') > 0 AS created;
BEGIN;
SELECT credits.grant('expiry_lapse', 30, 'promo', expires_at => now() + interval '1 hour') > 0 AS granted;
SELECT credits.grant('expiry_lapse', 100, 'purchased') > 0 AS granted;
SELECT credits.reserve('expiry_lapse', 'jane', 20, ttl => '1 microsecond') > 0 AS reserved;
COMMIT;
CALL credits.expire_grants(now() + interval '2 hours');
SELECT l.entry_type, g.kind, credits._to_credits(l.amount) AS amount, credits._to_credits(l.held) AS held, l.reason
  FROM credits.ledger l JOIN credits.grants g USING (pool_id, grant_id)
 WHERE l.pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'expiry_lapse')
 ORDER BY l.entry_id;
SELECT status FROM credits.holds WHERE pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'expiry_lapse');
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Arguments and roles
-------------------------------------------------------------------------------
CALL credits.expire_grants(NULL);
\echo :LAST_ERROR_SQLSTATE
CALL credits.expire_holds(NULL);
\echo :LAST_ERROR_SQLSTATE
SET ROLE credits_app;
CALL credits.expire_grants();
\echo :LAST_ERROR_SQLSTATE
CALL credits.expire_holds();
\echo :LAST_ERROR_SQLSTATE
CALL credits.maintain();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE credits_reader;
CALL credits.maintain();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE credits_owner;
CALL credits.expire_grants();
CALL credits.expire_holds();
CALL credits.maintain();
RESET ROLE;

SELECT * FROM credits.verify();
