-- charge_result.reason says which limit fired (NULL when succeeded); and
-- try_charge_usage reports business refusals as try_charge does.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('reasons') > 0 AS created;
SELECT credits.grant('reasons', 20) > 0 AS granted;
SELECT credits.set_member_limit('reasons', 'capped', 5, 'week');
SELECT credits.revoke_access('reasons', 'gone');
SELECT credits.set_frequency_cap('reasons', 'image', 1, '1 hour');
SELECT credits.set_rate('reasons_tokens', 0.01, 'token');

SELECT status, charged, reason FROM credits.try_charge('reasons', 'ok', 1);
SELECT status, reason FROM credits.try_charge('reasons', 'capped', 6);
SELECT status, reason FROM credits.try_charge('reasons', 'gone', 1);
SELECT status, reason FROM credits.try_charge('reasons', 'ok', 1000);
SELECT status FROM credits.try_charge('reasons', 'ok', 1, 'image');
SELECT status, reason FROM credits.try_charge('reasons', 'ok', 1, 'image');
-- the same text as the error charge() raises
SELECT (SELECT reason FROM credits.try_charge('reasons', 'capped', 6)) = e.message AS same_text
  FROM regress.error_of($$SELECT credits.charge('reasons', 'capped', 6)$$) e;
-- a replay and a capture succeed: no reason
SELECT status, reason FROM credits.charge('reasons', 'ok', 1, idempotency_key => 'r-1');
SELECT status, replayed, reason FROM credits.charge('reasons', 'ok', 1, idempotency_key => 'r-1');
SELECT status, reason FROM credits.capture(credits.reserve('reasons', 'ok', 2), 1);

-- try_charge_usage: charge_usage that reports refusals
SELECT status, charged, reason FROM credits.try_charge_usage('reasons', 'ok', 'reasons_tokens', 100);
SELECT status, charged, reason FROM credits.try_charge_usage('reasons', 'capped', 'reasons_tokens', 600);
SELECT status, charged, reason FROM credits.try_charge_usage('reasons', 'ok', 'reasons_tokens', 100000);
-- a refused attempt is in the transaction log as failed
SELECT member, feature, credits, status FROM credits.transaction_log
 WHERE pool = 'reasons' AND feature = 'reasons_tokens' ORDER BY charge_id;
-- other errors still raise
SELECT code, message FROM regress.error_of($$SELECT credits.try_charge_usage('reasons', 'ok', 'reasons_nothing', 1)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.try_charge_usage('reasons', 'ok', 'reasons_tokens', -1)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.try_charge_usage('reasons', 'ok', NULL, 1)$$);
SELECT * FROM credits.verify();
