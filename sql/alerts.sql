-- Alerts: set_alert/remove_alert, credits.alerts, once per crossing and
-- re-arming, crossings caused by every kind of operation, commit and
-- rollback, arguments and roles. The pg_notify payload a listener receives
-- is tested by test/isolation/specs/alerts_notify.spec. Ids and alert times
-- differ between runs and are never printed.
-- Each error is followed by \echo :LAST_ERROR_SQLSTATE (VERBOSITY verbose would
-- also print LOCATION lines, which change between PostgreSQL builds).
\set VERBOSITY default
\set SHOW_CONTEXT never
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'UTC';
SET IntervalStyle = 'postgres';

-------------------------------------------------------------------------------
-- pool_balance_below (docs/alerts.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('alerts_acme', 'Acme Inc') > 0 AS created;
SELECT credits.grant('alerts_acme', 100) > 0 AS granted;
SELECT credits.set_alert('alerts_acme', 'pool_balance_below', 50);
SELECT balance FROM credits.charge('alerts_acme', 'alice', 40);
-- 60 left: nothing yet
SELECT count(*) AS alerts FROM credits.alerts WHERE pool = 'alerts_acme';
-- docs example: the charge that takes the balance below 50 raises an alert
SELECT balance FROM credits.charge('alerts_acme', 'alice', 20);
SELECT pool, member, metric, threshold, value FROM credits.alerts WHERE pool = 'alerts_acme' ORDER BY id;
-- once per crossing: further charges below the threshold add nothing
SELECT balance FROM credits.charge('alerts_acme', 'alice', 5);
SELECT balance FROM credits.charge('alerts_acme', 'bob', 5);
SELECT count(*) AS alerts FROM credits.alerts WHERE pool = 'alerts_acme';
-- a top-up above the threshold re-arms it; the next crossing alerts again
SELECT credits.grant('alerts_acme', 100) > 0 AS granted;
SELECT balance FROM credits.charge('alerts_acme', 'alice', 100);
SELECT pool, member, metric, threshold, value FROM credits.alerts WHERE pool = 'alerts_acme' ORDER BY id;
-- exactly at the threshold is not below it
SELECT credits.grant('alerts_acme', 25) > 0 AS granted;
SELECT count(*) AS alerts FROM credits.alerts WHERE pool = 'alerts_acme';
SELECT credits.balance('alerts_acme') AS balance;

-------------------------------------------------------------------------------
-- member_usage_percent
-------------------------------------------------------------------------------
SELECT credits.create_pool('alerts_team') > 0 AS created;
SELECT credits.grant('alerts_team', 10000) > 0 AS granted;
SELECT credits.set_member_limit('alerts_team', 'bob', 50);
SELECT credits.set_alert('alerts_team', 'member_usage_percent', 80);
SELECT member_used FROM credits.charge('alerts_team', 'bob', 30);
SELECT count(*) AS alerts FROM credits.alerts WHERE pool = 'alerts_team';
-- docs example: 45 of 50 is 90 %
SELECT member_used FROM credits.charge('alerts_team', 'bob', 15);
SELECT pool, member, metric, threshold, value FROM credits.alerts WHERE pool = 'alerts_team' ORDER BY id;
-- once per crossing
SELECT member_used FROM credits.charge('alerts_team', 'bob', 1);
SELECT count(*) AS alerts FROM credits.alerts WHERE pool = 'alerts_team';
-- members without a limit have no percentage: no alert
SELECT member_used FROM credits.charge('alerts_team', 'carol', 900);
SELECT count(*) AS alerts FROM credits.alerts WHERE pool = 'alerts_team';
-- a higher limit re-arms (46 of 60 is 76.67 %); a lower one is a crossing too
SELECT credits.set_member_limit('alerts_team', 'bob', 60);
SELECT credits.set_member_limit('alerts_team', 'bob', 55);
SELECT pool, member, metric, threshold, value FROM credits.alerts WHERE pool = 'alerts_team' ORDER BY id;
-- a refund brings usage down and re-arms; the next crossing alerts again
SELECT charge_id AS big_charge FROM credits.charge('alerts_team', 'bob', 4) \gset
SELECT credits.refund(:big_charge) AS refunded;
SELECT credits.refund(charge_id) AS refunded
  FROM credits.transaction_log WHERE pool = 'alerts_team' AND member = 'bob' AND credits = 30;
SELECT used, credit_limit, percent_used FROM credits.member_usage WHERE pool = 'alerts_team' AND member = 'bob';
SELECT member_used FROM credits.charge('alerts_team', 'bob', 30);
SELECT member, threshold, value FROM credits.alerts WHERE pool = 'alerts_team' ORDER BY id;
-- holds count: a reservation that takes usage past the threshold alerts
SELECT credits.set_member_limit('alerts_team', 'dave', 10);
SELECT credits.reserve('alerts_team', 'dave', 9, ttl => '1 hour') AS dave_hold \gset
SELECT member, threshold, value FROM credits.alerts WHERE pool = 'alerts_team' AND member = 'dave';
SELECT status, charged FROM credits.capture(:dave_hold, 9);
SELECT count(*) AS dave_alerts FROM credits.alerts WHERE pool = 'alerts_team' AND member = 'dave';

-- A new period re-arms: usage starts again from 0, and the period's first
-- charge can cross again. Simulated (as superuser, then rolled back) by
-- moving bob's counters and his last alert into the previous month.
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE credits.members SET period_start = period_start - interval '1 month'
 WHERE member = 'bob' AND pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'alerts_team');
UPDATE credits.alert_state SET period_start = period_start - interval '1 month'
 WHERE member = 'bob' AND pool_id = (SELECT pool_id FROM credits.pools WHERE pool = 'alerts_team');
SET LOCAL session_replication_role = origin;
SELECT member_used FROM credits.charge('alerts_team', 'bob', 50);
-- fire the deferred alert triggers now instead of at commit
SET CONSTRAINTS ALL IMMEDIATE;
SELECT member, threshold, value FROM credits.alerts WHERE pool = 'alerts_team' ORDER BY id DESC LIMIT 1;
ROLLBACK;

-------------------------------------------------------------------------------
-- Any operation can cross: hold, void, expiry, renewal
-------------------------------------------------------------------------------
SELECT credits.create_pool('alerts_ops') > 0 AS created;
SELECT credits.grant('alerts_ops', 40, 'promo', expires_at => '2100-01-01 00:00+00', external_ref => 'promo') > 0 AS granted;
SELECT credits.grant('alerts_ops', 30, 'purchased', external_ref => 'bought') > 0 AS granted;
SELECT credits.set_alert('alerts_ops', 'pool_balance_below', 60);
-- a hold: what it holds is not available
SELECT credits.reserve('alerts_ops', 'alice', 15, ttl => '1 hour') AS ops_hold \gset
SELECT metric, value FROM credits.alerts WHERE pool = 'alerts_ops' ORDER BY id;
-- releasing it recovers (re-arms); a void crosses again
SELECT credits.release(:ops_hold) AS released;
SELECT credits.void_grant(grant_id, 'chargeback') AS voided
  FROM credits.grant_balances WHERE pool = 'alerts_ops' AND external_ref = 'bought';
SELECT metric, value FROM credits.alerts WHERE pool = 'alerts_ops' ORDER BY id;
-- a renewal recovers; expiry crosses again (by 2100 the promotion and this
-- month's plan grant have both expired)
SELECT credits.subscribe('alerts_ops', 'pro', 100, anchor => '2020-01-01 00:00+00') > 0 AS subscribed;
SELECT credits.balance('alerts_ops') AS balance;
CALL credits.expire_grants('2100-01-01 00:00+00');
SELECT metric, value FROM credits.alerts WHERE pool = 'alerts_ops' ORDER BY id;
SELECT credits.cancel_subscription('alerts_ops', 'pro');

-------------------------------------------------------------------------------
-- Alerts are written at commit: nothing before, nothing after a rollback
-------------------------------------------------------------------------------
SELECT credits.create_pool('alerts_tx') > 0 AS created;
SELECT credits.grant('alerts_tx', 100) > 0 AS granted;
SELECT credits.set_alert('alerts_tx', 'pool_balance_below', 50);
BEGIN;
SELECT balance FROM credits.charge('alerts_tx', 'alice', 60);
SELECT count(*) AS alerts_before_commit FROM credits.alerts WHERE pool = 'alerts_tx';
ROLLBACK;
SELECT count(*) AS alerts_after_rollback FROM credits.alerts WHERE pool = 'alerts_tx';
-- the rolled-back crossing did not use up the alert
BEGIN;
SELECT balance FROM credits.charge('alerts_tx', 'alice', 60);
-- several crossings in one transaction: one alert, for the value at commit
SELECT balance FROM credits.charge('alerts_tx', 'alice', 10);
COMMIT;
SELECT pool, member, metric, threshold, value FROM credits.alerts WHERE pool = 'alerts_tx' ORDER BY id;
-- a crossing and its recovery inside one transaction: no alert
SELECT credits.grant('alerts_tx', 100) > 0 AS granted;
BEGIN;
SELECT balance FROM credits.charge('alerts_tx', 'alice', 100);
SELECT credits.grant('alerts_tx', 100) > 0 AS granted;
COMMIT;
SELECT count(*) AS alerts FROM credits.alerts WHERE pool = 'alerts_tx';

-------------------------------------------------------------------------------
-- Setting, changing and removing an alert
-------------------------------------------------------------------------------
SELECT credits.create_pool('alerts_rules') > 0 AS created;
SELECT credits.grant('alerts_rules', 20) > 0 AS granted;
-- a new alert that is already crossed fires at commit
SELECT credits.set_alert('alerts_rules', 'pool_balance_below', 50);
SELECT metric, threshold, value FROM credits.alerts WHERE pool = 'alerts_rules' ORDER BY id;
-- a new threshold starts armed
SELECT credits.set_alert('alerts_rules', 'pool_balance_below', 30);
SELECT metric, threshold, value FROM credits.alerts WHERE pool = 'alerts_rules' ORDER BY id;
-- removed: no more alerts
SELECT credits.remove_alert('alerts_rules', 'pool_balance_below');
SELECT balance FROM credits.charge('alerts_rules', 'alice', 15);
SELECT credits.grant('alerts_rules', 100) > 0 AS granted;
SELECT balance FROM credits.charge('alerts_rules', 'alice', 100);
SELECT count(*) AS alerts FROM credits.alerts WHERE pool = 'alerts_rules';
-- removing an alert that is not set does nothing
SELECT credits.remove_alert('alerts_rules', 'member_usage_percent');

-------------------------------------------------------------------------------
-- Arguments and roles
-------------------------------------------------------------------------------
SELECT credits.set_alert(NULL, 'pool_balance_below', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_alert('alerts_rules', NULL, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_alert('alerts_rules', 'pool_balance_below', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_alert('alerts_nope', 'pool_balance_below', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_alert('alerts_rules', 'balance', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_alert('alerts_rules', 'pool_balance_below', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_alert('alerts_rules', 'pool_balance_below', 'NaN');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.set_alert('alerts_rules', 'pool_balance_below', 'Infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_alert(NULL, 'pool_balance_below');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_alert('alerts_rules', 'balance');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.remove_alert('alerts_nope', 'pool_balance_below');
\echo :LAST_ERROR_SQLSTATE

SET ROLE credits_app;
SELECT credits.set_alert('alerts_rules', 'pool_balance_below', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM credits.alerts;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE credits_reader;
SELECT pool, metric, threshold, value FROM credits.alerts WHERE pool = 'alerts_acme' ORDER BY id;
SELECT credits.remove_alert('alerts_acme', 'pool_balance_below');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE credits_owner;
SELECT credits.set_alert('alerts_rules', 'member_usage_percent', 90);
SELECT credits.remove_alert('alerts_rules', 'member_usage_percent');
-- the alerts table is written by the extension only
INSERT INTO credits.alerts (pool_id, pool, metric, threshold, value) VALUES (1, 'x', 'pool_balance_below', 1, 0);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

SELECT * FROM credits.verify();
