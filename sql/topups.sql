-- Auto top-up requests: set_auto_topup, remove_auto_topup,
-- cancel_topup_request. A request is opened when a transaction that leaves
-- the pool below the threshold commits (a rollback opens nothing), at most
-- one open per pool; a purchased grant with the request's key settles it.
-- (The NOTIFY payload is checked by test/stress/topup_notify.sh and
-- test/isolation/specs/topup_request.spec.)
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('tu', settings => '{"topup_increment": 10}') > 0 AS created;
SELECT credits.grant('tu', 100) > 0 AS granted;
SELECT credits.set_auto_topup('tu', 50, 100);
SELECT count(*) AS requests FROM credits.topup_requests WHERE pool = 'tu';
-- a charge that stays above the threshold asks nothing
SELECT balance FROM credits.charge('tu', 'alice', 40);
SELECT count(*) AS requests FROM credits.topup_requests WHERE pool = 'tu';
-- a rolled-back drop asks nothing
BEGIN;
SELECT balance FROM credits.charge('tu', 'alice', 20);
ROLLBACK;
SELECT count(*) AS requests FROM credits.topup_requests WHERE pool = 'tu';
-- the drop below 50 commits: one request of 100, with a key
SELECT balance FROM credits.charge('tu', 'alice', 20);
SELECT pool, amount, status, idempotency_key = 'topup-' || request_id AS keyed, at <= now() AS dated
  FROM credits.topup_requests WHERE pool = 'tu';
SELECT request_id AS req, idempotency_key AS req_key FROM credits.topup_requests WHERE pool = 'tu' \gset
-- further charges below the threshold: still one open request
SELECT balance FROM credits.charge('tu', 'alice', 5);
SELECT count(*) AS requests FROM credits.topup_requests WHERE pool = 'tu';
-- the application pays and grants with the request's key: settled
SELECT credits.grant('tu', 100, 'purchased', idempotency_key => :'req_key') AS topup_grant \gset
SELECT status, grant_id = :topup_grant AS by_the_grant, closed_at IS NOT NULL AS closed
  FROM credits.topup_requests WHERE request_id = :req;
SELECT credits.balance('tu') AS balance;
-- a retried payment is the same grant; the request stays settled
SELECT credits.grant('tu', 100, 'purchased', idempotency_key => :'req_key') = :topup_grant AS same_grant;
-- dropping below again opens a new request; cancelled, it is not asked
-- again until the credits recover and drop again
SELECT balance FROM credits.charge('tu', 'alice', 100);
SELECT request_id AS req2 FROM credits.topup_requests WHERE pool = 'tu' AND status = 'open' \gset
SELECT credits.cancel_topup_request(:req2);
SELECT credits.cancel_topup_request(:req2);  -- cancelled already: nothing to do
SELECT balance FROM credits.charge('tu', 'alice', 1);
SELECT status, count(*) FROM credits.topup_requests WHERE pool = 'tu' GROUP BY status ORDER BY status;
SELECT credits.grant('tu', 100) > 0 AS recovered;
SELECT balance FROM credits.charge('tu', 'alice', 100);
SELECT status, count(*) FROM credits.topup_requests WHERE pool = 'tu' GROUP BY status ORDER BY status;
-- errors
SELECT code, message FROM regress.error_of($$SELECT credits.set_auto_topup('tu', 50, 15)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.set_auto_topup('tu', 50, 0)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.set_auto_topup('tu', -1, 10)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.set_auto_topup('tu', NULL, 10)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.set_auto_topup('nope', 50, 10)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.remove_auto_topup('nope')$$);
SELECT code, message FROM regress.error_of($$SELECT credits.cancel_topup_request(999999999)$$);
SELECT code, message FROM regress.error_of($$SELECT credits.cancel_topup_request(NULL)$$);
SELECT code, regexp_replace(message, '\d+', '<id>') AS message
  FROM regress.error_of(format('SELECT credits.cancel_topup_request(%s)', :req));
-- set on a pool already below: asked at once (at commit)
SELECT credits.create_pool('tu_low') > 0 AS created;
SELECT credits.set_auto_topup('tu_low', 10, 25);
SELECT pool, amount, status FROM credits.topup_requests WHERE pool = 'tu_low';
-- cancelled, then removed: nothing more is asked
SELECT credits.cancel_topup_request(request_id) FROM credits.topup_requests WHERE pool = 'tu_low';
SELECT credits.remove_auto_topup('tu_low');
SELECT credits.grant('tu_low', 5) > 0 AS granted;
SELECT credits.grant('tu_low', 50) > 0 AS granted;
SELECT balance FROM credits.charge('tu_low', 'bob', 54);
SELECT pool, amount, status FROM credits.topup_requests WHERE pool = 'tu_low';
SELECT topup_below, topup_amount FROM credits.pools WHERE pool IN ('tu', 'tu_low') ORDER BY pool;
SELECT * FROM credits.verify();
