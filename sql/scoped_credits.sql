-- Scoped credits: grant(..., features) makes credits usable only by charges
-- and holds for one of those features. Among the grants a charge may use,
-- the deduction order is unchanged; a charge without a feature cannot use
-- scoped credits.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('scoped') > 0 AS created;
-- 30 free credits for video only, 20 plan credits for anything, 10
-- purchased for video or image
SELECT credits.grant('scoped', 30, 'free', features => ARRAY['video']) AS video_free \gset
SELECT credits.grant('scoped', 20, 'plan') AS plan \gset
SELECT credits.grant('scoped', 10, 'purchased', features => ARRAY['image', 'video']) AS media \gset
SELECT kind, remaining, features FROM credits.grant_balances WHERE pool = 'scoped' ORDER BY grant_id;

-- the pool's total counts every grant; a member's or a feature's only what
-- a charge by it could take
SELECT credits.balance('scoped') AS pool_total,
       credits.balance('scoped', 'ann') AS ann_no_feature,
       credits.balance('scoped', 'ann', 'video') AS ann_video,
       credits.balance('scoped', NULL, 'image') AS image,
       credits.balance('scoped', NULL, 'text') AS text;

-- a video charge takes the video credits first (free, then plan, then
-- purchased: the usual order among the usable ones)
SELECT status, charged, balance FROM credits.charge('scoped', 'ann', 35, 'video');
SELECT g.kind, -l.amount / 1000000 AS taken
  FROM credits.ledger l JOIN credits.grants g USING (pool_id, grant_id)
 WHERE l.pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'scoped') AND l.entry_type = 'charge'
 ORDER BY l.entry_id;
-- a text charge may use only the plan credits (15 left)
SELECT status, charged FROM credits.try_charge('scoped', 'ann', 16, 'text');
SELECT status, charged FROM credits.charge('scoped', 'ann', 15, 'text');
-- without a feature nothing is left for it; image can still use 10
SELECT status, reason FROM credits.try_charge('scoped', 'bob', 1);
SELECT credits.balance('scoped', 'bob') AS bob, credits.balance('scoped', 'bob', 'image') AS bob_image;
-- a hold for image takes the scoped purchased credits
SELECT credits.reserve('scoped', 'bob', 4, interval '1 hour', 'image') > 0 AS held;
SELECT kind, remaining, held FROM credits.grant_balances WHERE pool = 'scoped' ORDER BY grant_id;
-- charge_many decides each event with its own feature
SELECT ord, status, charged FROM credits.charge_many(ARRAY['scoped', 'scoped', 'scoped'], ARRAY['cy', 'cy', 'cy'],
                                                    ARRAY[1, 1, 1]::numeric[], ARRAY['text', 'image', NULL]);

-- a retried grant compares its features as a set
SELECT credits.grant('scoped', 5, features => ARRAY['b', 'a'], idempotency_key => 'g1') AS g1 \gset
SELECT credits.grant('scoped', 5, features => ARRAY['a', 'b', 'a'], idempotency_key => 'g1') = :g1 AS replayed;
SELECT features FROM credits.grant_balances WHERE grant_id = :g1;
SELECT code, message FROM regress.error_of($$SELECT credits.grant('scoped', 5, features => ARRAY['a'], idempotency_key => 'g1')$$);
SELECT code, message FROM regress.error_of($$SELECT credits.grant('scoped', 5, idempotency_key => 'g1')$$);

-- bad features
SELECT code, message FROM regress.error_of($$SELECT credits.grant('scoped', 5, features => ARRAY[]::text[])$$);
SELECT code, message FROM regress.error_of($$SELECT credits.grant('scoped', 5, features => ARRAY['video', NULL])$$);
SELECT code, message FROM regress.error_of($$SELECT credits.grant('scoped', 5, features => ARRAY[''])$$);
SELECT code, message FROM regress.error_of($$SELECT credits.balance('scoped', NULL, '')$$);
SELECT * FROM credits.verify();
