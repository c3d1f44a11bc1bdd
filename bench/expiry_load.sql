-- Data for bench/expiry.sh, written in bulk straight into credits' tables
-- (what credits.create_pool / credits.grant would write, so verify() holds):
--   :pools pools p1 .. pN, each with :members members u1 .. uM (no limit)
--   and one live purchased grant of 10^9 credits (what the charges spend);
--   :expired promo grants of 1 credit each, spread round-robin over the
--   pools, effective 60 days ago, with expires_at spread over the last 30
--   days (neighbours in expiry order belong to different pools),
--   not yet expired by expire_grants;
--   one 'grant' ledger entry per grant.
-- psql -v pools=10000 -v members=4 -v expired=1000000 -f bench/expiry_load.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
INSERT INTO credits.pools (pool) SELECT 'p' || i FROM generate_series(1, :pools) i ORDER BY i;
INSERT INTO credits.members (pool_id, member, period_start)
SELECT p.pool_id, 'u' || m, credits._period_start('month', now())
  FROM credits.pools p, generate_series(1, :members) m ORDER BY 1, 2;
INSERT INTO credits.grants (pool_id, kind, rank, amount, remaining, effective_at, expires_at, created_at)
SELECT p.pool_id, 'purchased', credits._kind_rank('purchased'), 1000000000000000, 1000000000000000,
       now() - interval '61 days', NULL, now() - interval '61 days'
  FROM credits.pools p ORDER BY p.pool_id;
INSERT INTO credits.grants (pool_id, kind, rank, amount, remaining, effective_at, expires_at, created_at)
SELECT (i % :pools) + 1, 'promo', r.rank, 1000000, 1000000,
       now() - interval '60 days',
       -- a permutation of the grants over 30 days: neighbours in expiry order
       -- belong to different pools
       now() - interval '1 hour' - ((i::bigint * 7919) % :expired) * (interval '30 days' / :expired),
       now() - interval '60 days'
  FROM generate_series(0, :expired - 1) i, (SELECT credits._kind_rank('promo') AS rank) r;
INSERT INTO credits.ledger (pool_id, at, entry_type, grant_id, amount)
SELECT g.pool_id, g.created_at, 'grant', g.grant_id, g.amount FROM credits.grants g ORDER BY g.grant_id;
COMMIT;
VACUUM (ANALYZE) credits.pools, credits.members, credits.grants, credits.ledger;
