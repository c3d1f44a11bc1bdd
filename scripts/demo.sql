-- The credits demo: one organization's credit pool, from first grant to report.
\set ON_ERROR_STOP on
\pset footer off
\set VERBOSITY default
\set SHOW_CONTEXT never

\echo '\n--- 1. Install the extension and create a pool for the organization "acme"'
CREATE EXTENSION credits;
SELECT credits.create_pool('acme', 'Acme Inc.') AS pool_id;

\echo '\n--- 2. Grant credits: a free allowance that expires in 30 days, a plan, a purchase, and 50 personal credits for alice'
SELECT credits.grant('acme', 100, 'free', expires_at => now() + interval '30 days') AS free_grant;
SELECT credits.grant('acme', 1000, 'plan', expires_at => now() + interval '60 days') AS plan_grant;
SELECT credits.grant('acme', 500, 'purchased', external_ref => 'stripe:pi_123') AS purchase;
SELECT credits.grant('acme', 50, 'promo', member => 'alice') AS alice_bonus;
SELECT pool, available, free_remaining, promo_remaining, plan_remaining, purchased_remaining FROM credits.pool_balances;

\echo '\n--- 3. Charge: an image for alice costs 120 credits: the free allowance goes first, then her personal promo credits'
SELECT status, charged, balance, member_used FROM credits.charge('acme', 'alice', 120, 'image');
SELECT grant_id, kind, member, amount, remaining, status FROM credits.grant_balances ORDER BY grant_id;

\echo '\n--- 4. Charges commit or roll back with the application''s own writes'
BEGIN;
SELECT status, charged FROM credits.charge('acme', 'bob', 40, 'video');
ROLLBACK;
SELECT credits.balance('acme') AS balance_after_rollback;

\echo '\n--- 5. Idempotency: a retried request with the same key charges once'
SELECT status, charged, replayed FROM credits.charge('acme', 'bob', 12.5, 'text', idempotency_key => 'req-42');
SELECT status, charged, replayed FROM credits.charge('acme', 'bob', 12.5, 'text', idempotency_key => 'req-42');

\echo '\n--- 6. An admin caps bob at 20 credits a month; his next 10-credit action goes past it'
SELECT credits.set_member_limit('acme', 'bob', 20);
SELECT status, charged, member_used FROM credits.try_charge('acme', 'bob', 10, 'text');
\echo 'charge() raises the same refusal as an error the application can branch on (SQLSTATE CR002):'
\set ON_ERROR_STOP off
SELECT * FROM credits.charge('acme', 'bob', 10, 'text');
\set ON_ERROR_STOP on
SELECT credits.balance('acme', 'bob') AS bob_can_spend, credits.balance('acme', 'alice') AS alice_can_spend;

\echo '\n--- 7. A hold: reserve an estimate while a video renders, then capture what it really cost'
SELECT credits.reserve('acme', 'alice', 80, ttl => '10 minutes', feature => 'video') AS hold_id \gset
SELECT credits.balance('acme') AS available_while_held;
SELECT status, charged, balance FROM credits.capture(:hold_id, 65);
\echo 'the other 15 went back to the pool; the hold cannot be settled twice (CR006):'
\set ON_ERROR_STOP off
SELECT credits.release(:hold_id);
\set ON_ERROR_STOP on

\echo '\n--- 8. Revoke a member''s access'
SELECT credits.revoke_access('acme', 'carol');
SELECT status FROM credits.try_charge('acme', 'carol', 1, 'text');

\echo '\n--- 9. Reports: members, the transaction log, the pool, the month'
SELECT pool, member, used, credit_limit, percent_used, remaining_limit, period, access FROM credits.member_usage ORDER BY member;
SELECT operation, member, feature, credits, credit_kinds, status FROM credits.transaction_log ORDER BY charge_id;
SELECT pool, available, held, free_remaining, promo_remaining, plan_remaining, purchased_remaining, expiring_30d FROM credits.pool_balances;
SELECT month, allocated, consumed, expired, carried_forward, remaining, free_consumed, plan_consumed FROM credits.monthly_summary;
SELECT member, feature, calls, credits FROM credits.usage_by_feature ORDER BY member, feature;

\echo '\n--- 10. The ledger is append-only, and verify() checks every balance against it'
\set ON_ERROR_STOP off
DELETE FROM credits.ledger;
\set ON_ERROR_STOP on
SELECT count(*) AS problems FROM credits.verify();
