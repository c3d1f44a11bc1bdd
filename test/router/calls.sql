-- Every function of the router's schema credits, called through the router
-- (test/stress/router.sh runs it in the router database, then checks that
-- track_functions counted a call of each). Each \gset/check asserts a result.
\set ON_ERROR_STOP on
\set QUIET on
\o /dev/null
CREATE SCHEMA router_test;
-- check(what, ok): fails the script when ok is not true.
CREATE FUNCTION router_test.check(what text, ok boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN RAISE EXCEPTION 'check failed: %', what; END IF;
END $$;
-- sqlstate(statement): the SQLSTATE the statement raises through the router, or 'ok'.
CREATE FUNCTION router_test.sqlstate(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;


-- 40 pools, spread over the 4 partitions by hashtext(pool) & 3.
SELECT router_test.check('create_pool', count(*) = 40)
FROM generate_series(1, 40) i, credits.create_pool('org-' || i, 'Org ' || i) AS id WHERE id > 0;
SELECT router_test.check('grant', count(*) = 40)
FROM generate_series(1, 40) i, credits.grant('org-' || i, 1000, 'purchased') AS id WHERE id > 0;
SELECT credits.set_rate('tokens', 0.002, 'token');
SELECT router_test.check('set_rate reached every partition',
	(SELECT sum(c.charged) FROM generate_series(1, 8) i, credits.charge_usage('org-' || i, 'u', 'tokens', 1000) c) = 16);

-- Charges, replays, refusals.
SELECT router_test.check('charge', (c).status = 'succeeded' AND (c).charged = 5 AND NOT (c).replayed)
FROM credits.charge('org-1', 'alice', 5, 'chat', 'k-1') c;
SELECT router_test.check('charge replayed with its key', (c).replayed AND (c).charge_id = (SELECT charge_id FROM credits.transaction_log WHERE idempotency_key = 'k-1'))
FROM credits.charge('org-1', 'alice', 5, 'chat', 'k-1') c;
SELECT router_test.check('a replay charged nothing', credits.balance('org-1') = 1000 - 2 - 5);
SELECT router_test.check('try_charge refuses as a status', (c).status = 'insufficient_credits')
FROM credits.try_charge('org-2', 'bob', 5000) c;
SELECT router_test.check('try_charge_usage', (c).status = 'succeeded' AND (c).charged = 0.2)
FROM credits.try_charge_usage('org-9', 'bob', 'tokens', 100) c;

-- SQLSTATEs raised on a partition reach the caller unchanged.
SELECT router_test.check('CR001 insufficient credits', router_test.sqlstate($$SELECT credits.charge('org-2', 'bob', 5000)$$) = 'CR001');
SELECT router_test.check('CR004 unknown pool', router_test.sqlstate($$SELECT credits.charge('no-such-org', 'bob', 1)$$) = 'CR004');
SELECT router_test.check('CR005 idempotency conflict', router_test.sqlstate($$SELECT credits.charge('org-1', 'alice', 6, 'chat', 'k-1')$$) = 'CR005');
SELECT router_test.check('CR009 unknown feature', router_test.sqlstate($$SELECT credits.charge_usage('org-1', 'alice', 'nope', 1)$$) = 'CR009');
SELECT router_test.check('22023 negative amount', router_test.sqlstate($$SELECT credits.charge('org-1', 'alice', -1)$$) = '22023');
SELECT router_test.check('22004 NULL pool (routing)', router_test.sqlstate($$SELECT credits.charge(NULL, 'alice', 1)$$) = '22004');
SELECT router_test.check('22004 NULL member (partition)', router_test.sqlstate($$SELECT credits.charge('org-1', NULL, 1)$$) = '22004');
SELECT router_test.check('23505 existing pool', router_test.sqlstate($$SELECT credits.create_pool('org-1')$$) = '23505');

-- Members: limits, access.
SELECT credits.set_member_limit('org-3', 'carol', 10);
SELECT router_test.check('CR002 member limit', router_test.sqlstate($$SELECT credits.charge('org-3', 'carol', 11)$$) = 'CR002');
SELECT credits.set_member_limits('org-3', ARRAY['dave', 'erin'], 20, 'split');
SELECT router_test.check('set_member_limits', (SELECT credit_limit FROM credits.member_usage WHERE pool = 'org-3' AND member = 'dave') = 10);
SELECT credits.remove_member_limit('org-3', 'carol');
SELECT router_test.check('remove_member_limit', (credits.charge('org-3', 'carol', 11)).status = 'succeeded');
SELECT credits.revoke_access('org-3', 'erin');
SELECT router_test.check('CR003 access revoked', router_test.sqlstate($$SELECT credits.charge('org-3', 'erin', 1)$$) = 'CR003');
SELECT credits.restore_access('org-3', 'erin');
SELECT router_test.check('restore_access', (credits.charge('org-3', 'erin', 1)).status = 'succeeded');
SELECT router_test.check('balance of a member', credits.balance('org-3', 'dave') = 10);
SELECT credits.set_frequency_cap('org-4', 'search', 1, '1 hour');
SELECT router_test.check('first call under the cap', (credits.charge('org-4', 'frank', 1, 'search')).status = 'succeeded');
SELECT router_test.check('CR007 rate limited', router_test.sqlstate($$SELECT credits.charge('org-4', 'frank', 1, 'search')$$) = 'CR007');
SELECT credits.remove_frequency_cap('org-4', 'search');
SELECT router_test.check('remove_frequency_cap', (credits.charge('org-4', 'frank', 1, 'search')).status = 'succeeded');
-- Budgets: a budget's refusal keeps its SQLSTATE (CR011).
SELECT credits.set_budget('org-4', 'design', 5);
SELECT credits.assign_budget('org-4', 'frank', 'design');
SELECT router_test.check('a charge within the budget', (credits.charge('org-4', 'frank', 5)).status = 'succeeded');
SELECT router_test.check('CR011 budget exceeded', router_test.sqlstate($$SELECT credits.charge('org-4', 'frank', 1)$$) = 'CR011');
SELECT router_test.check('budget_usage gathered', (SELECT used FROM credits.budget_usage WHERE pool = 'org-4' AND budget = 'design') = 5);
SELECT credits.remove_budget('org-4', 'design');
SELECT router_test.check('remove_budget', (credits.charge('org-4', 'frank', 1)).status = 'succeeded');

-- Holds: the pool-first forms; an id of another pool is CR010.
SELECT credits.reserve('org-5', 'gina', 30, '10 minutes', NULL, 'h-1') AS hold \gset
SELECT router_test.check('reserve replayed with its key', credits.reserve('org-5', 'gina', 30, '10 minutes', NULL, 'h-1') = :hold);
SELECT router_test.check('extend_hold', credits.extend_hold('org-5', :hold, '1 hour') > now() + interval '59 minutes');
SELECT router_test.check('CR010 hold of another pool', router_test.sqlstate(format('SELECT credits.capture(%L, %s)', 'org-6', :hold)) = 'CR010');
SELECT router_test.check('capture', (c).status = 'succeeded' AND (c).charged = 12) FROM credits.capture('org-5', :hold, 12) c;
SELECT router_test.check('CR006 hold not pending', router_test.sqlstate(format('SELECT credits.release(%L, %s)', 'org-5', :hold)) = 'CR006');
SELECT credits.reserve('org-5', 'gina', 7) AS hold2 \gset
SELECT router_test.check('release', credits.release('org-5', :hold2) = 7);

-- Refunds and grants by id, pool first.
SELECT (credits.charge('org-6', 'hank', 40)).charge_id AS charge6 \gset
SELECT router_test.check('CR010 charge of another pool', router_test.sqlstate(format('SELECT credits.refund(%L, %s)', 'org-7', :charge6)) = 'CR010');
SELECT router_test.check('refund', credits.refund('org-6', :charge6, 15, 'goodwill') = 15);
SELECT credits.grant('org-7', 50, 'promo', now() + interval '30 days') AS grant7 \gset
SELECT credits.set_grant_expiry('org-7', :grant7, now() + interval '60 days');
SELECT router_test.check('set_grant_expiry', (SELECT expires_at > now() + interval '59 days' FROM credits.grant_balances WHERE pool = 'org-7' AND grant_id = :grant7));
SELECT router_test.check('CR010 grant of another pool', router_test.sqlstate(format('SELECT credits.void_grant(%L, %s)', 'org-8', :grant7)) = 'CR010');
SELECT router_test.check('void_grant', credits.void_grant('org-7', :grant7, 'chargeback') = 50);

-- Subscriptions and alerts.
SELECT router_test.check('subscribe', credits.subscribe('org-10', 'pro', 500) > 0);
SELECT router_test.check('subscription granted', credits.balance('org-10') = 1500);
SELECT credits.change_subscription('org-10', 'pro', 600);
SELECT router_test.check('change_subscription', (SELECT credits_per_period FROM credits.subscription_status
                                                  WHERE pool = 'org-10' AND plan = 'pro') = 600);
SELECT credits.cancel_subscription('org-10', 'pro');
-- Auto top-up: set on the pool's partition (the requests it opens are
-- the partition's; test/stress/topup_notify.sh tests them); a bad amount
-- keeps its SQLSTATE.
SELECT credits.set_auto_topup('org-12', 995, 100);
SELECT router_test.check('a charge under the top-up threshold', (credits.charge('org-12', 'jo', 10)).status = 'succeeded');
SELECT router_test.check('set_auto_topup 22023', router_test.sqlstate($$SELECT credits.set_auto_topup('org-12', 995, -1)$$) = '22023');
SELECT credits.remove_auto_topup('org-12');
SELECT credits.set_alert('org-11', 'pool_balance_below', 995);
SELECT credits.charge('org-11', 'ivan', 10);
SELECT credits.remove_alert('org-11', 'pool_balance_below');

-- Reports.
SELECT router_test.check('statement', sum(consumed) = 10)
FROM credits.statement('org-11', date_trunc('day', now()), date_trunc('day', now()) + interval '1 day');
SELECT router_test.check('statement_by_kind', sum(allocated) = 1000)
FROM credits.statement_by_kind('org-11', date_trunc('month', now()), date_trunc('month', now()) + interval '1 month');
SELECT router_test.check('balance_at', credits.balance_at('org-11', now()) = 990);
SELECT router_test.check('usage', sum(credits) = 10) FROM credits.usage('org-11', now() - interval '1 day', now() + interval '1 day');

-- charge_many: split by pool over the partitions, rows back in ord order.
CREATE TABLE router_test.batch AS
SELECT i AS ord, 'org-' || (1 + (i * 7) % 40) AS pool, 'm' || (i % 3) AS member, (i % 5)::numeric AS amount,
       'b-' || i AS key
FROM generate_series(1, 60) i;
CREATE TABLE router_test.batch_result AS
SELECT * FROM credits.charge_many(
	(SELECT array_agg(pool ORDER BY ord) FROM router_test.batch),
	(SELECT array_agg(member ORDER BY ord) FROM router_test.batch),
	(SELECT array_agg(amount ORDER BY ord) FROM router_test.batch),
	NULL,
	(SELECT array_agg(key ORDER BY ord) FROM router_test.batch)) WITH ORDINALITY AS r(ord, charge_id, status, charged, balance, member_used, replayed, reason, n);
SELECT router_test.check('charge_many rows in ord order', bool_and(r.ord = r.n) AND count(*) = 60) FROM router_test.batch_result r;
SELECT router_test.check('charge_many row i is event i', bool_and(r.charged = b.amount AND r.status = 'succeeded' AND NOT r.replayed))
FROM router_test.batch_result r JOIN router_test.batch b USING (ord);
SELECT router_test.check('charge_many: each row''s charge is its pool''s', count(*) = 60)
FROM router_test.batch_result r JOIN router_test.batch b USING (ord)
JOIN credits.transaction_log t ON t.pool = b.pool AND t.charge_id = r.charge_id AND t.idempotency_key = b.key;
SELECT router_test.check('charge_many replayed', bool_and(replayed) AND count(*) = 60)
FROM credits.charge_many(
	(SELECT array_agg(pool ORDER BY ord) FROM router_test.batch),
	(SELECT array_agg(member ORDER BY ord) FROM router_test.batch),
	(SELECT array_agg(amount ORDER BY ord) FROM router_test.batch),
	NULL,
	(SELECT array_agg(key ORDER BY ord) FROM router_test.batch));
SELECT router_test.check('charge_many: arrays of different lengths', router_test.sqlstate($$SELECT credits.charge_many(ARRAY['org-1', 'org-2'], ARRAY['a'], ARRAY[1, 2])$$) = '22023');
SELECT router_test.check('charge_many: NULL pool element', router_test.sqlstate($$SELECT credits.charge_many(ARRAY['org-1', NULL], ARRAY['a', 'b'], ARRAY[1, 2])$$) = '22004');
SELECT router_test.check('charge_many: a bad amount changes nothing',
	router_test.sqlstate($$SELECT credits.charge_many(ARRAY['org-1', 'org-2', 'org-3'], ARRAY['a', 'b', 'c'], ARRAY[1, -2, 3], NULL, ARRAY['bad-1', 'bad-2', 'bad-3'])$$) = '22023'
	AND NOT EXISTS (SELECT FROM credits.transaction_log WHERE idempotency_key LIKE 'bad-%'));
SELECT router_test.check('charge_many: empty', count(*) = 0) FROM credits.charge_many('{}', '{}', '{}');

-- The gathered views and verify().
SELECT router_test.check('pool_balances gathers every partition', count(*) = 40) FROM credits.pool_balances WHERE pool LIKE 'org-%';
SELECT router_test.check('member_usage', count(*) > 0) FROM credits.member_usage WHERE pool = 'org-3';
SELECT router_test.check('transaction_log', count(DISTINCT pool) >= 40) FROM credits.transaction_log;
SELECT router_test.check('monthly_summary', count(*) >= 40) FROM credits.monthly_summary;
SELECT router_test.check('verify on every partition: no problem', count(*) = 0) FROM credits.verify();
\echo calls.sql: all checks passed
