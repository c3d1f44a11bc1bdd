-- set_grant_expiry: moves a live grant's expiry (an amendment, an adjust
-- entry of amount 0 with the old and new times); any time, even before
-- effective_at; a past time expires it at the next expire_grants; NULL
-- means never; a voided or expired grant raises 22023.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('gx') > 0 AS created;
SELECT credits.grant('gx', 100, 'plan', expires_at => now() + interval '10 days') AS g1 \gset
SELECT credits.grant('gx', 50, 'promo', effective_at => now() - interval '5 days') AS g2 \gset
BEGIN;
SELECT credits.set_grant_expiry(:g1, now() + interval '60 days');
SELECT kind, status, expires_at = now() + interval '60 days' AS moved FROM credits.grant_balances WHERE grant_id = :g1;
COMMIT;
SELECT credits.set_grant_expiry(:g1, NULL);
SELECT expires_at IS NULL AS never FROM credits.grant_balances WHERE grant_id = :g1;
-- the ledger has the amendments, amount 0, with the old and new times
SELECT entry_type, amount, reason, metadata ? 'expires_at_before' AND metadata ? 'expires_at' AS times
  FROM credits.ledger_entries WHERE grant_id = :g1 ORDER BY entry_id;
-- a time before effective_at is accepted: expired at the next expire_grants
SELECT credits.set_grant_expiry('gx', :g2, now() - interval '6 days');
SELECT status FROM credits.grant_balances WHERE grant_id = :g2;
CALL credits.expire_grants();
SELECT status, remaining FROM credits.grant_balances WHERE grant_id = :g2;
SELECT credits.balance('gx');
-- expired or voided: 22023; unknown: CR010; another pool's: CR010
SELECT code, regexp_replace(message, '\d+', 'N') AS message FROM regress.error_of(format('SELECT credits.set_grant_expiry(%s, NULL)', :g2));
SELECT credits.grant('gx', 10) AS g3 \gset
SELECT credits.void_grant(:g3) AS voided;
SELECT code, regexp_replace(message, '\d+', 'N') AS message FROM regress.error_of(format('SELECT credits.set_grant_expiry(%s, NULL)', :g3));
SELECT code, message FROM regress.error_of('SELECT credits.set_grant_expiry(999999999, NULL)');
SELECT code, message FROM regress.error_of(format('SELECT credits.set_grant_expiry(%s, %L)', :g1, 'infinity'));
SELECT credits.create_pool('gx_other') > 0 AS created;
SELECT code, regexp_replace(message, '\d+', 'N') AS message FROM regress.error_of(format('SELECT credits.set_grant_expiry(%L, %s, NULL)', 'gx_other', :g1));
SELECT * FROM credits.verify();
