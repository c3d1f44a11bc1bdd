-- The ledger: append-only, one entry per change of a grant's balance, each
-- with its time, actor, pool, member, grant, amount and metadata.
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Roles the application would log in as.
CREATE ROLE regress_ledger_admin NOLOGIN;
GRANT credits_owner TO regress_ledger_admin;
CREATE ROLE regress_ledger_app NOLOGIN;
GRANT credits_app TO regress_ledger_app;

-------------------------------------------------------------------------------
-- Entries and their actors (docs/ledger.md)
-------------------------------------------------------------------------------
SET ROLE regress_ledger_admin;     -- member of credits_owner
SELECT credits.create_pool('ledger_acme') > 0 AS created;
SELECT credits.grant('ledger_acme', 10, 'free') > 0 AS granted;
SELECT credits.grant('ledger_acme', 100, metadata => '{"invoice": "INV-1"}') AS purchased_id \gset
RESET ROLE;

SET ROLE regress_ledger_app;       -- member of credits_app
SELECT status, charged FROM credits.charge('ledger_acme', 'alice', 25, 'chat', metadata => '{"request": "r-1"}');
SELECT status FROM credits.try_charge('ledger_acme', 'alice', 1000, 'chat');
RESET ROLE;

SET ROLE regress_ledger_admin;     -- member of credits_owner
SELECT credits.void_grant(:purchased_id, 'chargeback') AS voided;
RESET ROLE;

SELECT entry_type, actor, pool, member, kind AS grant_kind, amount, status, reason, metadata
  FROM credits.ledger_entries e
  LEFT JOIN (SELECT grant_id, kind FROM credits.grant_balances) g USING (grant_id)
 WHERE pool = 'ledger_acme'
 ORDER BY entry_id;

-- Every entry has a time, and the parts of one charge share it.
SELECT count(*) AS entries, count(at) AS with_time, count(actor) AS with_actor
  FROM credits.ledger_entries WHERE pool = 'ledger_acme';
SELECT count(DISTINCT e.at) AS times
  FROM credits.ledger_entries e
  JOIN credits.transaction_log t USING (charge_id)
 WHERE t.pool = 'ledger_acme' AND t.status = 'succeeded';
-- ... the time of the transaction that wrote it
BEGIN;
SELECT credits.grant('ledger_acme', 5, 'promo') > 0 AS granted;
SELECT status FROM credits.charge('ledger_acme', 'bob', 4);
SELECT entry_type, at = now() AS at_transaction_time
  FROM credits.ledger_entries
 WHERE pool = 'ledger_acme' AND at >= now()
 ORDER BY entry_id;
COMMIT;

-- Every grant's remaining is what its entries sum to.
SELECT g.kind, g.amount, g.remaining, sum(e.amount) AS ledger_sum
  FROM credits.grant_balances g
  JOIN credits.ledger_entries e USING (grant_id)
 WHERE g.pool = 'ledger_acme'
 GROUP BY g.grant_id, g.kind, g.amount, g.remaining
 ORDER BY g.kind;

SELECT count(*) AS entries_before FROM credits.ledger_entries WHERE pool = 'ledger_acme' \gset

-------------------------------------------------------------------------------
-- Append-only: UPDATE, DELETE and TRUNCATE are refused (42501), for the
-- superuser too.
-------------------------------------------------------------------------------
-- docs example
UPDATE credits.ledger SET amount = 0;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE credits.ledger;
\echo :LAST_ERROR_SQLSTATE
-- also for rows of one pool, and whether or not a row matches
UPDATE credits.ledger SET metadata = '{}'
 WHERE pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'ledger_acme');
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.ledger WHERE false;
\echo :LAST_ERROR_SQLSTATE
-- also with triggers of the ordinary kind silenced
SET session_replication_role = replica;
DELETE FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;

-- The owner and the application roles may not write it at all.
SET ROLE regress_ledger_admin;     -- member of credits_owner
UPDATE credits.ledger SET amount = 0;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE credits.ledger;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO credits.ledger (pool_id, entry_type) VALUES (1, 'adjust');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_ledger_app;       -- member of credits_app
UPDATE credits.ledger SET amount = 0;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE credits.ledger;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO credits.ledger (pool_id, entry_type) VALUES (1, 'adjust');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- The reporting views are read-only.
\set VERBOSITY terse
UPDATE credits.ledger_entries SET amount = 0;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.transaction_log;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

SELECT count(*) = :entries_before AS ledger_unchanged FROM credits.ledger_entries WHERE pool = 'ledger_acme';
SELECT * FROM credits.verify()
 WHERE object LIKE 'member ledger\_acme/%'
    OR object IN (SELECT 'grant ' || grant_id FROM credits.grant_balances WHERE pool = 'ledger_acme');

DROP ROLE regress_ledger_admin;
DROP ROLE regress_ledger_app;
