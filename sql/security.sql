-- Privileges and search_path: PUBLIC can do nothing, credits_reader changes
-- nothing, credits_app cannot grant, void, refund or change limits, no role
-- rewrites the ledger, and every SECURITY DEFINER function pins its
-- search_path (catalog checks over every object of the schema). Then the
-- same scenario (pools, grants, charges, holds, refunds, voids, limits,
-- subscriptions and the maintenance procedures) runs twice as credits_owner:
-- once plain, once with objects planted in the caller's schemas (public.now(),
-- public.= for text and bigint, tables named like internal ones, a temp table
-- named like the one expire_grants once used) and search_path = public,
-- pg_catalog. Both runs must end identical.
--
-- The maintenance procedures touch every pool of a database: this test runs
-- in a database of its own so they cannot change the other tests' pools.
\set VERBOSITY default
\set SHOW_CONTEXT never

SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_credits_security;
DROP ROLE IF EXISTS regress_security_nobody, regress_security_writer;
RESET client_min_messages;
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_credits_security;
\c regress_credits_security
SET client_min_messages = warning;
CREATE EXTENSION credits;
RESET client_min_messages;
CREATE ROLE regress_security_nobody NOLOGIN;
-- may write every table of the cluster, but is no superuser
CREATE ROLE regress_security_writer NOLOGIN IN ROLE pg_write_all_data;
GRANT USAGE ON SCHEMA credits TO regress_security_writer;

-- Runs one statement and returns the SQLSTATE it ended with (00000: none).
CREATE FUNCTION pg_temp.sqlstate_of(statement text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_state text;
BEGIN
	EXECUTE statement;
	RETURN '00000';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE;
	RETURN v_state;
END
$$;

-- A call of every function and procedure of the schema with NULL
-- arguments: enough to test who may run it. A function's NULLs come from
-- subqueries, or the planner would fold a STRICT call with NULL arguments
-- to NULL without running it (nor checking who may).
CREATE TEMP VIEW every_call AS
SELECT p.oid, p.proname, p.prokind, p.provolatile,
       CASE WHEN p.prokind = 'p' THEN 'CALL ' ELSE 'SELECT ' END
       || format('%s(%s)', p.oid::regproc,
                 (SELECT string_agg(format(CASE WHEN p.prokind = 'p' THEN 'NULL::%s' ELSE '(SELECT NULL::%s)' END,
                                           t::regtype), ', ' ORDER BY n)
                    FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, n))) AS statement
  FROM pg_proc p
 WHERE p.pronamespace = 'credits'::regnamespace;
GRANT SELECT ON every_call TO PUBLIC;

-------------------------------------------------------------------------------
-- PUBLIC can do nothing
-------------------------------------------------------------------------------
-- Catalog: no function, procedure, table, view, sequence or type of the
-- schema grants anything to PUBLIC, nor the schema itself. Expected: no rows.
SELECT 'function' AS kind, p.oid::regprocedure::text AS object
  FROM pg_proc p
 WHERE p.pronamespace = 'credits'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')
UNION ALL
SELECT 'relation', c.oid::regclass::text || ' ' || x.privilege
  FROM pg_class c
 CROSS JOIN (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) x(privilege)
 WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND has_table_privilege('public', c.oid, x.privilege)
UNION ALL
SELECT 'sequence', c.oid::regclass::text || ' ' || x.privilege
  FROM pg_class c
 CROSS JOIN (VALUES ('USAGE'), ('SELECT'), ('UPDATE')) x(privilege)
 WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'S'
   AND has_sequence_privilege('public', c.oid, x.privilege)
UNION ALL
SELECT 'type', t.oid::regtype::text
  FROM pg_type t
 WHERE t.typnamespace = 'credits'::regnamespace AND t.typtype = 'c'
   AND has_type_privilege('public', t.oid, 'USAGE')
   AND NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
UNION ALL
SELECT 'schema', 'credits'
 WHERE has_schema_privilege('public', 'credits', 'USAGE') OR has_schema_privilege('public', 'credits', 'CREATE');

-- Calls: a role with nothing but USAGE on the schema runs every function
-- and procedure, and every one of them is refused with 42501.
GRANT USAGE ON SCHEMA credits TO regress_security_nobody;
SET ROLE regress_security_nobody;
SELECT count(*) AS calls,
       count(*) FILTER (WHERE pg_temp.sqlstate_of(statement) = '42501') AS refused
  FROM every_call;
SELECT pg_temp.sqlstate_of('SELECT * FROM credits.' || c.relname) AS state, count(*) AS relations
  FROM pg_class c
 WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind IN ('r', 'v', 'S')
 GROUP BY 1;
RESET ROLE;
REVOKE USAGE ON SCHEMA credits FROM regress_security_nobody;

-------------------------------------------------------------------------------
-- credits_reader cannot change anything
-------------------------------------------------------------------------------
-- It may run only functions that cannot write (STABLE or IMMUTABLE), no
-- procedure, and hold no privilege but SELECT. Expected: no rows.
SELECT p.oid::regprocedure AS runs, p.prokind, p.provolatile
  FROM pg_proc p
 WHERE p.pronamespace = 'credits'::regnamespace
   AND has_function_privilege('credits_reader', p.oid, 'EXECUTE')
   AND (p.prokind <> 'f' OR p.provolatile = 'v');
SELECT c.oid::regclass AS relation, x.privilege
  FROM pg_class c
 CROSS JOIN (VALUES ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) x(privilege)
 WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND has_table_privilege('credits_reader', c.oid, x.privilege)
UNION ALL
SELECT c.oid::regclass, x.privilege
  FROM pg_class c
 CROSS JOIN (VALUES ('USAGE'), ('UPDATE')) x(privilege)
 WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'S'
   AND has_sequence_privilege('credits_reader', c.oid, x.privilege);

-- Calls: every function or procedure that may write is refused.
SET ROLE credits_reader;
SELECT count(*) AS writers,
       count(*) FILTER (WHERE pg_temp.sqlstate_of(statement) = '42501') AS refused
  FROM every_call
 WHERE prokind = 'p' OR provolatile = 'v';
RESET ROLE;

-------------------------------------------------------------------------------
-- credits_app cannot grant, void, refund or change limits
-------------------------------------------------------------------------------
SELECT credits.create_pool('sec_acme') > 0 AS created;
SELECT credits.grant('sec_acme', 100) AS acme_grant \gset
SELECT charge_id AS acme_charge FROM credits.charge('sec_acme', 'alice', 5) \gset
SET ROLE credits_app;
SELECT credits.grant('sec_acme', 1000);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.grant('sec_acme', 1000, 'free', member => 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.void_grant(:acme_grant);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.refund(:acme_charge);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limit('sec_acme', 'alice', 100);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_member_limits('sec_acme', ARRAY['alice'], 100);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_member_limit('sec_acme', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.restore_access('sec_acme', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.revoke_access('sec_acme', 'alice');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_frequency_cap('sec_acme', 'chat', 1000, '1 minute');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_frequency_cap('sec_acme', 'chat');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_rate('chat', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('sec_acme', 'free', 1000);
\echo :LAST_ERROR_SQLSTATE
CALL credits.expire_grants('2100-01-01');
\echo :LAST_ERROR_SQLSTATE
-- and nothing moved: what it may do, it still can
SELECT status, charged, balance FROM credits.charge('sec_acme', 'alice', 1);
RESET ROLE;
SELECT kind, amount, remaining, status FROM credits.grant_balances WHERE pool = 'sec_acme';
SELECT member, used, credit_limit, access FROM credits.member_usage WHERE pool = 'sec_acme';

-------------------------------------------------------------------------------
-- No role can UPDATE or DELETE the ledger
-------------------------------------------------------------------------------
-- Catalog: no role holds UPDATE, DELETE or TRUNCATE on it but the
-- predefined pg_write_all_data (which the trigger stops, below).
SELECT r.rolname, x.privilege
  FROM (VALUES ('credits_owner'), ('credits_app'), ('credits_reader'), ('public'), ('regress_security_nobody'),
               ('pg_write_all_data')) r(rolname)
 CROSS JOIN (VALUES ('UPDATE'), ('DELETE'), ('TRUNCATE')) x(privilege)
 WHERE has_table_privilege(r.rolname, 'credits.ledger', x.privilege)
 ORDER BY 1, 2;
SET ROLE credits_owner;
UPDATE credits.ledger SET amount = 0;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE credits.ledger DISABLE TRIGGER ledger_append_only;
\echo :LAST_ERROR_SQLSTATE
SET ROLE credits_app;
UPDATE credits.ledger SET amount = 0;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
SET ROLE credits_reader;
UPDATE credits.ledger SET amount = 0;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_security_writer;
UPDATE credits.ledger SET amount = 0;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- a superuser is stopped by the trigger, also with replication triggers off
UPDATE credits.ledger SET amount = 0;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
SET session_replication_role = replica;
UPDATE credits.ledger SET amount = 0;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM credits.ledger;
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;

-------------------------------------------------------------------------------
-- search_path
-------------------------------------------------------------------------------
-- Every SECURITY DEFINER function pins search_path to pg_catalog, then
-- pg_temp (last: a caller's temp table cannot shadow a catalog).
-- Expected: no rows.
SELECT p.oid::regprocedure AS function, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'credits'::regnamespace AND p.prosecdef
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false);
-- So does every plpgsql or SQL function that is not inlined (a SQL-standard
-- body is bound when created). Expected: no rows.
SELECT p.oid::regprocedure AS function
  FROM pg_proc p
 WHERE p.pronamespace = 'credits'::regnamespace AND p.prokind = 'f'
   AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false);
-- The procedures that commit between batches can have neither: they run
-- with the caller's search_path (tested below).
SELECT p.oid::regprocedure AS procedure, p.prosecdef, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'credits'::regnamespace
   AND (p.prokind = 'p' OR (p.proconfig IS NULL AND p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')))
 ORDER BY p.oid::regprocedure::text;

-------------------------------------------------------------------------------
-- Planted objects change nothing
-------------------------------------------------------------------------------
-- The scenario, run as credits_owner for pool :pool. Its statements use no
-- operator and no unqualified function, so that only the extension can be
-- misled by what is planted.
\set scenario 'SELECT credits.create_pool(:''pool'') IS NOT NULL AS created;'
\set scenario :scenario 'SELECT credits.grant(:''pool'', 100, ''free'', expires_at => ''2100-01-01'') IS NOT NULL AS free;'
\set scenario :scenario 'SELECT credits.grant(:''pool'', 50) IS NOT NULL AS purchased;'
\set scenario :scenario 'SELECT credits.grant(:''pool'', 10, ''promo'', expires_at => ''2099-01-01'') IS NOT NULL AS promo;'
\set scenario :scenario 'SELECT credits.grant(:''pool'', 7, ''free'', member => ''bob'', effective_at => ''2090-01-01'') IS NOT NULL AS bobs;'
\set scenario :scenario 'SELECT credits.subscribe(:''pool'', ''pro'', 30, anchor => ''2030-01-01'', rollover_periods => 1) IS NOT NULL AS subscribed;'
\set scenario :scenario 'SELECT credits.set_member_limit(:''pool'', ''alice'', 40);'
\set scenario :scenario 'SELECT credits.set_member_limits(:''pool'', ARRAY[''carol'', ''dave''], 30, ''split'');'
\set scenario :scenario 'SELECT credits.revoke_access(:''pool'', ''eve'');'
\set scenario :scenario 'SELECT status, charged, balance, member_used, replayed FROM credits.charge(:''pool'', ''alice'', 5, ''chat'');'
\set scenario :scenario 'SELECT status, charged, balance, member_used, replayed FROM credits.charge(:''pool'', ''alice'', 2, ''chat'', ''order-1'');'
\set scenario :scenario 'SELECT status, charged, balance, member_used, replayed FROM credits.charge(:''pool'', ''alice'', 2, ''chat'', ''order-1'');'
\set scenario :scenario 'SELECT status, charged, balance, member_used, replayed FROM credits.try_charge(:''pool'', ''alice'', 50);'
\set scenario :scenario 'SELECT status, charged, balance, member_used, replayed FROM credits.try_charge(:''pool'', ''eve'', 1);'
\set scenario :scenario 'SELECT credits.set_rate(''sec_tokens'', 0.002, ''token'', ''2000-01-01'');'
\set scenario :scenario 'SELECT status, charged, balance, member_used FROM credits.charge_usage(:''pool'', ''bob'', ''sec_tokens'', 1500);'
\set scenario :scenario 'SELECT credits.balance(:''pool'') AS pool_balance, credits.balance(:''pool'', ''alice'') AS alice, credits.balance(:''pool'', ''carol'') AS carol;'
\set scenario :scenario 'WITH h AS (SELECT credits.reserve(:''pool'', ''bob'', 8, ttl => ''1 hour'') AS id) SELECT c.status, c.charged, c.balance, c.member_used FROM h, credits.capture(h.id, 3) c;'
\set scenario :scenario 'WITH h AS (SELECT credits.reserve(:''pool'', ''carol'', 4) AS id) SELECT credits.release(h.id) AS released FROM h;'
\set scenario :scenario 'SELECT credits.reserve(:''pool'', ''dave'', 6, ttl => ''1 hour'', idempotency_key => ''job-1'') IS NOT NULL AS pending;'
\set scenario :scenario 'WITH c AS (SELECT charge_id FROM credits.charge(:''pool'', ''carol'', 7)) SELECT credits.refund(c.charge_id, 2, ''sorry'') AS refunded FROM c;'
\set scenario :scenario 'WITH g AS (SELECT credits.grant(:''pool'', 5, ''promo'') AS id) SELECT credits.void_grant(g.id, ''chargeback'') AS voided FROM g;'
\set scenario :scenario 'SELECT credits.set_frequency_cap(:''pool'', ''chat'', 1, ''1 day'');'
\set scenario :scenario 'SELECT status FROM credits.try_charge(:''pool'', ''alice'', 1, ''chat'');'
\set scenario :scenario 'SELECT credits.set_alert(:''pool'', ''pool_balance_below'', 1000);'
\set scenario :scenario 'CALL credits.renew_subscriptions(''2030-03-15'');'
\set scenario :scenario 'CALL credits.expire_grants(''2099-06-01'');'
\set scenario :scenario 'CALL credits.expire_holds(''2100-01-01'');'
\set scenario :scenario 'CALL credits.maintain();'
\set scenario :scenario 'SELECT credits.balance(:''pool'') AS pool_balance, credits.balance(:''pool'', ''bob'') AS bob, credits.balance(:''pool'', ''dave'') AS dave;'

-- What a run left behind, without its ids, timestamps of now, or pool key.
CREATE FUNCTION pg_temp.outcome(p_pool text)
RETURNS TABLE (what text, item bigint, state text)
LANGUAGE sql AS $$
	WITH g AS (
		SELECT gb.*, row_number() OVER (ORDER BY gb.grant_id) AS n FROM credits.grant_balances gb WHERE gb.pool = p_pool
	), h AS (
		SELECT x.*, row_number() OVER (ORDER BY x.hold_id) AS n
		  FROM credits.holds x JOIN credits.pools p USING (pool_id) WHERE p.pool = p_pool
	), l AS (
		SELECT le.*, row_number() OVER (ORDER BY le.entry_id) AS n,
		       dense_rank() OVER (ORDER BY le.charge_id) AS charge_n
		  FROM credits.ledger_entries le WHERE le.pool = p_pool
	)
	SELECT 'grant', g.n, concat_ws(' ', g.member, g.kind, g.amount, g.remaining, g.held, g.status,
	                               CASE WHEN g.effective_at > '2020-01-01' AND g.effective_at > g.created_at + interval '1 day'
	                                    THEN g.effective_at END, g.expires_at, g.external_ref)
	  FROM g
	UNION ALL
	SELECT 'ledger', l.n, concat_ws(' ', l.entry_type, l.member, (SELECT g.n FROM g WHERE g.grant_id = l.grant_id),
	                                l.amount, l.held, CASE WHEN l.charge_id IS NOT NULL THEN l.charge_n END,
	                                (SELECT h.n FROM h WHERE h.hold_id = l.hold_id), l.status, replace(l.reason, p_pool, 'POOL'), l.feature,
	                                l.idempotency_key, l.actor,
	                                CASE WHEN l.at > '2029-01-01' AND l.entry_type IN ('grant', 'expire') THEN l.at END)
	  FROM l
	UNION ALL
	SELECT 'hold', h.n, concat_ws(' ', h.member, h.feature, h.amount, h.captured, h.status, h.idempotency_key)
	  FROM h
	UNION ALL
	SELECT 'member', row_number() OVER (ORDER BY m.member),
	       concat_ws(' ', m.member, m.used, m.held, m.credit_limit, m.percent_used, m.period, m.access)
	  FROM credits.member_usage m WHERE m.pool = p_pool
	UNION ALL
	SELECT 'subscription', row_number() OVER (ORDER BY s.subscription_id),
	       concat_ws(' ', s.plan, s.kind, s.credits_per_period, s.period, s.rollover_periods, s.anchor,
	                 s.last_period_start, s.next_period_start, s.status)
	  FROM credits.subscription_status s WHERE s.pool = p_pool
	UNION ALL
	SELECT 'balance', 1, concat_ws(' ', b.available, b.held, b.free_remaining, b.promo_remaining, b.plan_remaining,
	                               b.purchased_remaining, b.next_expiry_at)
	  FROM credits.pool_balances b WHERE b.pool = p_pool
	UNION ALL
	SELECT 'alert', row_number() OVER (ORDER BY a.id), concat_ws(' ', a.member, a.metric, a.threshold, a.value)
	  FROM credits.alerts a WHERE a.pool = p_pool
$$;

-- Run 1: nothing planted, the default search_path.
SET ROLE credits_owner;
\set pool sec_plain
:scenario
RESET ROLE;

-- The planted objects, all in reach of a caller: public comes first in its
-- search_path, pg_temp is its own.
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2001-01-01 00:00:00+00'::timestamptz $$;
CREATE FUNCTION public.isfinite(timestamptz) RETURNS boolean LANGUAGE sql AS $$ SELECT false $$;
CREATE FUNCTION public.pg_try_advisory_xact_lock(bigint) RETURNS boolean LANGUAGE sql AS $$ SELECT false $$;
CREATE FUNCTION public.pg_is_in_recovery() RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION public.evil_text_eq(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.evil_text_eq);
CREATE FUNCTION public.evil_bigint_eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.evil_bigint_eq);
CREATE TABLE public.pools (LIKE credits.pools);
CREATE TABLE public.grants (LIKE credits.grants);
CREATE TABLE public.ledger (LIKE credits.ledger);
CREATE TABLE public.members (LIKE credits.members);
CREATE TABLE public.holds (LIKE credits.holds);
GRANT ALL ON public.pools, public.grants, public.ledger, public.members, public.holds TO PUBLIC;
-- Whoever runs a trigger on a planted table is recorded here.
CREATE TABLE public.planted_calls (at_role name, via text);
GRANT INSERT ON public.planted_calls TO PUBLIC;
CREATE FUNCTION public.planted_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.planted_calls VALUES (current_user, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
	RETURN NULL;
END
$$;

-- Run 2: as credits_owner with the planted objects, its own temp tables
-- named like internal ones (expire_grants used to fill a temp table named
-- credits_expiring as its SECURITY DEFINER owner), and public first.
SET ROLE credits_owner;
CREATE TEMP TABLE credits_expiring (pool_id bigint, grant_id bigint, was bigint);
CREATE TRIGGER planted BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON credits_expiring
	FOR EACH STATEMENT EXECUTE FUNCTION public.planted_trigger();
CREATE TEMP TABLE grants (LIKE public.grants);
CREATE TEMP TABLE ledger (LIKE public.ledger);
CREATE TEMP TABLE pools (LIKE public.pools);
CREATE TEMP TABLE members (LIKE public.members);
CREATE TEMP TABLE holds (LIKE public.holds);
CREATE TEMP TABLE hold_parts (pool_id bigint, hold_id bigint, part integer, grant_id bigint, held bigint);
CREATE TEMP TABLE subscriptions (pool_id bigint, subscription_id bigint, plan text, cancelled_at timestamptz);
SET search_path = public, pg_catalog;
-- the planted objects are live: unqualified SQL of the caller uses them
SELECT now() AS planted_now, 'a' = 'b' AS text_eq, 1::bigint = 2::bigint AS bigint_eq,
       isfinite('2000-01-01'::timestamptz) AS planted_isfinite;
\set pool sec_planted
:scenario
RESET search_path;
RESET ROLE;

-- Both runs ended alike. Expected: no rows.
(SELECT * FROM pg_temp.outcome('sec_plain') EXCEPT ALL SELECT * FROM pg_temp.outcome('sec_planted'))
UNION ALL
(SELECT * FROM pg_temp.outcome('sec_planted') EXCEPT ALL SELECT * FROM pg_temp.outcome('sec_plain'))
 ORDER BY 1, 2;
-- ... and not because nothing happened
SELECT what, count(*) FROM pg_temp.outcome('sec_planted') GROUP BY what ORDER BY what;
SELECT item, state FROM pg_temp.outcome('sec_planted') WHERE what = 'ledger' ORDER BY item;
-- Nothing planted was touched, and no planted trigger ran.
SELECT (SELECT count(*) FROM public.pools) + (SELECT count(*) FROM public.grants) + (SELECT count(*) FROM public.ledger)
       + (SELECT count(*) FROM public.members) + (SELECT count(*) FROM public.holds) AS planted_rows;
SELECT * FROM public.planted_calls;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Clean up
-------------------------------------------------------------------------------
\c :regress_db
DROP DATABASE regress_credits_security;
DROP ROLE regress_security_nobody, regress_security_writer;
