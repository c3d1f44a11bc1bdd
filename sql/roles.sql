-- Roles and privileges: credits_owner, credits_app and credits_reader get
-- exactly what the contract lists, PUBLIC gets nothing, and no role may
-- write the tables (the ledger least of all). The catalog checks cover every
-- object of the schema, including ones added later; the SET ROLE checks
-- call the API as each role. Every example of docs/roles.md is here.
\set VERBOSITY default
\set SHOW_CONTEXT never

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_roles_nobody, regress_roles_schema_only, regress_roles_web, regress_roles_admin,
	regress_roles_exporter;
RESET client_min_messages;

-------------------------------------------------------------------------------
-- The roles
-------------------------------------------------------------------------------
SELECT rolname, rolcanlogin, rolinherit, rolsuper, rolcreaterole, rolcreatedb
  FROM pg_roles WHERE rolname LIKE 'credits\_%' ORDER BY rolname;
-- credits_owner has everything credits_app and credits_reader have
SELECT m.rolname AS role, r.rolname AS member_of
  FROM pg_auth_members a
  JOIN pg_roles m ON m.oid = a.member
  JOIN pg_roles r ON r.oid = a.roleid
 WHERE m.rolname LIKE 'credits\_%' OR r.rolname LIKE 'credits\_%'
 ORDER BY 1, 2;

-------------------------------------------------------------------------------
-- Catalog checks: every object of schema credits
-------------------------------------------------------------------------------
CREATE TEMP TABLE grantees (grantee text, ord int);
INSERT INTO grantees VALUES ('credits_owner', 1), ('credits_app', 2), ('credits_reader', 3), ('public', 4);

-- Schema: every credits_* role may look inside, PUBLIC may not.
SELECT grantee, has_schema_privilege(grantee, 'credits', 'USAGE') AS usage,
       has_schema_privilege(grantee, 'credits', 'CREATE') AS "create"
  FROM grantees ORDER BY ord;

-- Functions and procedures of the contract, by who may run them. Every
-- function or procedure of the schema whose name does not start with "_"
-- must be listed here; a new one that is not shows up below.
CREATE TEMP TABLE contract (fn text, who text);
INSERT INTO contract VALUES
	('create_pool', 'owner'), ('set_member_limit', 'owner'), ('set_member_limits', 'owner'),
	('remove_member_limit', 'owner'), ('revoke_access', 'owner'), ('restore_access', 'owner'),
	('grant', 'owner'), ('void_grant', 'owner'), ('refund', 'owner'), ('set_grant_expiry', 'owner'),
	('set_rate', 'owner'), ('set_frequency_cap', 'owner'), ('remove_frequency_cap', 'owner'),
	('set_alert', 'owner'), ('remove_alert', 'owner'),
	('set_budget', 'owner'), ('assign_budget', 'owner'), ('remove_budget', 'owner'),
	('set_auto_topup', 'owner'), ('remove_auto_topup', 'owner'), ('cancel_topup_request', 'owner'),
	('subscribe', 'owner'), ('cancel_subscription', 'owner'), ('change_subscription', 'owner'),
	('renew_subscriptions', 'owner'), ('expire_grants', 'owner'), ('expire_holds', 'owner'),
	('maintain', 'owner'), ('verify', 'owner'), ('record_verify', 'owner'),
	('metrics', 'monitor'), ('metrics_charge_attempts', 'monitor'), ('metrics_maintenance', 'monitor'),
	('charge', 'app'), ('try_charge', 'app'), ('charge_usage', 'app'), ('charge_many', 'app'), ('try_charge_usage', 'app'),
	('reserve', 'app'), ('capture', 'app'), ('release', 'app'), ('extend_hold', 'app'),
	('balance', 'app, reader'),
	('statement', 'reader'), ('statement_by_kind', 'reader'), ('balance_at', 'reader'), ('usage', 'reader'),
	-- the ledger's default for its actor column; nobody calls it
	('current_actor', 'nobody');

-- Whoever may run a function, credits_owner may too (it is a member of the
-- other two); PUBLIC never may. Expected: no rows.
SELECT p.oid::regprocedure AS function, c.who AS contract,
       has_function_privilege('credits_owner', p.oid, 'EXECUTE') AS owner,
       has_function_privilege('credits_app', p.oid, 'EXECUTE') AS app,
       has_function_privilege('credits_reader', p.oid, 'EXECUTE') AS reader,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_proc p
  LEFT JOIN contract c ON c.fn = p.proname
 WHERE p.pronamespace = 'credits'::regnamespace
   AND p.proname NOT LIKE '\_%'
   AND (c.who IS NULL
        OR has_function_privilege('credits_owner', p.oid, 'EXECUTE') <> (c.who <> 'nobody')
        OR has_function_privilege('credits_app', p.oid, 'EXECUTE') <> (c.who LIKE '%app%')
        OR has_function_privilege('credits_reader', p.oid, 'EXECUTE') <> (c.who LIKE '%reader%')
        OR has_function_privilege('credits_monitor', p.oid, 'EXECUTE') <> (c.who LIKE '%monitor%')
        OR has_function_privilege('public', p.oid, 'EXECUTE'));

-- Internal functions (names starting with "_"): never PUBLIC or credits_app;
-- credits_reader runs only the helpers the views call; credits_owner also
-- the steps of the maintenance procedures (a procedure that commits runs as
-- its caller). Expected: no rows.
SELECT p.oid::regprocedure AS function, g.grantee
  FROM pg_proc p CROSS JOIN grantees g
 WHERE p.pronamespace = 'credits'::regnamespace
   AND p.proname LIKE '\_%'
   AND has_function_privilege(g.grantee, p.oid, 'EXECUTE')
   AND NOT (g.grantee IN ('credits_reader', 'credits_owner')
            AND p.proname IN ('_to_credits', '_period_start', '_period_at', '_flows', '_session_busy'))
   AND NOT (g.grantee = 'credits_owner'
            AND p.proname IN ('_require', '_in_transaction_block', '_maintenance_lock',
                              '_maintenance_batch', '_run_maintenance', '_maintenance_run_start',
                              '_maintenance_run_batch', '_maintenance_run_end', '_maintenance_step'));

-- Every API function runs as its owner (SECURITY DEFINER) with a fixed
-- search_path. Procedures are not checked: one that commits between batches
-- can be neither SECURITY DEFINER nor have a SET clause. Expected: no rows.
SELECT p.oid::regprocedure AS function, p.prosecdef, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'credits'::regnamespace
   AND p.prokind = 'f'
   AND p.proname NOT LIKE '\_%' AND p.proname <> 'current_actor'
   AND (NOT p.prosecdef OR NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false));

-- Tables and sequences: no role writes them; only credits.alerts and
-- credits.topup_requests may be read (by credits_reader, so by
-- credits_owner). Views: read by credits_reader and
-- credits_owner, written by nobody. Expected: no rows.
SELECT c.oid::regclass AS relation, c.relkind, g.grantee, x.privilege
  FROM pg_class c
 CROSS JOIN grantees g
 CROSS JOIN (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) x(privilege)
 WHERE c.relnamespace = 'credits'::regnamespace
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND has_table_privilege(g.grantee, c.oid, x.privilege)
   AND NOT (x.privilege = 'SELECT' AND g.grantee IN ('credits_reader', 'credits_owner')
            AND (c.relkind IN ('v', 'm') OR c.oid IN (to_regclass('credits.alerts'), to_regclass('credits.topup_requests'))))
UNION ALL
SELECT c.oid::regclass, c.relkind, g.grantee, x.privilege
  FROM pg_class c
 CROSS JOIN grantees g
 CROSS JOIN (VALUES ('USAGE'), ('SELECT'), ('UPDATE')) x(privilege)
 WHERE c.relnamespace = 'credits'::regnamespace
   AND c.relkind = 'S'
   AND has_sequence_privilege(g.grantee, c.oid, x.privilege)
 ORDER BY 1, 3, 4;

-- Every view is readable by credits_reader. Expected: no rows.
SELECT c.oid::regclass AS view
  FROM pg_class c
 WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind IN ('v', 'm')
   AND NOT has_table_privilege('credits_reader', c.oid, 'SELECT');

-- Types: the result type is usable by the roles whose functions return it.
SELECT g.grantee, has_type_privilege(g.grantee, 'credits.charge_result', 'USAGE') AS charge_result
  FROM grantees g ORDER BY g.ord;

-- docs example: who may run what (the functions of pools, grants, charges,
-- balances and verify)
SELECT p.proname AS function,
       has_function_privilege('credits_owner', p.oid, 'EXECUTE') AS owner,
       has_function_privilege('credits_app', p.oid, 'EXECUTE') AS app,
       has_function_privilege('credits_reader', p.oid, 'EXECUTE') AS reader,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_proc p
 WHERE p.pronamespace = 'credits'::regnamespace
   AND p.proname IN ('create_pool', 'set_member_limit', 'set_member_limits', 'remove_member_limit',
                     'revoke_access', 'restore_access', 'grant', 'void_grant', 'verify',
                     'charge', 'try_charge', 'balance')
 ORDER BY app, reader, p.proname;

-------------------------------------------------------------------------------
-- Calls as each role
-------------------------------------------------------------------------------
SELECT credits.create_pool('roles_acme') > 0 AS created;
SELECT credits.grant('roles_acme', 100) > 0 AS granted;

-- A role nobody granted anything: PUBLIC's rights, which are none.
CREATE ROLE regress_roles_nobody NOLOGIN;
SET ROLE regress_roles_nobody;
SELECT credits.create_pool('roles_nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('roles_acme', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.void_grant(999999999);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limit('roles_acme', 'alice', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.revoke_access('roles_acme', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('roles_acme', 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.try_charge('roles_acme', 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.balance('roles_acme');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.verify();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.pool_balances;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Even with USAGE on the schema, PUBLIC may run no function and read nothing.
CREATE ROLE regress_roles_schema_only NOLOGIN;
GRANT USAGE ON SCHEMA credits TO regress_roles_schema_only;
SET ROLE regress_roles_schema_only;
SELECT credits.create_pool('roles_nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('roles_acme', ARRAY['alice'], 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_member_limit('roles_acme', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.restore_access('roles_acme', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('roles_acme', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.void_grant(999999999);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('roles_acme', 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.balance('roles_acme');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.verify();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.grant_balances;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.member_usage;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.transaction_log;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.ledger_entries;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.pools;
\echo :LAST_ERROR_SQLSTATE
SELECT credits.current_actor();
\echo :LAST_ERROR_SQLSTATE
SELECT credits._to_credits(1::bigint);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE USAGE ON SCHEMA credits FROM regress_roles_schema_only;

-- credits_reader: the views, balance; nothing that writes.
SET ROLE credits_reader;
SELECT credits.balance('roles_acme') AS balance;
SELECT pool, available FROM credits.pool_balances WHERE pool = 'roles_acme';
SELECT kind, amount, remaining, status FROM credits.grant_balances WHERE pool = 'roles_acme';
SELECT count(*) FROM credits.member_usage WHERE pool = 'roles_acme';
SELECT count(*) FROM credits.transaction_log WHERE pool = 'roles_acme';
SELECT count(*) FROM credits.ledger_entries WHERE pool = 'roles_acme';
SELECT * FROM credits.charge('roles_acme', 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.try_charge('roles_acme', 'alice', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('roles_reader');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('roles_acme', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.void_grant(999999999);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limit('roles_acme', 'alice', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('roles_acme', ARRAY['alice'], 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_member_limit('roles_acme', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.revoke_access('roles_acme', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.restore_access('roles_acme', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.verify();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.grants;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.members;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- credits_app: charge, try_charge, balance; no views, no admin.
SET ROLE credits_app;
SELECT status, charged, balance FROM credits.charge('roles_acme', 'alice', 1);
SELECT status, charged, balance FROM credits.try_charge('roles_acme', 'alice', 1000);
SELECT credits.balance('roles_acme') AS balance, credits.balance('roles_acme', 'alice') AS alice;
SELECT * FROM credits.pool_balances;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.grant_balances;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.member_usage;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.transaction_log;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.ledger_entries;
\echo :LAST_ERROR_SQLSTATE
SELECT credits.create_pool('roles_app');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('roles_acme', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.void_grant(999999999);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limit('roles_acme', 'alice', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('roles_acme', ARRAY['alice'], 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_member_limit('roles_acme', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.revoke_access('roles_acme', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.restore_access('roles_acme', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.verify();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO credits.ledger (pool_id, entry_type, amount) VALUES (1, 'adjust', 1000);
\echo :LAST_ERROR_SQLSTATE
UPDATE credits.grants SET remaining = remaining + 1000;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- credits_owner: all of the API, and everything below.
SET ROLE credits_owner;
SELECT credits.create_pool('roles_owned') > 0 AS created;
SELECT credits.grant('roles_owned', 50, 'promo') AS owned_grant \gset
SELECT credits.set_member_limit('roles_owned', 'alice', 20);
SELECT credits.set_member_limits('roles_owned', ARRAY['bob', 'carol'], 20, 'split');
SELECT credits.remove_member_limit('roles_owned', 'carol');
SELECT credits.revoke_access('roles_owned', 'dave');
SELECT credits.restore_access('roles_owned', 'dave');
SELECT status, charged FROM credits.charge('roles_owned', 'alice', 5);
SELECT status FROM credits.try_charge('roles_owned', 'bob', 50);
SELECT credits.balance('roles_owned') AS balance;
SELECT credits.void_grant(:owned_grant, 'test') AS voided;
SELECT member, used, credit_limit, access FROM credits.member_usage WHERE pool = 'roles_owned' ORDER BY member;
SELECT count(*) AS problems FROM credits.verify();
-- ... but it writes no table directly
INSERT INTO credits.ledger (pool_id, entry_type, amount) VALUES (1, 'adjust', 1000);
\echo :LAST_ERROR_SQLSTATE
UPDATE credits.ledger SET amount = 0;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE credits.ledger;
\echo :LAST_ERROR_SQLSTATE
UPDATE credits.grants SET remaining = remaining + 1000;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO credits.pools (pool) VALUES ('roles_sneaky');
\echo :LAST_ERROR_SQLSTATE
UPDATE credits.members SET revoked = false;
\echo :LAST_ERROR_SQLSTATE
SELECT nextval('credits.grant_id_seq');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Not even a superuser may rewrite the ledger.
UPDATE credits.ledger SET amount = 0 WHERE false;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.ledger WHERE false;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE credits.ledger;
\echo :LAST_ERROR_SQLSTATE

-------------------------------------------------------------------------------
-- docs example: a login role per application, each granted one credits_* role
-------------------------------------------------------------------------------
CREATE ROLE regress_roles_web NOLOGIN;        -- in production: LOGIN PASSWORD ...
GRANT credits_app TO regress_roles_web;
CREATE ROLE regress_roles_admin NOLOGIN;
GRANT credits_owner TO regress_roles_admin;

SET ROLE regress_roles_admin;
SELECT credits.grant('roles_acme', 10, 'free') > 0 AS granted;
SET ROLE regress_roles_web;
SELECT status, charged FROM credits.charge('roles_acme', 'bob', 4);
SELECT credits.grant('roles_acme', 10, 'free');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- the ledger records who did what (here: all but the superuser running this)
SELECT entry_type, actor, member, amount
  FROM credits.ledger_entries WHERE pool = 'roles_acme' AND actor <> session_user ORDER BY entry_id;

-------------------------------------------------------------------------------
-- docs example (docs/operations.md): the exporter's login gets pg_monitor and
-- credits_monitor, which runs the metrics functions (counts only) and
-- reads nothing else
-------------------------------------------------------------------------------
CREATE ROLE regress_roles_exporter NOLOGIN;   -- in production: LOGIN PASSWORD ...
GRANT pg_monitor, credits_monitor TO regress_roles_exporter;
SET ROLE regress_roles_exporter;
SELECT pools_at_zero >= 0 AS metrics FROM credits.metrics();
SELECT count(*) AS statuses FROM credits.metrics_charge_attempts();
SELECT count(*) AS jobs FROM credits.metrics_maintenance();
SELECT * FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.maintenance_runs;
\echo :LAST_ERROR_SQLSTATE
SELECT credits.balance('roles_acme');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.verify();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-------------------------------------------------------------------------------
-- Clean up (roles are cluster-wide)
-------------------------------------------------------------------------------
DROP ROLE regress_roles_nobody, regress_roles_schema_only, regress_roles_web, regress_roles_admin,
	regress_roles_exporter;
SELECT * FROM credits.verify();
