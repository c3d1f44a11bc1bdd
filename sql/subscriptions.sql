-- Subscriptions: subscribe, one grant per period, rollover, renewal with
-- catch-up, cancellation, UTC periods, arguments and roles.
-- Time travels with as_of into 2100 (anchors there are still in the future,
-- so every figure is the same on every run); ids are never printed.
-- Each error is followed by \echo :LAST_ERROR_SQLSTATE (VERBOSITY verbose would
-- also print LOCATION lines, which change between PostgreSQL builds).
\set VERBOSITY default
\set SHOW_CONTEXT never
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'UTC';
SET IntervalStyle = 'postgres';

-------------------------------------------------------------------------------
-- A monthly free allowance and a plan whose credits roll over for 3 months
-- (docs/subscriptions-and-expiry.md)
-------------------------------------------------------------------------------
SELECT credits.create_pool('subs_acme', 'Acme Inc') > 0 AS created;
SELECT credits.subscribe('subs_acme', 'free-tier', 100, kind => 'free',
                         anchor => '2100-01-01 00:00+00') > 0 AS subscribed;
SELECT credits.subscribe('subs_acme', 'pro', 1000, rollover_periods => 3,
                         anchor => '2100-01-01 00:00+00') > 0 AS subscribed;
-- Each issued its first period's grant at once (scheduled: it starts in 2100).
SELECT external_ref AS plan, kind, amount, effective_at, expires_at, status
  FROM credits.grant_balances WHERE pool = 'subs_acme' ORDER BY effective_at, plan;
SELECT plan, kind, credits_per_period, period, rollover_periods, anchor,
       last_period_start, next_period_start, status
  FROM credits.subscription_status WHERE pool = 'subs_acme' ORDER BY plan;

-- Renewal at the start of February and of March.
CALL credits.renew_subscriptions('2100-02-01 00:00+00');
CALL credits.renew_subscriptions('2100-03-01 00:00+00');
SELECT external_ref AS plan, kind, amount, effective_at, expires_at
  FROM credits.grant_balances WHERE pool = 'subs_acme' ORDER BY effective_at, plan;
-- Idempotent per period: again at the same time, and later in March, nothing new.
CALL credits.renew_subscriptions('2100-03-01 00:00+00');
CALL credits.renew_subscriptions('2100-03-31 23:59:59+00');
SELECT count(*) AS grants FROM credits.grant_balances WHERE pool = 'subs_acme';
-- An as_of before what was issued does nothing either.
CALL credits.renew_subscriptions('2100-01-15 00:00+00');
SELECT count(*) AS grants FROM credits.grant_balances WHERE pool = 'subs_acme';

-- Expiry at the start of April: the free allowances of January, February and
-- March lapsed unused at the end of their month; each ledger entry is dated
-- at its grant's expires_at, not at as_of.
CALL credits.expire_grants('2100-04-01 00:00+00');
SELECT e.at, e.entry_type, g.external_ref AS plan, e.amount, e.reason
  FROM credits.ledger_entries e JOIN credits.grant_balances g USING (grant_id)
 WHERE e.pool = 'subs_acme' AND e.entry_type = 'expire' ORDER BY e.at, e.entry_id;
SELECT external_ref AS plan, kind, remaining, expires_at, status = 'expired' AS expired
  FROM credits.grant_balances WHERE pool = 'subs_acme' ORDER BY effective_at, plan;

-- Plan credits roll over for exactly 3 periods: January's 'pro' grant is
-- still there on April 30 at 23:59:59 ...
CALL credits.renew_subscriptions('2100-04-30 23:59:59+00');
CALL credits.expire_grants('2100-04-30 23:59:59+00');
SELECT external_ref AS plan, effective_at, expires_at, status = 'expired' AS expired
  FROM credits.grant_balances WHERE pool = 'subs_acme' AND external_ref = 'pro' ORDER BY effective_at;
-- ... and gone at the start of May, when February's still has a month left.
CALL credits.renew_subscriptions('2100-05-01 00:00+00');
CALL credits.expire_grants('2100-05-01 00:00+00');
SELECT external_ref AS plan, effective_at, expires_at, status = 'expired' AS expired
  FROM credits.grant_balances WHERE pool = 'subs_acme' AND external_ref = 'pro' ORDER BY effective_at;
SELECT e.at, e.entry_type, g.external_ref AS plan, e.amount
  FROM credits.ledger_entries e JOIN credits.grant_balances g USING (grant_id)
 WHERE e.pool = 'subs_acme' AND g.external_ref = 'pro' AND e.entry_type = 'expire' ORDER BY e.at, e.entry_id;
-- How long each 'pro' grant lived: 4 months (its own and 3 more).
SELECT effective_at, expires_at, age(expires_at, effective_at) AS lifetime
  FROM credits.grant_balances WHERE pool = 'subs_acme' AND external_ref = 'pro' ORDER BY effective_at;

-------------------------------------------------------------------------------
-- Catch-up: maintenance did not run from January to mid-June
-------------------------------------------------------------------------------
SELECT credits.create_pool('subs_late') > 0 AS created;
SELECT credits.subscribe('subs_late', 'free-tier', 100, kind => 'free',
                         anchor => '2100-01-01 00:00+00') > 0 AS subscribed;
SELECT credits.subscribe('subs_late', 'pro', 1000, rollover_periods => 1,
                         anchor => '2100-01-01 00:00+00') > 0 AS subscribed;
-- docs example: every missed period whose grant is still unexpired is issued,
-- dated to its own period; the rest are skipped
CALL credits.renew_subscriptions('2100-06-15 00:00+00');
SELECT external_ref AS plan, kind, amount, effective_at, expires_at
  FROM credits.grant_balances WHERE pool = 'subs_late' ORDER BY effective_at, plan;
SELECT e.at, e.entry_type, g.external_ref AS plan, e.amount, e.reason
  FROM credits.ledger_entries e JOIN credits.grant_balances g USING (grant_id)
 WHERE e.pool = 'subs_late' ORDER BY e.at, e.entry_id;
SELECT plan, last_period_start, next_period_start
  FROM credits.subscription_status WHERE pool = 'subs_late' ORDER BY plan;
-- A catch-up much later skips what has expired without issuing it.
CALL credits.renew_subscriptions('2101-01-10 00:00+00');
SELECT external_ref AS plan, effective_at, expires_at
  FROM credits.grant_balances WHERE pool = 'subs_late' AND effective_at >= '2100-07-01' ORDER BY effective_at, plan;

-------------------------------------------------------------------------------
-- Cancelling stops future periods
-------------------------------------------------------------------------------
SELECT credits.create_pool('subs_cancel') > 0 AS created;
SELECT credits.subscribe('subs_cancel', 'pro', 50, anchor => '2100-01-01 00:00+00') > 0 AS subscribed;
CALL credits.renew_subscriptions('2100-02-01 00:00+00');
-- docs example
SELECT credits.cancel_subscription('subs_cancel', 'pro');
CALL credits.renew_subscriptions('2100-05-01 00:00+00');
-- the periods issued before stay; nothing after
SELECT external_ref AS plan, effective_at, expires_at, status
  FROM credits.grant_balances WHERE pool = 'subs_cancel' ORDER BY effective_at;
SELECT plan, status, last_period_start, next_period_start, cancelled_at IS NOT NULL AS cancelled
  FROM credits.subscription_status WHERE pool = 'subs_cancel';
-- cancelling again: CR010; a new subscription to the same plan is allowed
SELECT credits.cancel_subscription('subs_cancel', 'pro');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_cancel', 'pro', 70, anchor => '2100-06-01 00:00+00') > 0 AS subscribed;
SELECT plan, credits_per_period, status FROM credits.subscription_status
 WHERE pool = 'subs_cancel' ORDER BY status, credits_per_period;
-- two active subscriptions of one pool to one plan: 23505
SELECT credits.subscribe('subs_cancel', 'pro', 70);
\echo :LAST_ERROR_SQLSTATE
-- a plan of another pool is another subscription
SELECT credits.create_pool('subs_other') > 0 AS created;
SELECT credits.subscribe('subs_other', 'pro', 70, anchor => '2100-06-01 00:00+00') > 0 AS subscribed;

-------------------------------------------------------------------------------
-- Periods are computed in UTC, whatever the session's TimeZone
-------------------------------------------------------------------------------
SET TimeZone = 'America/Los_Angeles';
SELECT credits.create_pool('subs_utc') > 0 AS created;
-- month ends: January 31, 00:00 UTC (January 30, 16:00 in Los Angeles)
SELECT credits.subscribe('subs_utc', 'month-end', 10, rollover_periods => 3,
                         anchor => '2100-01-31 00:00+00') > 0 AS subscribed;
-- two-week periods from a Friday noon UTC, across the March DST change
SELECT credits.subscribe('subs_utc', 'fortnight', 5, period => '2 weeks', rollover_periods => 10,
                         anchor => '2100-03-05 12:00+00') > 0 AS subscribed;
CALL credits.renew_subscriptions('2100-04-15 00:00+00');
-- every period starts on the UTC calendar (month ends stay month ends, not
-- March 1, and the DST change moves nothing)
SELECT external_ref AS plan, effective_at AT TIME ZONE 'UTC' AS effective_utc, effective_at AS effective_local
  FROM credits.grant_balances WHERE pool = 'subs_utc' ORDER BY plan, effective_at;
SET TimeZone = 'UTC';

-------------------------------------------------------------------------------
-- A subscription that started in the past: this period's grant is spendable
-------------------------------------------------------------------------------
SELECT credits.create_pool('subs_now') > 0 AS created;
SELECT credits.subscribe('subs_now', 'basic', 10, anchor => '2020-01-01 00:00+00') > 0 AS subscribed;
-- only the current (UTC) month is issued: the subscription did not exist before
SELECT count(*) AS grants,
       bool_and(effective_at = date_trunc('month', now(), 'UTC')) AS from_this_month,
       bool_and(expires_at = date_trunc('month', now(), 'UTC') + interval '1 month') AS to_next_month
  FROM credits.grant_balances WHERE pool = 'subs_now';
SELECT credits.balance('subs_now') AS balance;
SELECT status, charged, balance FROM credits.charge('subs_now', 'alice', 4);
-- renewing now again changes nothing
CALL credits.renew_subscriptions();
CALL credits.maintain();
SELECT count(*) AS grants, sum(remaining) AS remaining FROM credits.grant_balances WHERE pool = 'subs_now';
-- the grant's ledger entry is dated at its period's start
SELECT at = date_trunc('month', now(), 'UTC') AS dated_at_period_start, entry_type, amount
  FROM credits.ledger_entries WHERE pool = 'subs_now' AND entry_type = 'grant';
-- cancelling keeps what was issued
SELECT credits.cancel_subscription('subs_now', 'basic');
SELECT credits.balance('subs_now') AS balance;

-------------------------------------------------------------------------------
-- Arguments
-------------------------------------------------------------------------------
SELECT credits.subscribe(NULL, 'p', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', NULL, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', 10, period => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', 10, rollover_periods => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', 10, kind => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', 10, anchor => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_nope', 'p', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', -5);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', 1.0000001);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', 'NaN');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', 10, kind => 'gift');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', 10, period => '0');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', 10, period => '-1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', 10, rollover_periods => -1);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.subscribe('subs_acme', 'p', 10, rollover_periods => 1001);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.cancel_subscription(NULL, 'p');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.cancel_subscription('subs_acme', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT credits.cancel_subscription('subs_nope', 'p');
\echo :LAST_ERROR_SQLSTATE
SELECT credits.cancel_subscription('subs_acme', 'no-such-plan');
\echo :LAST_ERROR_SQLSTATE
CALL credits.renew_subscriptions(NULL);
\echo :LAST_ERROR_SQLSTATE
-- a failed call changes nothing
SELECT count(*) AS subscriptions FROM credits.subscription_status WHERE pool = 'subs_acme';

-------------------------------------------------------------------------------
-- Roles
-------------------------------------------------------------------------------
SELECT credits.create_pool('subs_roles') > 0 AS created;
SET ROLE credits_app;
SELECT credits.subscribe('subs_roles', 'pro', 10);
\echo :LAST_ERROR_SQLSTATE
CALL credits.renew_subscriptions('2100-01-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM credits.subscription_status;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE credits_owner;
SELECT credits.subscribe('subs_roles', 'pro', 10, anchor => '2100-01-01 00:00+00') > 0 AS subscribed;
CALL credits.renew_subscriptions('2100-02-01 00:00+00');
CALL credits.maintain();
SELECT credits.cancel_subscription('subs_roles', 'pro');
RESET ROLE;
SET ROLE credits_reader;
SELECT plan, status, next_period_start FROM credits.subscription_status WHERE pool = 'subs_roles';
SELECT credits.cancel_subscription('subs_roles', 'pro');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Every invariant holds; the 2100 subscriptions are cancelled so that other
-- tests' renewals never touch these pools.
SELECT count(*) AS cancelled
  FROM (SELECT credits.cancel_subscription(pool, plan)
          FROM credits.subscription_status WHERE pool LIKE 'subs\_%' AND status = 'active') c;
SELECT * FROM credits.verify();
