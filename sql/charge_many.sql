-- charge_many: each event as try_charge would decide it, in array order;
-- refusals are statuses, replays are replayed; any other error aborts the
-- whole call, which then changes nothing; rows come back in ord order.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('many_a') > 0 AS created;
SELECT credits.create_pool('many_b') > 0 AS created;
SELECT credits.grant('many_a', 10, 'free') > 0 AS granted;
SELECT credits.grant('many_a', 90, 'purchased') > 0 AS granted;
SELECT credits.grant('many_b', 20) > 0 AS granted;
SELECT credits.set_member_limit('many_a', 'carol', 15);
SELECT credits.revoke_access('many_b', 'dave');

-- one call over two pools; the events see what the earlier ones took
SELECT ord, status, charged, balance, member_used, replayed, reason
  FROM credits.charge_many(ARRAY['many_a', 'many_b', 'many_a', 'many_a', 'many_b', 'many_a', 'many_b'],
                           ARRAY['alice', 'bob', 'carol', 'carol', 'dave', 'alice', 'bob'],
                           ARRAY[12, 5, 10, 10, 1, 0, 16],
                           ARRAY['image', NULL, 'chat', 'chat', NULL, NULL, 'video']);
SELECT credits.balance('many_a') AS a, credits.balance('many_b') AS b,
       credits.balance('many_a', 'carol') AS carol;
-- every attempt is in the transaction log, like try_charge's, with the kinds it took
SELECT pool, member, feature, credits, credit_kinds, status FROM credits.transaction_log
 WHERE pool IN ('many_a', 'many_b') ORDER BY charge_id;
SELECT * FROM credits.verify();

-- a charge that spans two grants
SELECT credits.create_pool('many_span') > 0 AS created;
SELECT credits.grant('many_span', 3, 'free') > 0 AS granted;
SELECT credits.grant('many_span', 10, 'purchased') > 0 AS granted;
SELECT ord, status, charged, balance FROM credits.charge_many(ARRAY['many_span', 'many_span'], ARRAY['m', 'm'],
                                                               ARRAY[5, 9]);
SELECT kind, remaining FROM credits.grant_balances WHERE pool = 'many_span' ORDER BY kind;
SELECT credit_kinds, status FROM credits.transaction_log WHERE pool = 'many_span' ORDER BY charge_id;

-- idempotency: a key charged before is a replay; a key used twice in one
-- call charges once; a refused attempt does not consume its key
SELECT status, charged FROM credits.charge('many_a', 'erin', 1, idempotency_key => 'k-1');
SELECT ord, status, charged, replayed, balance
  FROM credits.charge_many(ARRAY['many_a', 'many_a', 'many_a', 'many_a', 'many_a'],
                           ARRAY['erin', 'erin', 'erin', 'frank', 'frank'],
                           ARRAY[1, 2, 2, 500, 3],
                           idempotency_keys => ARRAY['k-1', 'k-2', 'k-2', 'k-3', 'k-3']);
SELECT count(*) AS charges_keyed FROM credits.ledger l JOIN credits.pools p USING (pool_id)
 WHERE p.pool = 'many_a' AND l.idempotency_key IS NOT NULL AND l.status = 'succeeded';
-- replaying the whole call changes nothing
SELECT ord, status, charged, replayed FROM credits.charge_many(ARRAY['many_a', 'many_a'], ARRAY['erin', 'frank'],
                                                                ARRAY[2, 3], idempotency_keys => ARRAY['k-2', 'k-3']);

-- metadata and features per event, NULL elements allowed
SELECT ord, status FROM credits.charge_many(ARRAY['many_b'], ARRAY['bob'], ARRAY[1], ARRAY[NULL]::text[],
                                            ARRAY[NULL]::text[], ARRAY['{"job": 7}'::jsonb]);
SELECT metadata FROM credits.transaction_log WHERE pool = 'many_b' ORDER BY charge_id DESC LIMIT 1;

-- no events: no rows
SELECT count(*) FROM credits.charge_many(ARRAY[]::text[], ARRAY[]::text[], ARRAY[]::numeric[]);

-- errors abort the whole call: nothing of it is recorded
SELECT credits.balance('many_a') AS before;
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.charge_many(ARRAY['many_a', 'many_nowhere'], ARRAY['x', 'y'], ARRAY[1, 1])$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.charge_many(ARRAY['many_a', 'many_a'], ARRAY['x', 'y'], ARRAY[1])$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.charge_many(ARRAY['many_a'], ARRAY['x'], ARRAY[1], features => ARRAY['a', 'b'])$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.charge_many(ARRAY['many_a', 'many_a'], ARRAY['x', NULL], ARRAY[1, 1])$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.charge_many(ARRAY['many_a', 'many_a'], ARRAY['x', 'y'], ARRAY[1, -1])$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.charge_many(ARRAY['many_a', 'many_a'], ARRAY['x', 'y'], ARRAY[1, 0.0000001])$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.charge_many(NULL, ARRAY['x'], ARRAY[1])$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.charge_many(ARRAY['many_a'], ARRAY[''], ARRAY[1])$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.charge_many(ARRAY['many_a', 'many_a'], ARRAY['x', 'y'], ARRAY[1, 1], idempotency_keys => ARRAY['k-9', 'k-1'])$$);
SELECT code, message FROM regress.error_of($$SELECT * FROM credits.charge_many(ARRAY[['many_a']], ARRAY[['x']], ARRAY[[1]])$$);
SELECT credits.balance('many_a') AS after;
SELECT count(*) AS members_x_y FROM credits.member_usage WHERE pool = 'many_a' AND member IN ('x', 'y');

-- frequency caps count the call's own earlier events
SELECT credits.create_pool('many_cap') > 0 AS created;
SELECT credits.grant('many_cap', 100) > 0 AS granted;
SELECT credits.set_frequency_cap('many_cap', 'image', 2, '1 hour');
SELECT status FROM credits.charge('many_cap', 'gina', 1, 'image');
SELECT ord, status, reason FROM credits.charge_many(ARRAY['many_cap', 'many_cap', 'many_cap'], ARRAY['gina', 'gina', 'hal'],
                                                    ARRAY[1, 1, 1], ARRAY['image', 'image', 'image']);

-- a hold past its TTL is lapsed first; a pending hold's credits are not available
SELECT credits.create_pool('many_hold') > 0 AS created;
SELECT credits.grant('many_hold', 10) > 0 AS granted;
SELECT credits.reserve('many_hold', 'ivy', 8, ttl => '1 microsecond') > 0 AS lapsing;
SELECT credits.reserve('many_hold', 'jo', 2, ttl => '1 hour') > 0 AS pending;
SELECT ord, status, charged, balance FROM credits.charge_many(ARRAY['many_hold', 'many_hold'], ARRAY['ivy', 'kim'],
                                                               ARRAY[5, 4]);
SELECT * FROM credits.verify();

-- roles: credits_app may call it
SET ROLE credits_app;
SELECT count(*) FROM credits.charge_many(ARRAY['many_b'], ARRAY['bob'], ARRAY[1]);
RESET ROLE;
