-- Frequency caps per window and scope: several caps on one feature, one per
-- (window, scope); scope member counts each member's calls, scope pool all
-- members' calls together. Every cap that applies is checked; the first
-- that fires (member caps first, then shorter windows first) is named.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits.create_pool('caps2') > 0 AS created;
SELECT credits.grant('caps2', 1000) > 0 AS granted;
SELECT credits.set_frequency_cap('caps2', 'video', 2, interval '1 minute');
SELECT credits.set_frequency_cap('caps2', 'video', 3, interval '1 hour', 'pool');
SELECT feature, max_calls, per, scope FROM credits.frequency_caps
 WHERE pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'caps2') ORDER BY scope, per;
SELECT status FROM credits.charge('caps2', 'ann', 1, 'video');
SELECT status FROM credits.charge('caps2', 'ann', 1, 'video');
-- ann's own cap fires first
SELECT status, reason FROM credits.try_charge('caps2', 'ann', 1, 'video');
SELECT status FROM credits.charge('caps2', 'bob', 1, 'video');
-- the pool's cap: three calls an hour, whoever makes them
SELECT status, reason FROM credits.try_charge('caps2', 'cy', 1, 'video');
SELECT code, message FROM regress.error_of($$SELECT credits.reserve('caps2', 'cy', 1, interval '1 hour', 'video')$$);
-- setting a cap again changes it; other features are not capped
SELECT credits.set_frequency_cap('caps2', 'video', 10, interval '1 hour', 'pool');
SELECT status FROM credits.charge('caps2', 'cy', 1, 'video');
SELECT status FROM credits.charge('caps2', 'cy', 1, 'text');
-- remove one window, one scope, or all
SELECT credits.remove_frequency_cap('caps2', 'video', interval '1 minute');
SELECT per, scope FROM credits.frequency_caps WHERE pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'caps2');
SELECT credits.set_frequency_cap('caps2', 'video', 5, interval '1 day');
SELECT credits.remove_frequency_cap('caps2', 'video', scope => 'pool');
SELECT per, scope FROM credits.frequency_caps WHERE pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'caps2');
SELECT credits.remove_frequency_cap('caps2', 'video');
SELECT count(*) AS caps, (SELECT has_caps FROM credits.pools WHERE pool = 'caps2') AS has_caps
  FROM credits.frequency_caps WHERE pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'caps2');
-- errors
SELECT code, message FROM regress.error_of($$SELECT credits.set_frequency_cap('caps2', 'video', 1, interval '1 hour', 'team')$$);
SELECT code, message FROM regress.error_of($$SELECT credits.set_frequency_cap('caps2', 'video', 1, interval '1 hour', NULL)$$);
SELECT * FROM credits.verify();
