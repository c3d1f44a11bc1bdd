-- verify(): every broken invariant, empty when all hold. Each broken case is
-- made by hand as superuser inside BEGIN ... ROLLBACK (the only way: the API
-- cannot break them), and verify() must name it.
\set VERBOSITY default
\set SHOW_CONTEXT never

-- docs example: the whole database is consistent
SELECT * FROM credits.verify();

SELECT credits.create_pool('verify_acme') > 0 AS created;
SELECT credits.grant('verify_acme', 100, external_ref => 'purchased') AS purchased \gset
SELECT credits.grant('verify_acme', 10, 'free', external_ref => 'free') AS free \gset
SELECT credits.set_member_limit('verify_acme', 'carol', 20);
SELECT status, charged FROM credits.charge('verify_acme', 'alice', 15);
SELECT status, charged FROM credits.charge('verify_acme', 'carol', 12);

-- What verify() reports about this pool, with grant ids replaced by labels.
CREATE TEMP VIEW verify_acme AS
SELECT v.problem, coalesce(b.external_ref || ' grant', v.object) AS object, v.detail
  FROM credits.verify() v
  LEFT JOIN credits.grant_balances b ON v.object = 'grant ' || b.grant_id
 WHERE b.pool = 'verify_acme' OR v.object LIKE 'member verify\_acme/%'
 ORDER BY 1, 2, 3;

SELECT * FROM verify_acme;

-- A grant's remaining differs from what its ledger entries sum to.
BEGIN;
UPDATE credits.grants SET remaining = remaining + 1 WHERE grant_id = :purchased;
SELECT * FROM verify_acme;
ROLLBACK;

-- A ledger entry removed behind the trigger's back (the trigger disabled).
BEGIN;
ALTER TABLE credits.ledger DISABLE TRIGGER ledger_append_only;
DELETE FROM credits.ledger WHERE grant_id = :free AND entry_type = 'charge';
SELECT * FROM verify_acme;
ROLLBACK;

-- A ledger entry for a grant that does not exist.
SELECT max(grant_id) + 1000 AS ghost FROM credits.grants \gset
BEGIN;
INSERT INTO credits.ledger (pool_id, entry_type, grant_id, amount)
SELECT pool_id, 'adjust', :ghost, 5000000 FROM credits.pools WHERE pool = 'verify_acme';
SELECT problem, replace(object, :'ghost', 'ghost') AS object, detail
  FROM credits.verify() WHERE object = 'grant ' || :ghost;
ROLLBACK;

-- A grant that holds more than it was granted (its ledger agrees).
BEGIN;
INSERT INTO credits.ledger (pool_id, entry_type, grant_id, amount)
SELECT pool_id, 'adjust', grant_id, amount + 1000000 - remaining FROM credits.grants WHERE grant_id = :purchased;
UPDATE credits.grants SET remaining = amount + 1000000 WHERE grant_id = :purchased;
SELECT * FROM verify_acme;
ROLLBACK;

-- A negative remaining (the domain's CHECK dropped first; its ledger agrees).
BEGIN;
ALTER DOMAIN credits.micros DROP CONSTRAINT micros_check;
UPDATE credits.grants SET remaining = -1 WHERE grant_id = :free;
INSERT INTO credits.ledger (pool_id, entry_type, grant_id, amount)
SELECT pool_id, 'adjust', :free, -1 FROM credits.grants WHERE grant_id = :free;
SELECT * FROM verify_acme;
ROLLBACK;

-- A member's usage counter differs from its charges in the ledger.
BEGIN;
UPDATE credits.members SET used = used - 1000000
 WHERE member = 'alice' AND pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'verify_acme');
SELECT * FROM verify_acme;
ROLLBACK;

-- Usage past a limit the owner did not lower (limit_set_at cleared).
BEGIN;
UPDATE credits.members SET credit_limit = 10000000, limit_set_at = NULL
 WHERE member = 'carol' AND pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'verify_acme');
SELECT * FROM verify_acme;
ROLLBACK;
-- ... whereas an owner who lowers a limit below this period's usage is no problem
SELECT credits.set_member_limit('verify_acme', 'carol', 10);
SELECT * FROM verify_acme;

-- Credits a member holds that no hold entry in the ledger accounts for, and
-- a grant's held part that its ledger does not show.
BEGIN;
UPDATE credits.members SET held = 2000000
 WHERE member = 'alice' AND pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'verify_acme');
UPDATE credits.grants SET remaining = remaining - 2000000, held = 2000000 WHERE grant_id = :purchased;
SELECT * FROM verify_acme;
ROLLBACK;

-- Everything rolled back: consistent again.
SELECT * FROM verify_acme;
SELECT * FROM credits.verify();

DROP VIEW verify_acme;
