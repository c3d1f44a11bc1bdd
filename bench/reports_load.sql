-- Data for bench/reports.sh, written in bulk straight into credits' tables
-- (the rows credits.create_pool, credits.grant and credits.charge would
-- write, so credits.verify() holds): :pools pools p1 .. pN, each with
--   24 purchased grants of 1,000,000 credits, one every 1/24 of the last 730
--   days (the ledger's 'grant' entry at its effective_at);
--   :rows_per_pool - 24 succeeded charges of 1 credit (members u1 .. u4 in
--   turn, feature 'bench'), evenly spread over the last 730 days, each taken
--   from the latest grant already effective; the charges of all pools are
--   interleaved in time order, as in a shared ledger (one pool's entries lie
--   on as many heap pages as it has entries);
--   members u1 .. u4 whose usage is their charges of the current month;
--   remaining of each grant = its amount - its charges (closed form).
-- Ledger rows: :pools * :rows_per_pool.
-- psql -v pools=10000 -v rows_per_pool=1000 -f bench/reports_load.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
CREATE TEMP TABLE params ON COMMIT DROP AS
SELECT now() - interval '730 days' AS t0, interval '730 days' AS span,
       :rows_per_pool - 24 AS c, :pools AS pools;
INSERT INTO credits.pools (pool) SELECT 'p' || i FROM generate_series(1, :pools) i ORDER BY i;
-- grant k of pool p: grant_id = (p - 1) * 24 + k + 1
INSERT INTO credits.grants (pool_id, grant_id, kind, rank, amount, remaining, effective_at, created_at)
SELECT p, (p - 1) * 24 + k + 1, 'purchased', credits._kind_rank('purchased'), 1000000000000,
       1000000000000 - 1000000 * ((((k + 1) * x.c + 23) / 24) - ((k * x.c + 23) / 24)),
       x.t0 + k * (x.span / 24), x.t0 + k * (x.span / 24)
  FROM params x, generate_series(1, :pools) p, generate_series(0, 23) k
 ORDER BY k, p;
SELECT FROM setval('credits.grant_id_seq', (SELECT max(grant_id) FROM credits.grants));
INSERT INTO credits.ledger (pool_id, at, entry_type, grant_id, amount)
SELECT g.pool_id, g.effective_at, 'grant', g.grant_id, g.amount FROM credits.grants g ORDER BY g.effective_at, g.pool_id;
-- charge j of every pool, in time order (j outer, pools inner: the LATERAL
-- fixes the order); grant k = j * 24 / c; a charge's head row is its own
-- charge (charge_id = entry_id)
INSERT INTO credits.ledger (entry_id, pool_id, at, entry_type, member, grant_id, amount, charge_id, status, feature,
                            requested, balance_after, member_used_after)
SELECT e, p, at, 'charge', member, grant_id, -1000000, e, 'succeeded', 'bench', 1000000, 0, 0
  FROM (SELECT nextval('credits.ledger_entry_id_seq') AS e, p, x.t0 + (j + 0.5) * (x.span / x.c) AS at,
               'u' || (j % 4 + 1) AS member, (p - 1) * 24 + (j * 24 / x.c) + 1 AS grant_id
          FROM params x
         CROSS JOIN LATERAL generate_series(0, x.c - 1) j
         CROSS JOIN LATERAL generate_series(1, x.pools + 0 * j) p) s;
-- members: usage = their charges of the current month
INSERT INTO credits.members (pool_id, member, period_start, used)
SELECT p.pool_id, 'u' || m, credits._period_start('month', now()), coalesce(u.used, 0)
  FROM credits.pools p
 CROSS JOIN generate_series(1, 4) m
  LEFT JOIN (SELECT l.pool_id, l.member, -sum(l.amount) AS used
               FROM credits.ledger l
              WHERE l.entry_type = 'charge' AND l.at >= credits._period_start('month', now())
              GROUP BY 1, 2) u ON u.pool_id = p.pool_id AND u.member = 'u' || m;
COMMIT;
