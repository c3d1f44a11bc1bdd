-- Refunds: partial and full, the order credits go back (the last consumed
-- first), grants that expired or were voided since, the member's usage,
-- captures, reports, roles and argument errors.
-- Ids and times differ between runs: ids are captured with \gset and never
-- printed; errors whose text names an id go through regress.masked_error_of, which
-- masks it.
-- Each error is followed by \echo :LAST_ERROR_SQLSTATE (VERBOSITY verbose would
-- also print LOCATION lines, which change between PostgreSQL builds).
\set VERBOSITY default
\set SHOW_CONTEXT never

-- What a charge took from each grant and what its refunds gave back, in
-- ledger order.
CREATE FUNCTION pg_temp.charge_entries(p_charge bigint)
RETURNS TABLE (entry_type text, kind text, amount numeric, held numeric, reason text)
LANGUAGE sql AS $$
	SELECT l.entry_type, g.kind, credits._to_credits(l.amount), credits._to_credits(l.held), l.reason
	  FROM credits.ledger l
	  LEFT JOIN credits.grants g ON g.pool_id = l.pool_id AND g.grant_id = l.grant_id
	 WHERE l.charge_id = p_charge AND l.grant_id IS NOT NULL
	 ORDER BY l.entry_id;
$$;

-------------------------------------------------------------------------------
-- A partial refund, then the rest (docs/refunds.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('refunds_acme', 'Acme Inc') > 0 AS created;
SELECT credits.grant('refunds_acme', 10, 'free') > 0 AS granted;
SELECT credits.grant('refunds_acme', 20, 'promo') > 0 AS granted;
SELECT credits.grant('refunds_acme', 100, 'purchased') > 0 AS granted;
SELECT credits.set_member_limit('refunds_acme', 'alice', 60);

-- docs example: a charge of 50 takes 10 free, 20 promo and 20 purchased
SELECT charge_id AS charge_id FROM credits.charge('refunds_acme', 'alice', 50, 'video') \gset
SELECT kind, remaining FROM credits.grant_balances WHERE pool = 'refunds_acme' ORDER BY grant_id;

-- docs example: refund 25 of it: the purchased part goes back first
SELECT credits.refund(:charge_id, 25, 'render failed halfway') AS refunded;
SELECT kind, remaining FROM credits.grant_balances WHERE pool = 'refunds_acme' ORDER BY grant_id;
SELECT member, used, remaining_limit FROM credits.member_usage WHERE pool = 'refunds_acme';
SELECT credits.balance('refunds_acme') AS pool, credits.balance('refunds_acme', 'alice') AS alice;

-- docs example: more than remains refundable is 22023
SELECT * FROM regress.masked_error_of(format('SELECT credits.refund(%s, 30)', :charge_id));

-- docs example: NULL refunds all that remains
SELECT credits.refund(:charge_id) AS refunded;
SELECT kind, remaining FROM credits.grant_balances WHERE pool = 'refunds_acme' ORDER BY grant_id;
SELECT member, used, remaining_limit FROM credits.member_usage WHERE pool = 'refunds_acme';
SELECT * FROM pg_temp.charge_entries(:charge_id);
-- the refund's reason is kept on its ledger entries
SELECT DISTINCT reason FROM credits.ledger WHERE charge_id = :charge_id AND entry_type = 'refund' ORDER BY 1;

-- nothing remains: NULL refunds 0 and writes nothing; any amount is 22023
SELECT count(*) AS entries_before FROM credits.ledger WHERE charge_id = :charge_id \gset
SELECT credits.refund(:charge_id) AS refunded;
SELECT count(*) = :entries_before AS nothing_new FROM credits.ledger WHERE charge_id = :charge_id;
SELECT * FROM regress.masked_error_of(format('SELECT credits.refund(%s, 0.000001)', :charge_id));

-- docs example: reports keep the charge gross; the refunds are ledger entries
SELECT member, feature, credits, credit_kinds, status
  FROM credits.transaction_log WHERE charge_id = :charge_id;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Several refunds walk back through the parts
-------------------------------------------------------------------------------
SELECT credits.create_pool('refunds_steps') > 0 AS created;
SELECT credits.grant('refunds_steps', 3, 'free') > 0 AS granted;
SELECT credits.grant('refunds_steps', 3, 'promo') > 0 AS granted;
SELECT credits.grant('refunds_steps', 3, 'plan') > 0 AS granted;
SELECT credits.grant('refunds_steps', 3, 'purchased') > 0 AS granted;
SELECT charge_id AS steps_id FROM credits.charge('refunds_steps', 'bob', 10.5) \gset
SELECT credits.refund(:steps_id, 1) AS refunded;
SELECT credits.refund(:steps_id, 2.25) AS refunded;
SELECT credits.refund(:steps_id, 0.000001) AS refunded;
SELECT kind, remaining FROM credits.grant_balances WHERE pool = 'refunds_steps' ORDER BY grant_id;
SELECT * FROM pg_temp.charge_entries(:steps_id);
SELECT credits.refund(:steps_id) AS refunded;
SELECT kind, remaining FROM credits.grant_balances WHERE pool = 'refunds_steps' ORDER BY grant_id;
SELECT member, used FROM credits.member_usage WHERE pool = 'refunds_steps';
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- A refund frees the member's limit
-------------------------------------------------------------------------------
SELECT credits.create_pool('refunds_limit') > 0 AS created;
SELECT credits.grant('refunds_limit', 100) > 0 AS granted;
SELECT credits.set_member_limit('refunds_limit', 'carol', 10);
SELECT charge_id AS limit_id FROM credits.charge('refunds_limit', 'carol', 8) \gset
SELECT * FROM credits.charge('refunds_limit', 'carol', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.refund(:limit_id, 3) AS refunded;
SELECT status, charged, member_used FROM credits.charge('refunds_limit', 'carol', 5);
SELECT member, used, credit_limit, remaining_limit FROM credits.member_usage WHERE pool = 'refunds_limit';
-- a lifetime limit goes down too
SELECT credits.set_member_limit('refunds_limit', 'dan', 10, 'none');
SELECT charge_id AS none_id FROM credits.charge('refunds_limit', 'dan', 10) \gset
SELECT credits.refund(:none_id, 4) AS refunded;
SELECT member, used, remaining_limit, period FROM credits.member_usage
 WHERE pool = 'refunds_limit' AND member = 'dan';
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- A grant that expired or was voided since (docs/refunds.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('refunds_gone') > 0 AS created;
BEGIN;
SELECT credits.grant('refunds_gone', 10, 'promo', expires_at => now() + interval '1 microsecond') > 0 AS granted;
SELECT credits.grant('refunds_gone', 10, 'plan') AS plan_id \gset
SELECT credits.grant('refunds_gone', 100, 'purchased') > 0 AS granted;
SELECT charge_id AS gone_id FROM credits.charge('refunds_gone', 'erin', 25) \gset
COMMIT;
-- the promo grant has expired since, and the plan grant is voided
SELECT credits.void_grant(:plan_id, 'plan cancelled') AS voided;
SELECT kind, remaining, status FROM credits.grant_balances WHERE pool = 'refunds_gone' ORDER BY grant_id;
-- docs example: the whole charge back: 5 to the purchased grant; the plan
-- and promo parts are recorded and voided or expired at once
SELECT credits.refund(:gone_id) AS refunded;
SELECT * FROM pg_temp.charge_entries(:gone_id);
SELECT kind, remaining, status FROM credits.grant_balances WHERE pool = 'refunds_gone' ORDER BY grant_id;
SELECT credits.balance('refunds_gone') AS balance;
-- the member's usage goes down by all 25
SELECT member, used FROM credits.member_usage WHERE pool = 'refunds_gone';
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- A capture is refundable like a charge
-------------------------------------------------------------------------------
SELECT credits.create_pool('refunds_capture') > 0 AS created;
SELECT credits.grant('refunds_capture', 10, 'free') > 0 AS granted;
SELECT credits.grant('refunds_capture', 100, 'purchased') > 0 AS granted;
SELECT credits.reserve('refunds_capture', 'frank', 40, feature => 'video') AS cap_hold \gset
SELECT charge_id AS capture_id, status, charged, member_used FROM credits.capture(:cap_hold, 30) \gset
SELECT :'status' AS status, :charged AS charged, :member_used AS member_used;
SELECT credits.refund(:capture_id, 25) AS refunded;
SELECT kind, remaining, held FROM credits.grant_balances WHERE pool = 'refunds_capture' ORDER BY grant_id;
SELECT * FROM pg_temp.charge_entries(:capture_id);
SELECT member, used, held FROM credits.member_usage WHERE pool = 'refunds_capture';
-- a hold is not a charge: only its capture is refundable (CR010)
SELECT * FROM regress.masked_error_of(format('SELECT credits.refund(%s)', :cap_hold));
SELECT credits.refund(:capture_id) AS refunded;
SELECT credits.balance('refunds_capture') AS balance;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- What is not refundable
-------------------------------------------------------------------------------
SELECT credits.create_pool('refunds_args') > 0 AS created;
SELECT credits.grant('refunds_args', 10) > 0 AS granted;
SELECT charge_id AS args_id FROM credits.charge('refunds_args', 'gus', 4) \gset
-- docs example: an unknown charge is CR010
SELECT credits.refund(-1);
\echo :LAST_ERROR_SQLSTATE
-- a rejected attempt charged nothing and is not refundable
SELECT charge_id AS rejected_id FROM credits.try_charge('refunds_args', 'gus', 100) \gset
SELECT * FROM regress.masked_error_of(format('SELECT credits.refund(%s)', :rejected_id));
-- a free action has nothing to give back
SELECT charge_id AS free_id FROM credits.charge('refunds_args', 'gus', 0) \gset
SELECT credits.refund(:free_id) AS refunded;
SELECT * FROM regress.masked_error_of(format('SELECT credits.refund(%s, 1)', :free_id));
-- argument errors
SELECT credits.refund(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.refund(NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.refund(:args_id, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.refund(:args_id, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.refund(:args_id, 'NaN');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.refund(:args_id, 'Infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.refund(:args_id, 1.0000001);
\echo :LAST_ERROR_SQLSTATE
-- none of that changed anything
SELECT member, used FROM credits.member_usage WHERE pool = 'refunds_args';
SELECT credits.balance('refunds_args') AS balance;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Roles: refunds are for credits_owner
-------------------------------------------------------------------------------
SELECT credits.create_pool('refunds_roles') > 0 AS created;
SELECT credits.grant('refunds_roles', 10) > 0 AS granted;
SELECT charge_id AS roles_id FROM credits.charge('refunds_roles', 'hal', 4) \gset
CREATE ROLE refunds_nobody;
SET ROLE credits_app;
SELECT credits.refund(:roles_id);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE credits_reader;
SELECT credits.refund(:roles_id);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE refunds_nobody;
SELECT credits.refund(-1);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE credits_owner;
SELECT credits.refund(:roles_id, 1) AS refunded;
RESET ROLE;
SELECT CASE WHEN actor = session_user THEN '(session user)' ELSE actor END AS actor, entry_type,
       credits._to_credits(amount) AS amount
  FROM credits.ledger WHERE charge_id = :roles_id AND entry_type = 'refund';
SELECT * FROM credits.verify();
DROP ROLE refunds_nobody;
