-- Frequency caps: set_frequency_cap and remove_frequency_cap; the sliding
-- window (now - per, now]; what counts as a call (successful charges and
-- holds of the feature, zero-cost ones included); try_charge's
-- rate_limited; holds and charge_usage; roles and argument errors.
-- Each error is followed by \echo :LAST_ERROR_SQLSTATE (VERBOSITY verbose would
-- also print LOCATION lines, which change between PostgreSQL builds).
\set VERBOSITY default
\set SHOW_CONTEXT never

-------------------------------------------------------------------------------
-- Two calls an hour (docs/rates-and-caps.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('caps_acme', 'Acme Inc') > 0 AS created;
SELECT credits.grant('caps_acme', 100) > 0 AS granted;
-- docs example
SELECT credits.set_frequency_cap('caps_acme', 'video', 2, '1 hour');
SELECT status, charged FROM credits.charge('caps_acme', 'alice', 5, 'video');
-- a zero-cost call counts too
SELECT status, charged FROM credits.charge('caps_acme', 'alice', 0, 'video');
-- docs example: the third call within the hour is CR007 ...
SELECT * FROM credits.charge('caps_acme', 'alice', 5, 'video');
\echo :LAST_ERROR_SQLSTATE
-- ... and try_charge returns rate_limited and logs it
SELECT status, charged, balance, member_used, replayed FROM credits.try_charge('caps_acme', 'alice', 5, 'video');
SELECT member, feature, credits, status, reason
  FROM credits.transaction_log WHERE pool = 'caps_acme' ORDER BY charge_id;
-- rejected attempts are not calls: still two in the window
SELECT status FROM credits.try_charge('caps_acme', 'alice', 5, 'video');
-- the cap is per member, per feature: other members, other features and
-- charges without a feature are not limited
SELECT status FROM credits.charge('caps_acme', 'bob', 5, 'video');
SELECT status FROM credits.charge('caps_acme', 'alice', 5, 'image');
SELECT status FROM credits.charge('caps_acme', 'alice', 5);
-- and per pool
SELECT credits.create_pool('caps_other') > 0 AS created;
SELECT credits.grant('caps_other', 10) > 0 AS granted;
SELECT status FROM credits.charge('caps_other', 'alice', 1, 'video');
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Holds are calls, counted when they are made
-------------------------------------------------------------------------------
SELECT credits.create_pool('caps_holds') > 0 AS created;
SELECT credits.grant('caps_holds', 100) > 0 AS granted;
SELECT credits.set_frequency_cap('caps_holds', 'render', 2, '1 day');
SELECT credits.reserve('caps_holds', 'carol', 10, feature => 'render') AS hold1 \gset
SELECT credits.reserve('caps_holds', 'carol', 10, feature => 'render') AS hold2 \gset
-- docs example: a third hold, or a charge, of the feature is refused
SELECT credits.reserve('caps_holds', 'carol', 10, feature => 'render');
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM credits.try_charge('caps_holds', 'carol', 1, 'render');
-- capturing is not another call, and a released hold still was one
SELECT status, charged FROM credits.capture(:hold1, 4);
SELECT credits.release(:hold2) AS released;
SELECT status FROM credits.try_charge('caps_holds', 'carol', 1, 'render');
-- an idempotent replay is not a call: it returns the first result
SELECT credits.set_frequency_cap('caps_holds', 'chat', 1, '1 day');
SELECT status, charged, replayed FROM credits.charge('caps_holds', 'carol', 1, 'chat', 'msg-1');
SELECT status, charged, replayed FROM credits.charge('caps_holds', 'carol', 1, 'chat', 'msg-1');
SELECT credits.reserve('caps_holds', 'carol', 1, feature => 'chat');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- charge_usage is capped like charge
-------------------------------------------------------------------------------
SELECT credits.create_pool('caps_usage') > 0 AS created;
SELECT credits.grant('caps_usage', 100) > 0 AS granted;
SELECT credits.set_rate('caps_tts', 0.01, 'second');
SELECT credits.set_frequency_cap('caps_usage', 'caps_tts', 1, '10 minutes');
SELECT status, charged FROM credits.charge_usage('caps_usage', 'dan', 'caps_tts', 30);
SELECT * FROM credits.charge_usage('caps_usage', 'dan', 'caps_tts', 30);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- The window slides: (now - per, now]
-------------------------------------------------------------------------------
SELECT credits.create_pool('caps_window') > 0 AS created;
SELECT credits.grant('caps_window', 100) > 0 AS granted;
-- docs example: one call per microsecond. now() is the transaction's start,
-- so inside one transaction every call is at the same moment, and a second
-- call is within the window ...
SELECT credits.set_frequency_cap('caps_window', 'ping', 1, '1 microsecond');
BEGIN;
SELECT status FROM credits.charge('caps_window', 'erin', 1, 'ping');
SELECT status FROM credits.try_charge('caps_window', 'erin', 1, 'ping');
COMMIT;
-- ... while in the next transaction the first call has left the window
SELECT status FROM credits.charge('caps_window', 'erin', 1, 'ping');
SELECT member, credits, status FROM credits.transaction_log WHERE pool = 'caps_window' ORDER BY charge_id;
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Changing and removing a cap
-------------------------------------------------------------------------------
SELECT credits.create_pool('caps_change') > 0 AS created;
SELECT credits.grant('caps_change', 100) > 0 AS granted;
SELECT credits.set_frequency_cap('caps_change', 'video', 1, '1 hour');
SELECT status FROM credits.charge('caps_change', 'fay', 1, 'video');
SELECT status FROM credits.try_charge('caps_change', 'fay', 1, 'video');
-- setting it again replaces it; calls made before count in the new window
SELECT credits.set_frequency_cap('caps_change', 'video', 2, '1 hour');
SELECT status FROM credits.try_charge('caps_change', 'fay', 1, 'video');
SELECT status FROM credits.try_charge('caps_change', 'fay', 1, 'video');
-- 0 calls: the feature is off for everyone
SELECT credits.set_frequency_cap('caps_change', 'video', 0, '1 hour');
SELECT * FROM credits.charge('caps_change', 'gus', 0, 'video');
\echo :LAST_ERROR_SQLSTATE
-- docs example: remove the cap
SELECT credits.remove_frequency_cap('caps_change', 'video');
SELECT status FROM credits.charge('caps_change', 'fay', 1, 'video');
SELECT status FROM credits.charge('caps_change', 'gus', 1, 'video');
-- removing a cap that is not there does nothing
SELECT credits.remove_frequency_cap('caps_change', 'video');
SELECT credits.remove_frequency_cap('caps_change', 'no-such-feature');
-- a revoked member is refused for that first (CR003, not CR007)
SELECT credits.set_frequency_cap('caps_change', 'video', 0, '1 hour');
SELECT credits.revoke_access('caps_change', 'hal');
SELECT * FROM credits.charge('caps_change', 'hal', 1, 'video');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM credits.verify();

-------------------------------------------------------------------------------
-- Argument errors
-------------------------------------------------------------------------------
SELECT credits.set_frequency_cap(NULL, 'video', 1, '1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_frequency_cap('caps_change', NULL, 1, '1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_frequency_cap('caps_change', 'video', NULL, '1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_frequency_cap('caps_change', 'video', 1, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_frequency_cap('caps_change', 'video', -1, '1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_frequency_cap('caps_change', 'video', 1, '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_frequency_cap('caps_change', 'video', 1, '-1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_frequency_cap('caps_change', 'video', 1, '1 month -31 days');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_frequency_cap('caps_nowhere', 'video', 1, '1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_frequency_cap(NULL, 'video');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_frequency_cap('caps_change', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_frequency_cap('caps_nowhere', 'video');
\echo :LAST_ERROR_SQLSTATE
-- the cap set before the errors is unchanged
SELECT c.max_calls, c.per FROM credits.frequency_caps c JOIN credits.pools p USING (pool_id)
 WHERE p.pool = 'caps_change';

-------------------------------------------------------------------------------
-- Roles: caps are set by credits_owner
-------------------------------------------------------------------------------
SELECT credits.create_pool('caps_roles') > 0 AS created;
SELECT credits.grant('caps_roles', 10) > 0 AS granted;
CREATE ROLE caps_nobody;
SET ROLE credits_app;
SELECT credits.set_frequency_cap('caps_roles', 'video', 1, '1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_frequency_cap('caps_roles', 'video');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE credits_reader;
SELECT credits.set_frequency_cap('caps_roles', 'video', 1, '1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_frequency_cap('caps_roles', 'video');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM credits.frequency_caps;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE caps_nobody;
SELECT credits.set_frequency_cap('caps_roles', 'video', 1, '1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_frequency_cap('caps_roles', 'video');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE credits_owner;
SELECT credits.set_frequency_cap('caps_roles', 'video', 1, '1 hour');
RESET ROLE;
SET ROLE credits_app;
SELECT status FROM credits.charge('caps_roles', 'ivy', 1, 'video');
SELECT status FROM credits.try_charge('caps_roles', 'ivy', 1, 'video');
RESET ROLE;
SET ROLE credits_owner;
SELECT credits.remove_frequency_cap('caps_roles', 'video');
RESET ROLE;
SET ROLE credits_app;
SELECT status FROM credits.charge('caps_roles', 'ivy', 1, 'video');
RESET ROLE;
SELECT * FROM credits.verify();
DROP ROLE caps_nobody;
