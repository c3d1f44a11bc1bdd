-- grant(..., idempotency_key): a retried grant (a webhook delivered twice)
-- returns the first grant and changes nothing; the same key with another
-- amount, kind, member or expiry raises CR005; keys are per pool and per
-- function.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('keys') > 0 AS created;
SELECT credits.grant('keys', 1000) > 0 AS granted;
-- the one-time welcome grant of 50, delivered twice
SELECT credits.grant('keys', 50, 'promo', idempotency_key => 'welcome-42') AS first \gset
SELECT credits.grant('keys', 50, 'promo', idempotency_key => 'welcome-42') = :first AS same_grant;
SELECT credits.balance('keys') AS balance, count(*) AS grants FROM credits.grant_balances WHERE pool = 'keys';
-- the key with other arguments
SELECT code, message, detail FROM regress.error_of($$SELECT credits.grant('keys', 60, 'promo', idempotency_key => 'welcome-42')$$);
SELECT code, message FROM regress.error_of($$SELECT credits.grant('keys', 50, 'free', idempotency_key => 'welcome-42')$$);
SELECT code, message FROM regress.error_of($$SELECT credits.grant('keys', 50, 'promo', member => 'x', idempotency_key => 'welcome-42')$$);
SELECT code, message FROM regress.error_of($$SELECT credits.grant('keys', 50, 'promo', expires_at => now() + interval '1 day', idempotency_key => 'welcome-42')$$);
-- keys are per pool, and a charge key never matches a grant key
SELECT credits.create_pool('keys_other') > 0 AS created;
SELECT credits.grant('keys_other', 50, 'promo', idempotency_key => 'welcome-42') <> :first AS another_pool;
SELECT status, replayed FROM credits.charge('keys', 'm', 1, idempotency_key => 'welcome-42');
-- bad keys
SELECT code, message FROM regress.error_of($$SELECT credits.grant('keys', 1, idempotency_key => '')$$);
SELECT credits.balance('keys') AS balance;
SELECT * FROM credits.verify();
