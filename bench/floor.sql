-- The floor: the fewest writes a charge must do, as ONE plain SQL statement
-- (data-modifying CTEs, no function call, no checks), on tables of credits'
-- shape in schema bench_floor (bench/tables.sql, same indexes):
--   1. update the pool found by its key (the lock every charge takes) and
--      draw the ledger entry id;
--   2. update the first usable live grant in FIFO order (found by the same
--      pool-scoped index scan a charge needs);
--   3. add the amount to the member's usage;
--   4. insert one ledger row (head and part in one).
-- No limit, access, idempotency or sufficiency check, no enrolment, no
-- balance, no multi-grant split: a lower bound, not a correct charge.
-- A pgbench script body: bench/run.sh puts \set lines for :pool, :member and
-- :amount in front of it (amount in credits, as for credits.charge).
WITH p AS (
	UPDATE bench_floor.pools SET version = version + 1
	 WHERE pool = 'p' || :pool
	RETURNING pool_id, nextval('bench_floor.ledger_entry_id_seq') AS entry_id
), g AS (
	UPDATE bench_floor.grants gr SET remaining = gr.remaining - (:amount::numeric * 1000000)::bigint
	  FROM p
	 WHERE gr.pool_id = p.pool_id
	   AND gr.grant_id = (SELECT f.grant_id FROM bench_floor.grants f
	                       WHERE f.pool_id = p.pool_id AND f.remaining >= (:amount::numeric * 1000000)::bigint
	                         AND f.voided_at IS NULL AND f.expired_at IS NULL AND f.effective_at <= now()
	                         AND (f.expires_at IS NULL OR f.expires_at > now())
	                         AND (f.member IS NULL OR f.member = 'u' || :member)
	                       ORDER BY f.rank, f.expires_at, f.effective_at, f.grant_id
	                       LIMIT 1)
	RETURNING gr.grant_id
), m AS (
	UPDATE bench_floor.members mb SET used = mb.used + (:amount::numeric * 1000000)::bigint
	  FROM p
	 WHERE mb.pool_id = p.pool_id AND mb.member = 'u' || :member
	RETURNING mb.used
)
INSERT INTO bench_floor.ledger (entry_id, pool_id, entry_type, member, grant_id, amount, charge_id, status,
                                feature, requested, member_used_after)
SELECT p.entry_id, p.pool_id, 'charge', 'u' || :member, g.grant_id, -(:amount::numeric * 1000000)::bigint,
       p.entry_id, 'succeeded', 'bench', (:amount::numeric * 1000000)::bigint, m.used
  FROM p, g, m
RETURNING entry_id, member_used_after;
