-- Pool-first forms: capture, release, refund and void_grant naming the pool
-- first (for a router); an id of another pool is CR010.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('pf_a') > 0 AS created;
SELECT credits.create_pool('pf_b') > 0 AS created;
SELECT credits.grant('pf_a', 100) AS grant_a \gset
SELECT credits.grant('pf_b', 100) AS grant_b \gset
SELECT credits.reserve('pf_a', 'm', 10) AS hold_a \gset
SELECT credits.reserve('pf_a', 'm', 5) AS hold_a2 \gset
SELECT credits.reserve('pf_b', 'm', 10) AS hold_b \gset
SELECT charge_id AS charge_a FROM credits.charge('pf_a', 'm', 20) \gset

SELECT status, charged FROM credits.capture('pf_a', :hold_a, 4);
SELECT credits.release('pf_a', :hold_a2) AS released;
SELECT credits.refund('pf_a', :charge_a, 5) AS refunded;
SELECT credits.void_grant('pf_a', :grant_a, 'chargeback') AS voided;
SELECT credits.balance('pf_a') AS a, credits.balance('pf_b') AS b;

-- an id of another pool, or of nothing (ids shown as N)
SELECT t.call, e.code, regexp_replace(e.message, '\d+', 'N', 'g') AS message
  FROM (VALUES (1, 'capture', format('SELECT credits.capture(%L, %s)', 'pf_a', :hold_b)),
               (2, 'release', format('SELECT credits.release(%L, %s)', 'pf_b', :hold_a)),
               (3, 'refund', format('SELECT credits.refund(%L, %s)', 'pf_b', :charge_a)),
               (4, 'void_grant', format('SELECT credits.void_grant(%L, %s)', 'pf_a', :grant_b)),
               (5, 'void_grant', format('SELECT credits.void_grant(%L, %s)', 'pf_nowhere', :grant_b)),
               (6, 'release', 'SELECT credits.release(''pf_a'', NULL::bigint)')) AS t (n, call, statement)
  LEFT JOIN LATERAL regress.error_of(t.statement) e ON true
 ORDER BY t.n;
-- nothing changed in pf_b
SELECT credits.balance('pf_b') AS b, (SELECT status FROM credits.holds WHERE hold_id = :hold_b) AS hold_b;
SELECT * FROM credits.verify();
