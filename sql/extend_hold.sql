-- extend_hold: a pending hold gets a new expiry now() + ttl; a hold that is
-- not pending (captured, released, lapsed) raises CR006; the pool-first
-- form names the pool.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('ext') > 0 AS created;
SELECT credits.grant('ext', 100) > 0 AS granted;
SELECT credits.reserve('ext', 'm', 10, '1 minute') AS hold \gset
BEGIN;
SELECT credits.extend_hold(:hold, '2 hours') = now() + interval '2 hours' AS extended;
SELECT expires_at = now() + interval '2 hours' AS stored FROM credits.hold_balances WHERE hold_id = :hold;
COMMIT;
-- shorter works too, and the pool lapses it in time
BEGIN;
SELECT credits.extend_hold('ext', :hold, '1 microsecond') = now() + interval '1 microsecond' AS shortened;
COMMIT;
SELECT credits.balance('ext') AS balance, count(*) AS pending FROM credits.hold_balances WHERE pool = 'ext';
SELECT code, regexp_replace(message, '\d+', 'N') AS message FROM regress.error_of(format('SELECT credits.extend_hold(%s, %L)', :hold, '1 hour'));
-- captured or released: CR006
SELECT credits.reserve('ext', 'm', 5) AS hold2 \gset
SELECT credits.release(:hold2) AS released;
SELECT code, regexp_replace(message, '\d+', 'N') AS message FROM regress.error_of(format('SELECT credits.extend_hold(%s, %L)', :hold2, '1 hour'));
-- bad input
SELECT credits.reserve('ext', 'm', 5) AS hold3 \gset
SELECT code, message FROM regress.error_of(format('SELECT credits.extend_hold(%s, %L)', :hold3, '0 seconds'));
SELECT code, message FROM regress.error_of(format('SELECT credits.extend_hold(%s, %L)', :hold3, '200 years'));
SELECT code, message FROM regress.error_of(format('SELECT credits.extend_hold(%s, NULL)', :hold3));
SELECT code, message FROM regress.error_of('SELECT credits.extend_hold(999999999, ''1 hour'')');
-- the pool-first form: an id of another pool is CR010
SELECT credits.create_pool('ext_other') > 0 AS created;
SELECT code, regexp_replace(message, '\d+', 'N') AS message FROM regress.error_of(format('SELECT credits.extend_hold(%L, %s, %L)', 'ext_other', :hold3, '1 hour'));
SELECT credits.extend_hold('ext', :hold3, '3 hours') > now() AS extended;
SELECT * FROM credits.verify();
