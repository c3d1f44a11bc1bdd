-- Privileges: nothing for PUBLIC; each role gets exactly its functions.
-- (Grants to several roles on one object are listed in the order an updated
-- database received them, so its ACLs read the same as a fresh one's.)

REVOKE ALL ON ALL TABLES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON TYPE credits.charge_result FROM PUBLIC;
GRANT USAGE ON TYPE credits.charge_result TO credits_app, credits_reader;

GRANT EXECUTE ON FUNCTION
	credits.charge(text, text, numeric, text, text, jsonb),
	credits.try_charge(text, text, numeric, text, text, jsonb),
	credits.balance(text, text, text)
TO credits_app;

GRANT EXECUTE ON FUNCTION credits.balance(text, text, text) TO credits_reader;
-- Views call these as the querying role.
GRANT EXECUTE ON FUNCTION credits._to_credits(bigint), credits._to_credits(numeric),
	credits._period_start(text, timestamptz)
TO credits_reader;

GRANT EXECUTE ON FUNCTION
	credits.create_pool(text, text, jsonb),
	credits.set_member_limit(text, text, numeric, text),
	credits.set_member_limits(text, text[], numeric, text, text),
	credits.remove_member_limit(text, text),
	credits.revoke_access(text, text),
	credits.restore_access(text, text),
	credits.grant(text, numeric, text, timestamptz, text, timestamptz, integer, text, jsonb, text, text[]),
	credits.void_grant(bigint, text, numeric, text)
TO credits_owner;

GRANT SELECT ON credits.pool_balances, credits.grant_balances, credits.member_usage, credits.transaction_log,
	credits.ledger_entries
TO credits_reader;

GRANT EXECUTE ON FUNCTION
	credits.reserve(text, text, numeric, interval, text, text, jsonb),
	credits.capture(bigint, numeric, jsonb, text, boolean),
	credits.release(bigint),
	credits.charge_usage(text, text, text, numeric, text, jsonb)
TO credits_app;

GRANT EXECUTE ON FUNCTION
	credits.refund(bigint, numeric, text, text),
	credits.set_rate(text, numeric, text, timestamptz),
	credits.set_frequency_cap(text, text, integer, interval, text),
	credits.remove_frequency_cap(text, text, interval, text),
	credits.verify(),
	credits._maintenance_lock(text),
	credits._maintenance_batch(text, timestamptz),
	credits._in_transaction_block(),
	credits._require("any")
TO credits_owner;
GRANT EXECUTE ON PROCEDURE credits.expire_holds(timestamptz), credits._run_maintenance(text, timestamptz)
	TO credits_owner;

GRANT SELECT ON credits.rate_card TO credits_reader;
GRANT SELECT ON credits._lapsed_hold_parts TO credits_reader;

GRANT EXECUTE ON FUNCTION
	credits.subscribe(text, text, numeric, interval, integer, text, timestamptz, numeric, text),
	credits.cancel_subscription(text, text),
	credits.set_alert(text, text, numeric),
	credits.remove_alert(text, text)
TO credits_owner;
GRANT EXECUTE ON PROCEDURE credits.renew_subscriptions(timestamptz), credits.expire_grants(timestamptz),
	credits.maintain() TO credits_owner;
GRANT SELECT ON credits.alerts, credits.subscription_status TO credits_reader;
GRANT EXECUTE ON FUNCTION credits._period_at(timestamptz, interval, integer) TO credits_reader;

GRANT EXECUTE ON FUNCTION credits._flows(bigint) TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.statement(text, timestamptz, timestamptz, text, text),
	credits.statement_by_kind(text, timestamptz, timestamptz, text, text)
TO credits_reader;
GRANT SELECT ON credits.monthly_summary, credits.usage_by_feature TO credits_reader;

GRANT EXECUTE ON FUNCTION credits.charge_many(text[], text[], numeric[], text[], text[], jsonb[]) TO credits_app;
GRANT EXECUTE ON FUNCTION credits.try_charge_usage(text, text, text, numeric, text, jsonb) TO credits_app;
GRANT SELECT ON credits.hold_balances TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.balance_at(text, timestamptz), credits.usage(text, timestamptz, timestamptz)
TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.capture(text, bigint, numeric, jsonb, text, boolean), credits.release(text, bigint) TO credits_app;
GRANT EXECUTE ON FUNCTION credits.refund(text, bigint, numeric, text, text), credits.void_grant(text, bigint, text, numeric, text)
TO credits_owner;
GRANT EXECUTE ON FUNCTION credits.extend_hold(bigint, interval), credits.extend_hold(text, bigint, interval) TO credits_app;
GRANT EXECUTE ON FUNCTION credits.set_grant_expiry(bigint, timestamptz), credits.set_grant_expiry(text, bigint, timestamptz)
TO credits_owner;
GRANT EXECUTE ON FUNCTION credits.set_budget(text, text, numeric, text), credits.assign_budget(text, text, text),
	credits.remove_budget(text, text)
TO credits_owner;
GRANT SELECT ON credits.budget_usage TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.set_auto_topup(text, numeric, numeric), credits.remove_auto_topup(text),
	credits.cancel_topup_request(bigint)
TO credits_owner;
GRANT SELECT ON credits.topup_requests TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.change_subscription(text, text, numeric, integer, numeric) TO credits_owner;

-- Monitoring (0.3): progress of maintenance runs, a cached verify(), and
-- the aggregates of monitoring/queries.yaml for credits_monitor.
GRANT EXECUTE ON FUNCTION credits._maintenance_run_start(text, timestamptz),
	credits._maintenance_run_batch(bigint, bigint),
	credits._maintenance_run_end(bigint, text, text),
	credits._maintenance_step(bigint, text, timestamptz)
TO credits_owner;
GRANT EXECUTE ON PROCEDURE credits.record_verify() TO credits_owner;
GRANT EXECUTE ON FUNCTION credits._session_busy(integer, timestamptz) TO credits_reader;
GRANT SELECT ON credits.maintenance_runs TO credits_reader;
GRANT EXECUTE ON FUNCTION credits.metrics(), credits.metrics_charge_attempts(), credits.metrics_maintenance()
TO credits_monitor;
