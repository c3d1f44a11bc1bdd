-- Holds: reserve, capture (full, partial, zero), release, expire_holds, the
-- lapse at once of a hold past its TTL, idempotency, member limits, the
-- deduction order, grants that expire or are voided while held, roles and
-- argument errors.
-- Ids and times differ between runs: ids are captured with \gset and never
-- printed; errors whose text names an id or a time go through
-- regress.masked_error_of, which masks them.
-- Each error is followed by \echo :LAST_ERROR_SQLSTATE (VERBOSITY verbose would
-- also print LOCATION lines, which change between PostgreSQL builds).
\set VERBOSITY default
\set SHOW_CONTEXT never

-- The ledger entries of one hold: its head and parts, and what settled it.
CREATE FUNCTION pg_temp.hold_entries(p_hold bigint)
RETURNS TABLE (entry_type text, kind text, amount numeric, held numeric, status text, reason text)
LANGUAGE sql AS $$
	SELECT l.entry_type, g.kind, credits._to_credits(l.amount), credits._to_credits(l.held), l.status, l.reason
	  FROM credits.ledger l
	  LEFT JOIN credits.grants g ON g.pool_id = l.pool_id AND g.grant_id = l.grant_id
	 WHERE l.hold_id = p_hold
	 ORDER BY l.entry_id;
$$;

-------------------------------------------------------------------------------
-- Reserve, then capture part (docs/holds.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('holds_acme', 'Acme Inc') > 0 AS created;
SELECT credits.grant('holds_acme', 20, 'free') > 0 AS granted;
SELECT credits.grant('holds_acme', 100, 'purchased') > 0 AS granted;

-- docs example: a hold of 50 for a video whose cost is not known yet
SELECT credits.reserve('holds_acme', 'alice', 50, ttl => '10 minutes', feature => 'video') AS hold_id \gset
SELECT credits.balance('holds_acme') AS pool, credits.balance('holds_acme', 'alice') AS alice;
SELECT available, held FROM credits.pool_balances WHERE pool = 'holds_acme';
SELECT kind, remaining, held, status FROM credits.grant_balances WHERE pool = 'holds_acme' ORDER BY grant_id;
SELECT member, used, held FROM credits.member_usage WHERE pool = 'holds_acme';

-- docs example: the video cost 30; the other 20 go back
SELECT status, charged, balance, member_used, replayed FROM credits.capture(:hold_id, 30);
SELECT kind, remaining, held, status FROM credits.grant_balances WHERE pool = 'holds_acme' ORDER BY grant_id;
SELECT member, used, held FROM credits.member_usage WHERE pool = 'holds_acme';
SELECT * FROM pg_temp.hold_entries(:hold_id);

-- docs example: the hold and its capture in the transaction log
SELECT operation, member, feature, credits, credit_kinds, status
  FROM credits.transaction_log WHERE pool = 'holds_acme' ORDER BY charge_id;

-- docs example: a settled hold cannot be settled again (CR006)
SELECT * FROM regress.masked_error_of(format('SELECT credits.capture(%s)', :hold_id));
SELECT * FROM regress.masked_error_of(format('SELECT credits.release(%s)', :hold_id));
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Full capture, release, zero
-------------------------------------------------------------------------------
-- capture with no amount takes all of it
SELECT credits.reserve('holds_acme', 'alice', 12.5) AS full_id \gset
SELECT status, charged, balance, member_used FROM credits.capture(:full_id);
SELECT * FROM pg_temp.hold_entries(:full_id);

-- docs example: release gives all of it back and returns the amount
SELECT credits.reserve('holds_acme', 'alice', 7) AS release_id \gset
SELECT credits.balance('holds_acme') AS while_held;
SELECT credits.release(:release_id) AS released;
SELECT credits.balance('holds_acme') AS after_release;
SELECT * FROM pg_temp.hold_entries(:release_id);
SELECT * FROM regress.masked_error_of(format('SELECT credits.release(%s)', :release_id));
SELECT * FROM regress.masked_error_of(format('SELECT credits.capture(%s, 1)', :release_id));

-- capturing 0 settles the hold and charges nothing (logged, like a free action)
SELECT credits.reserve('holds_acme', 'alice', 4) AS zero_id \gset
SELECT status, charged, balance, member_used FROM credits.capture(:zero_id, 0);
SELECT operation, credits, credit_kinds, status FROM credits.transaction_log
 WHERE pool = 'holds_acme' AND charge_id > :zero_id ORDER BY charge_id;

-- a hold of 0 is allowed too
SELECT credits.reserve('holds_acme', 'alice', 0) AS empty_id \gset
SELECT status, charged, member_used FROM credits.capture(:empty_id);

-- docs example: more than held is 22023, and the hold stays pending
SELECT credits.reserve('holds_acme', 'alice', 10) AS over_id \gset
SELECT * FROM regress.masked_error_of(format('SELECT credits.capture(%s, 10.000001)', :over_id));
SELECT status, charged FROM credits.capture(:over_id, 10.000000);

-- metadata: the capture's own, else the hold's
SELECT credits.reserve('holds_acme', 'alice', 1, metadata => '{"job": 1}') AS meta1 \gset
SELECT credits.reserve('holds_acme', 'alice', 1, metadata => '{"job": 2}') AS meta2 \gset
SELECT charge_id AS cap1 FROM credits.capture(:meta1) \gset
SELECT charge_id AS cap2 FROM credits.capture(:meta2, metadata => '{"job": 2, "frames": 90}') \gset
SELECT charge_id = :meta1 AS is_hold, charge_id = :cap1 AS is_capture, operation, metadata
  FROM credits.transaction_log WHERE charge_id IN (:meta1, :cap1) ORDER BY charge_id;
SELECT operation, metadata FROM credits.transaction_log WHERE charge_id = :cap2;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Idempotency: hold keys are the holds' own
-------------------------------------------------------------------------------
SELECT credits.create_pool('holds_keys') > 0 AS created;
SELECT credits.grant('holds_keys', 100) > 0 AS granted;
SELECT credits.reserve('holds_keys', 'bob', 10, feature => 'chat', idempotency_key => 'job-1') AS key_id \gset
SELECT count(*) AS entries_before FROM credits.ledger l JOIN credits.pools p USING (pool_id)
 WHERE p.pool = 'holds_keys' \gset
-- docs example: the same key again returns the same hold and holds nothing more
SELECT credits.reserve('holds_keys', 'bob', 10, feature => 'chat', idempotency_key => 'job-1') = :key_id AS same_hold;
SELECT count(*) = :entries_before AS nothing_new FROM credits.ledger l JOIN credits.pools p USING (pool_id)
 WHERE p.pool = 'holds_keys';
SELECT credits.balance('holds_keys') AS balance;
-- docs example: the same key with other arguments is CR005
SELECT credits.reserve('holds_keys', 'bob', 11, feature => 'chat', idempotency_key => 'job-1');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_keys', 'eve', 10, feature => 'chat', idempotency_key => 'job-1');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_keys', 'bob', 10, feature => 'image', idempotency_key => 'job-1');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_keys', 'bob', 10, idempotency_key => 'job-1');
\echo :LAST_ERROR_SQLSTATE
-- a charge with a hold's key is a charge of its own, and a hold with a
-- charge's key a hold of its own
SELECT status, charged, replayed FROM credits.charge('holds_keys', 'bob', 3, 'chat', 'job-1');
SELECT status, charged, replayed FROM credits.charge('holds_keys', 'bob', 3, 'chat', 'job-1');
SELECT credits.reserve('holds_keys', 'bob', 10, feature => 'chat', idempotency_key => 'job-1') = :key_id AS same_hold;
SELECT status, charged, replayed FROM credits.charge('holds_keys', 'bob', 2, NULL, 'charge-1');
SELECT credits.reserve('holds_keys', 'bob', 5, idempotency_key => 'charge-1') AS charge_key_hold \gset
SELECT :charge_key_hold <> :key_id AS new_hold, credits.balance('holds_keys') AS balance;
-- a settled hold replays too (the key stays used)
SELECT credits.release(:key_id) AS released;
SELECT credits.reserve('holds_keys', 'bob', 10, feature => 'chat', idempotency_key => 'job-1') = :key_id AS same_hold;
SELECT credits.balance('holds_keys') AS balance;
-- keys are per pool
SELECT credits.create_pool('holds_keys_other') > 0 AS created;
SELECT credits.grant('holds_keys_other', 10) > 0 AS granted;
SELECT credits.reserve('holds_keys_other', 'bob', 10, feature => 'chat', idempotency_key => 'job-1') <> :key_id AS new_hold;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Holds count against the pool and the member's limit at once
-------------------------------------------------------------------------------
SELECT credits.create_pool('holds_limits') > 0 AS created;
SELECT credits.grant('holds_limits', 100) > 0 AS granted;
SELECT credits.set_member_limit('holds_limits', 'carol', 50);
SELECT credits.reserve('holds_limits', 'carol', 40) AS limit_id \gset
-- docs example: remaining limit = limit - used - held
SELECT member, used, held, credit_limit, percent_used, remaining_limit
  FROM credits.member_usage WHERE pool = 'holds_limits';
SELECT credits.balance('holds_limits') AS pool, credits.balance('holds_limits', 'carol') AS carol;
-- docs example: the held credits are not there for a charge (CR002)
SELECT * FROM credits.charge('holds_limits', 'carol', 20);
\echo :LAST_ERROR_SQLSTATE
SELECT status, charged, balance, member_used FROM credits.try_charge('holds_limits', 'carol', 20);
SELECT credits.reserve('holds_limits', 'carol', 11);
\echo :LAST_ERROR_SQLSTATE
-- nor for another member: the pool has 60 left
SELECT credits.reserve('holds_limits', 'dan', 61);
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM credits.try_charge('holds_limits', 'dan', 61);
SELECT status, charged, balance FROM credits.charge('holds_limits', 'dan', 60);
SELECT credits.balance('holds_limits') AS pool;
-- capture frees the limit's rest
SELECT status, charged, balance, member_used FROM credits.capture(:limit_id, 15);
SELECT member, used, held, credit_limit, remaining_limit FROM credits.member_usage
 WHERE pool = 'holds_limits' AND member = 'carol';
-- a capture is not refused by a limit lowered (or access revoked) after the
-- hold was made: the credits were set aside already
SELECT credits.grant('holds_limits', 100) > 0 AS granted;
SELECT credits.reserve('holds_limits', 'carol', 30) AS late_id \gset
SELECT credits.set_member_limit('holds_limits', 'carol', 20);
SELECT credits.revoke_access('holds_limits', 'carol');
SELECT status, charged, member_used FROM credits.capture(:late_id);
SELECT member, used, held, credit_limit, remaining_limit, access FROM credits.member_usage
 WHERE pool = 'holds_limits' AND member = 'carol';
-- but a revoked member cannot reserve (CR003)
SELECT credits.reserve('holds_limits', 'carol', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.restore_access('holds_limits', 'carol');
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- A hold allocates in the deduction order of a charge
-------------------------------------------------------------------------------
SELECT credits.create_pool('holds_fifo') > 0 AS created;
SELECT credits.grant('holds_fifo', 10, 'purchased') > 0 AS granted;
SELECT credits.grant('holds_fifo', 10, 'plan', expires_at => now() + interval '30 days') > 0 AS granted;
SELECT credits.grant('holds_fifo', 10, 'promo', expires_at => now() + interval '60 days') > 0 AS granted;
SELECT credits.grant('holds_fifo', 10, 'promo', expires_at => now() + interval '20 days') > 0 AS granted;
SELECT credits.grant('holds_fifo', 10, 'free') > 0 AS granted;
SELECT credits.grant('holds_fifo', 10, 'free', member => 'erin') > 0 AS granted;
SELECT credits.grant('holds_fifo', 10, 'free', member => 'frank') > 0 AS granted;
SELECT credits.reserve('holds_fifo', 'erin', 45) AS fifo_id \gset
SELECT kind, member, expires_at IS NOT NULL AS expires, remaining, held
  FROM credits.grant_balances WHERE pool = 'holds_fifo' ORDER BY grant_id;
-- the kinds it holds, in deduction order (a hold has no transaction_log row)
SELECT kind, held FROM pg_temp.hold_entries(:fifo_id) WHERE entry_type = 'hold' AND kind IS NOT NULL;
-- a charge of the same member goes on where the hold stopped
SELECT status, charged FROM credits.charge('holds_fifo', 'erin', 10);
SELECT kind, member, remaining, held FROM credits.grant_balances WHERE pool = 'holds_fifo' ORDER BY grant_id;
-- frank may use his own grant and what the pool has left, not erin's
SELECT credits.balance('holds_fifo', 'frank') AS frank;
SELECT credits.reserve('holds_fifo', 'frank', 16);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.release(:fifo_id) AS released;
SELECT kind, member, remaining, held FROM credits.grant_balances WHERE pool = 'holds_fifo' ORDER BY grant_id;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Lapse at once (docs/holds.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('holds_lapse') > 0 AS created;
SELECT credits.grant('holds_lapse', 100) > 0 AS granted;
SELECT credits.set_member_limit('holds_lapse', 'gina', 50);
-- now() is the transaction's start: inside the transaction that made it, a
-- hold with a TTL of 1 microsecond is still pending
BEGIN;
SELECT credits.reserve('holds_lapse', 'gina', 30, ttl => '1 microsecond') AS lapse_id \gset
SELECT credits.balance('holds_lapse') AS pool, credits.balance('holds_lapse', 'gina') AS gina;
COMMIT;
-- docs example: from the next transaction on it has lapsed: balance() counts
-- its credits as available at once ...
SELECT credits.balance('holds_lapse') AS pool, credits.balance('holds_lapse', 'gina') AS gina;
-- ... while the views show it held until the next write on the pool
SELECT available, held FROM credits.pool_balances WHERE pool = 'holds_lapse';
SELECT member, used, held, remaining_limit FROM credits.member_usage WHERE pool = 'holds_lapse';
-- docs example: it can no longer be captured or released (CR006)
SELECT * FROM regress.masked_error_of(format('SELECT credits.capture(%s)', :lapse_id));
SELECT * FROM regress.masked_error_of(format('SELECT credits.release(%s)', :lapse_id));
-- the failed calls changed nothing
SELECT available, held FROM credits.pool_balances WHERE pool = 'holds_lapse';
-- a charge may use the lapsed credits and limit at once; being a write on
-- the pool, it records the lapse first
SELECT status, charged, balance, member_used FROM credits.charge('holds_lapse', 'gina', 50);
SELECT available, held FROM credits.pool_balances WHERE pool = 'holds_lapse';
SELECT member, used, held, remaining_limit FROM credits.member_usage WHERE pool = 'holds_lapse';
SELECT * FROM pg_temp.hold_entries(:lapse_id);
SELECT * FROM credits.verify();

-- a lapse that nothing has written yet: expire_holds records it
BEGIN;
SELECT credits.reserve('holds_lapse', 'hank', 20, ttl => '1 microsecond') AS lapse2_id \gset
COMMIT;
SELECT available, held FROM credits.pool_balances WHERE pool = 'holds_lapse';
CALL credits.expire_holds();
SELECT available, held FROM credits.pool_balances WHERE pool = 'holds_lapse';
SELECT member, used, held FROM credits.member_usage WHERE pool = 'holds_lapse' AND member = 'hank';
SELECT * FROM pg_temp.hold_entries(:lapse2_id);
SELECT * FROM credits.verify();

-- a reserve that finds an overdue hold lapses it first, and the pool then
-- expects the new hold's expiry next (the lapse recomputes it from the
-- pending holds, before the new one exists)
BEGIN;
SELECT credits.reserve('holds_lapse', 'hank', 5, ttl => '1 microsecond') AS lapse3_id \gset
COMMIT;
SELECT credits.reserve('holds_lapse', 'hank', 7, ttl => '1 hour') AS after_lapse_id \gset
SELECT old.status AS overdue_hold, new.status AS new_hold, p.next_hold_expiry = new.expires_at AS next_is_new_hold
  FROM credits.holds old, credits.holds new, credits.pools p
 WHERE old.hold_id = :lapse3_id AND new.hold_id = :after_lapse_id AND p.pool = 'holds_lapse';
SELECT credits.release(:after_lapse_id) AS released;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- expire_holds(as_of) (docs/holds.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('holds_ttl') > 0 AS created;
SELECT credits.grant('holds_ttl', 100) > 0 AS granted;
SELECT credits.reserve('holds_ttl', 'ivan', 10) AS ttl15 \gset
SELECT credits.reserve('holds_ttl', 'ivan', 5, ttl => '2 hours') AS ttl120 \gset
-- docs example: as of one hour from now, the 15-minute hold has lapsed
CALL credits.expire_holds(now() + interval '1 hour');
SELECT available, held FROM credits.pool_balances WHERE pool = 'holds_ttl';
SELECT * FROM regress.masked_error_of(format('SELECT credits.capture(%s)', :ttl15));
SELECT credits.release(:ttl120) AS released;
-- nothing left to do: a second run changes nothing
SELECT count(*) AS entries_before FROM credits.ledger l JOIN credits.pools p USING (pool_id)
 WHERE p.pool = 'holds_ttl' \gset
CALL credits.expire_holds(now() + interval '1 day');
SELECT count(*) = :entries_before AS nothing_new FROM credits.ledger l JOIN credits.pools p USING (pool_id)
 WHERE p.pool = 'holds_ttl';
-- inside a transaction block it does all its work in that transaction
BEGIN;
SELECT credits.reserve('holds_ttl', 'ivan', 8) AS ttl_tx \gset
CALL credits.expire_holds(now() + interval '16 minutes');
SELECT available, held FROM credits.pool_balances WHERE pool = 'holds_ttl';
ROLLBACK;
SELECT available, held FROM credits.pool_balances WHERE pool = 'holds_ttl';
CALL credits.expire_holds(NULL);
\echo :LAST_ERROR_SQLSTATE
-- an as_of in a later month lapses holds, but the member's usage stays in
-- the current period
SELECT credits.set_member_limit('holds_ttl', 'jim', 50);
SELECT status, member_used FROM credits.charge('holds_ttl', 'jim', 30);
SELECT credits.reserve('holds_ttl', 'jim', 5) > 0 AS reserved;
CALL credits.expire_holds(now() + interval '40 days');
SELECT member, used, held, remaining_limit FROM credits.member_usage WHERE pool = 'holds_ttl' AND member = 'jim';
SELECT credits.balance('holds_ttl', 'jim') AS jim;
SELECT * FROM credits.charge('holds_ttl', 'jim', 45);
\echo :LAST_ERROR_SQLSTATE
-- nor does it expire what lapsed holds give back to a grant still live now
SELECT credits.create_pool('holds_ttl_live') > 0 AS created;
SELECT credits.grant('holds_ttl_live', 10, 'promo', expires_at => now() + interval '2 hours') > 0 AS granted;
SELECT credits.reserve('holds_ttl_live', 'jim', 10) > 0 AS reserved;
CALL credits.expire_holds(now() + interval '1 day');
SELECT kind, remaining, held, status FROM credits.grant_balances WHERE pool = 'holds_ttl_live';
SELECT credits.balance('holds_ttl_live') AS balance;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- A grant that expires while held (docs/holds.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('holds_expiry') > 0 AS created;
BEGIN;
SELECT credits.grant('holds_expiry', 30, 'promo', expires_at => now() + interval '1 microsecond') AS promo_id \gset
SELECT credits.grant('holds_expiry', 100, 'purchased') > 0 AS granted;
SELECT credits.reserve('holds_expiry', 'jane', 50, ttl => '1 hour') AS expiry_id \gset
COMMIT;
-- docs example: the promo grant has expired with 30 of it held
SELECT kind, remaining, held, status FROM credits.grant_balances WHERE pool = 'holds_expiry' ORDER BY grant_id;
SELECT credits.balance('holds_expiry') AS balance;
-- expire_grants leaves the held part with its hold
CALL credits.expire_grants();
SELECT kind, remaining, held, status FROM credits.grant_balances WHERE pool = 'holds_expiry' ORDER BY grant_id;
-- docs example: the hold may still be captured; what is released from the
-- expired grant expires at once
SELECT status, charged, balance, member_used FROM credits.capture(:expiry_id, 20);
SELECT kind, remaining, held, status FROM credits.grant_balances WHERE pool = 'holds_expiry' ORDER BY grant_id;
SELECT * FROM pg_temp.hold_entries(:expiry_id);
SELECT * FROM credits.verify();

-- the same when such a hold is released, or lapses
BEGIN;
SELECT credits.grant('holds_expiry', 10, 'promo', expires_at => now() + interval '1 microsecond') AS promo2_id \gset
SELECT credits.reserve('holds_expiry', 'jane', 10) AS expiry_release \gset
SELECT credits.grant('holds_expiry', 10, 'promo', expires_at => now() + interval '1 microsecond') AS promo3_id \gset
SELECT credits.reserve('holds_expiry', 'jane', 10, ttl => '5 minutes') AS expiry_lapse \gset
COMMIT;
SELECT credits.release(:expiry_release) AS released;
SELECT * FROM pg_temp.hold_entries(:expiry_release);
CALL credits.expire_holds(now() + interval '10 minutes');
SELECT * FROM pg_temp.hold_entries(:expiry_lapse);
SELECT kind, remaining, held, status FROM credits.grant_balances WHERE pool = 'holds_expiry' ORDER BY grant_id;
SELECT credits.balance('holds_expiry') AS balance;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- A grant voided while held
-------------------------------------------------------------------------------
SELECT credits.create_pool('holds_void') > 0 AS created;
SELECT credits.grant('holds_void', 100) AS void_grant \gset
SELECT credits.grant('holds_void', 50, 'free', member => 'kim') > 0 AS granted;
SELECT credits.reserve('holds_void', 'kim', 80) AS void_hold \gset
-- void_grant removes what remains, not what is held
SELECT credits.void_grant(:void_grant, 'chargeback') AS voided;
SELECT kind, remaining, held, status FROM credits.grant_balances WHERE pool = 'holds_void' ORDER BY grant_id;
SELECT credits.balance('holds_void') AS pool, credits.balance('holds_void', 'kim') AS kim;
-- the hold may still be captured; the released part is voided at once
SELECT status, charged, balance, member_used FROM credits.capture(:void_hold, 60);
SELECT * FROM pg_temp.hold_entries(:void_hold);
SELECT kind, remaining, held, status FROM credits.grant_balances WHERE pool = 'holds_void' ORDER BY grant_id;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Argument errors
-------------------------------------------------------------------------------
SELECT credits.create_pool('holds_args') > 0 AS created;
SELECT credits.grant('holds_args', 10) > 0 AS granted;
SELECT credits.reserve(NULL, 'x', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_args', NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_args', 'x', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_args', 'x', 1, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_args', 'x', 1, '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_args', 'x', 1, '-1 minute');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_args', 'x', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_args', 'x', 'NaN');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_args', 'x', 'Infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_args', 'x', 1.0000001);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_args', 'x', 1000000000001);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_args', 'x', 10.000001);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_nowhere', 'x', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.capture(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.release(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.capture(-1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.release(-1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.reserve('holds_args', 'x', 5) AS args_id \gset
SELECT credits.capture(:args_id, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.capture(:args_id, 'NaN');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.capture(:args_id, 1.0000001);
\echo :LAST_ERROR_SQLSTATE
-- a charge id is not a hold id
SELECT charge_id AS args_charge FROM credits.charge('holds_args', 'x', 1) \gset
SELECT * FROM regress.masked_error_of(format('SELECT credits.capture(%s)', :args_charge));
-- the failed calls left the hold pending and nothing else held
SELECT available, held FROM credits.pool_balances WHERE pool = 'holds_args';
SELECT credits.release(:args_id) AS released;
SELECT member, used, held FROM credits.member_usage WHERE pool = 'holds_args';
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Roles
-------------------------------------------------------------------------------
SELECT credits.create_pool('holds_roles') > 0 AS created;
SELECT credits.grant('holds_roles', 100) > 0 AS granted;
SELECT credits.reserve('holds_roles', 'lee', 5) AS roles_id \gset
CREATE ROLE holds_nobody;

SET ROLE credits_app;
SELECT credits.reserve('holds_roles', 'lee', 10) AS app_id \gset
SELECT status, charged FROM credits.capture(:app_id, 4);
SELECT credits.reserve('holds_roles', 'lee', 10) AS app_id \gset
SELECT credits.release(:app_id) AS released;
SELECT credits.balance('holds_roles') AS balance;
CALL credits.expire_holds();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM credits.holds;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

SET ROLE credits_reader;
SELECT credits.reserve('holds_roles', 'lee', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.capture(:roles_id);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.release(:roles_id);
\echo :LAST_ERROR_SQLSTATE
CALL credits.expire_holds();
\echo :LAST_ERROR_SQLSTATE
SELECT available, held FROM credits.pool_balances WHERE pool = 'holds_roles';
RESET ROLE;

SET ROLE holds_nobody;
SELECT credits.reserve('holds_roles', 'lee', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.capture(-1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.release(-1);
\echo :LAST_ERROR_SQLSTATE
CALL credits.expire_holds();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

SET ROLE credits_owner;
CALL credits.expire_holds();
SELECT status, charged FROM credits.capture(:roles_id);
RESET ROLE;

-- the ledger records who acted
SELECT operation, CASE WHEN actor = session_user THEN '(session user)' ELSE actor END AS actor, credits
  FROM credits.transaction_log WHERE pool = 'holds_roles' ORDER BY charge_id;
SELECT * FROM credits.verify();
DROP ROLE holds_nobody;
