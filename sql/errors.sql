-- Errors: the SQLSTATE, message, DETAIL and HINT of each error the pools,
-- members and grants functions raise; 22004 for a NULL in each required
-- argument; 22023 for each kind of invalid amount; a failed call changes
-- nothing. Every example of docs/errors.md is here.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('errors_acme') > 0 AS created;
SELECT credits.grant('errors_acme', 100) > 0 AS granted;
SELECT credits.set_member_limit('errors_acme', 'carol', 10);
SELECT (credits.charge('errors_acme', 'carol', 8)).status = 'succeeded' AS charged;
SELECT credits.revoke_access('errors_acme', 'dave');
SELECT (credits.charge('errors_acme', 'alice', 1, idempotency_key => 'order-1')).status = 'succeeded' AS charged;
SELECT count(*) AS entries FROM credits.ledger_entries WHERE pool = 'errors_acme' \gset

-------------------------------------------------------------------------------
-- One of each (docs example)
-------------------------------------------------------------------------------
SELECT e.*
  FROM (VALUES
	(1, $$SELECT credits.charge('errors_acme', 'alice', 1000)$$),
	(2, $$SELECT credits.charge('errors_acme', 'carol', 5)$$),
	(3, $$SELECT credits.charge('errors_acme', 'dave', 1)$$),
	(4, $$SELECT credits.grant('errors_nowhere', 10)$$),
	(5, $$SELECT credits.charge('errors_acme', 'alice', 2, idempotency_key => 'order-1')$$),
	(8, $$SELECT credits.set_member_limit('errors_acme', 'bob', 500)$$),
	(10, $$SELECT credits.void_grant(999999999)$$),
	(11, $$SELECT credits.grant('errors_acme', 10, 'gift')$$),
	(12, $$SELECT credits.grant('errors_acme', 10, NULL)$$),
	(13, $$SELECT credits.create_pool('errors_acme')$$)
  ) AS t(n, statement)
  LEFT JOIN LATERAL regress.error_of(t.statement) AS e ON true
 ORDER BY t.n;

-- The same errors as psql shows them (docs example)
SELECT credits.set_member_limit('errors_acme', 'bob', 500);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.charge('errors_acme', 'carol', 5);
\echo :LAST_ERROR_SQLSTATE

-- docs example: branching on the SQLSTATE in PL/pgSQL
DO $$
DECLARE
	v_detail text;
	v_hint text;
BEGIN
	PERFORM credits.charge('errors_acme', 'alice', 1000);
EXCEPTION
	WHEN SQLSTATE 'CR001' THEN
		GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
		RAISE NOTICE 'out of credits (%) %', v_detail, v_hint;
	WHEN SQLSTATE 'CR002' OR SQLSTATE 'CR003' THEN
		RAISE NOTICE 'this user may not spend that much';
END
$$;

-------------------------------------------------------------------------------
-- 22004: a NULL in each required argument
-------------------------------------------------------------------------------
SELECT t.statement, e.code, e.message
  FROM (VALUES
	(1, $$SELECT credits.create_pool(NULL)$$),
	(2, $$SELECT credits.create_pool('errors_x', 'X', NULL)$$),
	(3, $$SELECT credits.set_member_limit(NULL, 'alice', 10)$$),
	(4, $$SELECT credits.set_member_limit('errors_acme', NULL, 10)$$),
	(5, $$SELECT credits.set_member_limit('errors_acme', 'alice', 10, NULL)$$),
	(6, $$SELECT credits.set_member_limits(NULL, ARRAY['alice'], 10)$$),
	(7, $$SELECT credits.set_member_limits('errors_acme', NULL, 10)$$),
	(8, $$SELECT credits.set_member_limits('errors_acme', ARRAY['alice', NULL], 10)$$),
	(9, $$SELECT credits.set_member_limits('errors_acme', ARRAY['alice'], NULL)$$),
	(10, $$SELECT credits.set_member_limits('errors_acme', ARRAY['alice'], 10, NULL)$$),
	(12, $$SELECT credits.remove_member_limit(NULL, 'alice')$$),
	(13, $$SELECT credits.remove_member_limit('errors_acme', NULL)$$),
	(14, $$SELECT credits.revoke_access(NULL, 'alice')$$),
	(15, $$SELECT credits.revoke_access('errors_acme', NULL)$$),
	(16, $$SELECT credits.restore_access(NULL, 'alice')$$),
	(17, $$SELECT credits.restore_access('errors_acme', NULL)$$),
	(18, $$SELECT credits.grant(NULL, 10)$$),
	(19, $$SELECT credits.grant('errors_acme', NULL)$$),
	(20, $$SELECT credits.grant('errors_acme', 10, NULL)$$),
	(21, $$SELECT credits.grant('errors_acme', 10, effective_at => NULL)$$),
	(22, $$SELECT credits.void_grant(NULL)$$),
	(23, $$SELECT credits.void_grant(NULL::bigint, 'reason')$$)
  ) AS t(n, statement)
  LEFT JOIN LATERAL regress.error_of(t.statement) AS e ON true
 ORDER BY t.n;

-- Optional arguments may be NULL: these succeed.
SELECT credits.create_pool('errors_optional', NULL) > 0 AS created;
SELECT credits.set_member_limit('errors_optional', 'erin', NULL);
SELECT credits.grant('errors_optional', 1, 'promo', expires_at => NULL, member => NULL, priority => NULL,
                     external_ref => NULL, metadata => NULL) AS optional_id \gset
SELECT credits.void_grant(:optional_id, NULL) AS voided;

-------------------------------------------------------------------------------
-- 22023: invalid amounts, for every amount argument
-------------------------------------------------------------------------------
SELECT credits.create_pool('errors_amounts') > 0 AS created;
SELECT credits.grant('errors_amounts', 10) > 0 AS granted;

SELECT f.fn AS argument, v.label AS value, e.code, e.message, e.detail
  FROM (VALUES
	(1, 'grant(amount)', $$SELECT credits.grant('errors_amounts', %s)$$),
	(2, 'set_member_limit(credit_limit)', $$SELECT credits.set_member_limit('errors_amounts', 'alice', %s)$$),
	(3, 'set_member_limits(amount)', $$SELECT credits.set_member_limits('errors_amounts', ARRAY['alice'], %s)$$),
	(4, 'create_pool(topup_increment)', $$SELECT credits.create_pool('errors_topup', settings => jsonb_build_object('topup_increment', %s))$$)
  ) AS f(n, fn, template)
 CROSS JOIN (VALUES
	(1, 'negative', '-1'),
	(2, 'NaN', $$'NaN'::numeric$$),
	(3, 'Infinity', $$'Infinity'::numeric$$),
	(4, '-Infinity', $$'-Infinity'::numeric$$),
	(5, '7 decimals', '1.1234567'),
	(6, 'too large', '1000000000000.000001')
  ) AS v(n, label, literal)
  LEFT JOIN LATERAL regress.error_of(format(f.template, v.literal)) AS e ON true
 ORDER BY f.n, v.n;

-- (JSON has no NaN or Infinity: jsonb turns them into strings, which are not
-- numbers.) The edges: 0 (a grant and an increment must be positive, a limit
-- may be 0), the largest amount, and trailing zeros past 6 places: accepted.
SELECT t.statement, e.code, e.message
  FROM (VALUES
	(1, $$SELECT credits.grant('errors_amounts', 0)$$),
	(2, $$SELECT credits.create_pool('errors_topup', settings => '{"topup_increment": 0}')$$),
	(3, $$SELECT credits.set_member_limit('errors_amounts', 'alice', 0)$$),
	(4, $$SELECT credits.set_member_limits('errors_amounts', ARRAY['alice'], 0)$$),
	(5, $$SELECT credits.grant('errors_amounts', 1000000000000)$$),
	(6, $$SELECT credits.grant('errors_amounts', 1.1234560000)$$),
	(7, $$SELECT credits.set_member_limit('errors_amounts', 'alice', -0.0)$$)
  ) AS t(n, statement)
  LEFT JOIN LATERAL regress.error_of(t.statement) AS e ON true
 ORDER BY t.n;

-- 22023: other invalid arguments
SELECT t.statement, e.code, e.message
  FROM (VALUES
	(1, $$SELECT credits.grant('errors_amounts', 1, 'bonus')$$),
	(2, $$SELECT credits.set_member_limit('errors_amounts', 'alice', 1, 'year')$$),
	(3, $$SELECT credits.set_member_limits('errors_amounts', ARRAY['alice'], 1, 'half')$$),
	(4, $$SELECT credits.set_member_limits('errors_amounts', ARRAY[]::text[], 1)$$),
	(5, $$SELECT credits.grant('errors_amounts', 1, expires_at => '2030-01-01', effective_at => '2030-01-02')$$),
	(6, $$SELECT credits.grant('errors_amounts', 1, expires_at => 'infinity')$$),
	(7, $$SELECT credits.create_pool('')$$),
	(8, $$SELECT credits.create_pool('errors_topup', settings => '{"colour": "red"}')$$),
	(9, $$SELECT credits.create_pool('errors_topup', settings => '[]')$$)
  ) AS t(n, statement)
  LEFT JOIN LATERAL regress.error_of(t.statement) AS e ON true
 ORDER BY t.n;

-------------------------------------------------------------------------------
-- A failed call changes nothing
-------------------------------------------------------------------------------
SELECT count(*) - :entries AS new_entries FROM credits.ledger_entries WHERE pool = 'errors_acme';
SELECT count(*) AS pools FROM credits.pool_balances WHERE pool IN ('errors_x', 'errors_topup', '');
SELECT member, used, credit_limit, access FROM credits.member_usage WHERE pool = 'errors_acme' ORDER BY member;
SELECT member, credit_limit FROM credits.member_usage WHERE pool = 'errors_amounts' ORDER BY member;
SELECT credits.balance('errors_acme') AS acme, credits.balance('errors_amounts') AS amounts;

SELECT * FROM credits.verify();
