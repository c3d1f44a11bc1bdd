-- Idempotent writes: void_grant (whole or partial), refund and capture take
-- an idempotency key. A retry returns the first call's result and changes
-- nothing; the same key with other arguments raises CR005; keys are per
-- pool and per function. capture(..., allow_more) charges the difference
-- above the hold.
\set VERBOSITY default
\set SHOW_CONTEXT never

-- the error of a statement, ids masked (they depend on the tests before)
CREATE FUNCTION pg_temp.err(statement text)
RETURNS TABLE (code text, message text, detail text)
LANGUAGE sql AS $$
	SELECT e.code, regexp_replace(e.message, '(grant|hold|charge) \d+', '\1 <id>', 'g'),
	       regexp_replace(e.detail, '"(grant_id|hold_id|charge_id)": \d+', '"\1": <id>', 'g')
	  FROM regress.error_of(statement) e
$$;

SELECT credits.create_pool('wk') > 0 AS created;
SELECT credits.grant('wk', 100) AS g \gset

-------------------------------------------------------------------------------
-- void_grant(grant_id, reason, amount, idempotency_key)
-------------------------------------------------------------------------------
-- a chargeback of 30 of the 100, delivered twice: voided once
SELECT credits.void_grant(:g, 'chargeback', 30, 'cb-1') AS voided;
SELECT credits.void_grant(:g, 'chargeback', 30, 'cb-1') AS replayed;
-- the reason is not compared
SELECT credits.void_grant(:g, 'chargeback again', 30, 'cb-1') AS replayed;
SELECT credits.balance('wk') AS balance;
-- a partially voided grant stays live: voided_at is NULL, its status active
SELECT g.status, g.remaining, gr.voided_at IS NULL AS live
  FROM credits.grant_balances g JOIN credits.grants gr USING (grant_id) WHERE g.grant_id = :g;
-- the same key with another amount or grant
SELECT code, message, detail FROM pg_temp.err(format($$SELECT credits.void_grant(%s, 'chargeback', 20, 'cb-1')$$, :g));
SELECT credits.grant('wk', 10) AS g2 \gset
SELECT code, message FROM pg_temp.err(format($$SELECT credits.void_grant(%s, 'chargeback', 30, 'cb-1')$$, :g2));
-- more than remains unheld
SELECT credits.reserve('wk', 'held', 60) AS h \gset
SELECT code, message, detail FROM pg_temp.err(format($$SELECT credits.void_grant(%s, 'too much', 11)$$, :g));
SELECT credits.release(:h) AS released;
-- 0, negative, too many places
SELECT code, message FROM pg_temp.err(format($$SELECT credits.void_grant(%s, 'nothing', 0)$$, :g));
SELECT code, message FROM pg_temp.err(format($$SELECT credits.void_grant(%s, 'negative', -1)$$, :g));
SELECT code, message FROM pg_temp.err(format($$SELECT credits.void_grant(%s, 'fine', 0.0000001)$$, :g));
SELECT code, message FROM pg_temp.err(format($$SELECT credits.void_grant(%s, 'bad key', 1, '')$$, :g));
-- NULL voids all that remains: the grant is voided
SELECT credits.void_grant(:g, 'closed', NULL, 'close-1') AS voided;
SELECT credits.void_grant(:g, 'closed', NULL, 'close-1') AS replayed;
SELECT status FROM credits.grant_balances WHERE grant_id = :g;
-- the pool-first form takes the same arguments
SELECT credits.void_grant('wk', :g2, 'pool first', 2.5, 'pf-1') AS voided;
SELECT credits.void_grant('wk', :g2, 'pool first', 2.5, 'pf-1') AS replayed;
SELECT credits.create_pool('wk_other') > 0 AS created;
SELECT code, message FROM pg_temp.err(format($$SELECT credits.void_grant('wk_other', %s, 'not mine', 1, 'pf-1')$$, :g2));
-- keys are per pool: the other pool's first use of the key
SELECT credits.grant('wk_other', 10) AS go \gset
SELECT credits.void_grant(:go, 'other pool', 1, 'cb-1') AS voided;
-- partial voids are voided in the reports and the ledger
SELECT allocated, voided, remaining FROM credits.monthly_summary WHERE pool = 'wk';
SELECT sum(voided) AS voided FROM credits.statement_by_kind('wk', now() - interval '1 day', now() + interval '1 day', 'total');
SELECT entry_type, amount, reason FROM credits.ledger_entries WHERE pool = 'wk' AND entry_type = 'void' ORDER BY entry_id;
SELECT count(*) AS keys FROM credits.write_keys;

-------------------------------------------------------------------------------
-- refund(charge_id, amount, reason, idempotency_key)
-------------------------------------------------------------------------------
SELECT credits.grant('wk', 100) > 0 AS granted;
SELECT (credits.charge('wk', 'alice', 10)).charge_id AS c \gset
SELECT credits.refund(:c, 4, 'bad answer', 'rf-1') AS refunded;
SELECT credits.refund(:c, 4, 'bad answer', 'rf-1') AS replayed;
SELECT used FROM credits.member_usage WHERE pool = 'wk' AND member = 'alice';
SELECT code, message FROM pg_temp.err(format($$SELECT credits.refund(%s, 5, 'bad answer', 'rf-1')$$, :c));
SELECT code, message FROM pg_temp.err(format($$SELECT credits.refund(%s, NULL, 'bad answer', 'rf-1')$$, :c));
-- a refund key never matches a void key
SELECT credits.refund(:c, 1, 'another', 'cb-1') AS refunded;
-- the whole rest, keyed, by the pool-first form
SELECT credits.refund('wk', :c, NULL, 'rest', 'rf-2') AS refunded;
SELECT credits.refund('wk', :c, NULL, 'rest', 'rf-2') AS replayed;
SELECT refunded FROM credits.transaction_log WHERE charge_id = :c;

-------------------------------------------------------------------------------
-- capture(hold_id, amount, metadata, idempotency_key, allow_more)
-------------------------------------------------------------------------------
SELECT credits.reserve('wk', 'bob', 10) AS h \gset
SELECT charge_id > 0 AS captured, status, charged, balance, member_used, replayed
  FROM credits.capture(:h, 7, '{"job": 1}', 'cap-1');
SELECT charge_id > 0 AS captured, status, charged, balance, member_used, replayed
  FROM credits.capture(:h, 7, '{"job": 1}', 'cap-1');
-- without a key a settled hold is still not pending
SELECT code, message FROM pg_temp.err(format($$SELECT credits.capture(%s, 7)$$, :h));
-- the key with another amount, or for another hold
SELECT code, message FROM pg_temp.err(format($$SELECT credits.capture(%s, 6, NULL, 'cap-1')$$, :h));
SELECT credits.reserve('wk', 'bob', 10) AS h2 \gset
SELECT code, message FROM pg_temp.err(format($$SELECT credits.capture(%s, 7, NULL, 'cap-1')$$, :h2));
-- a new key for a settled hold: CR006
SELECT code, message FROM pg_temp.err(format($$SELECT credits.capture(%s, 7, NULL, 'cap-new')$$, :h));
-- allow_more: above the hold without it is 22023
SELECT code, message FROM pg_temp.err(format($$SELECT credits.capture(%s, 12)$$, :h2));
SELECT code, message FROM pg_temp.err(format($$SELECT credits.capture(%s, 12, NULL, NULL, NULL)$$, :h2));
-- with it, the difference is charged as a charge of its own
SELECT status, charged, member_used, replayed FROM credits.capture(:h2, 12, NULL, 'cap-2', true);
SELECT status, charged, member_used, replayed FROM credits.capture(:h2, 12, NULL, 'cap-2', true);
SELECT operation, credits, metadata ? 'capture_of_hold' AS for_the_hold FROM credits.transaction_log WHERE pool = 'wk' AND member = 'bob' ORDER BY at, charge_id;
-- a difference that cannot be charged raises the charge's error; the hold stays pending
SELECT credits.set_member_limit('wk', 'carol', 10) IS NULL AS limited;
SELECT credits.reserve('wk', 'carol', 8) AS h3 \gset
SELECT code, message FROM pg_temp.err(format($$SELECT credits.capture(%s, 11, NULL, 'cap-3', true)$$, :h3));
SELECT credits.reserve('wk', 'dave', 5) AS h4 \gset
SELECT code, message FROM pg_temp.err(format($$SELECT credits.capture(%s, 1000, NULL, 'cap-4', true)$$, :h4));
SELECT hold_id = :h3 AS carol, amount FROM credits.hold_balances WHERE hold_id IN (:h3, :h4) ORDER BY hold_id;
-- within the limit it goes through; the pool-first form takes the same arguments
SELECT status, charged, member_used FROM credits.capture('wk', :h3, 10, NULL, 'cap-3', true);
SELECT status, charged, member_used, replayed FROM credits.capture('wk', :h3, 10, NULL, 'cap-3', true);
SELECT code, message FROM pg_temp.err(format($$SELECT credits.capture('wk_other', %s, idempotency_key => 'cap-5')$$, :h4));
SELECT code, message FROM pg_temp.err($$SELECT credits.capture(999999999, NULL, NULL, 'cap-6')$$);
SELECT credits.release(:h4) AS released;

SELECT credits.balance('wk') AS balance;
SELECT * FROM credits.verify();
