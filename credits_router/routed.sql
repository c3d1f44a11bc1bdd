-- credits_router, the generated part: made by credits_router/generate.sql from a
-- partition's catalog; do not edit (test/stress/router.sh checks it is current).

CREATE TYPE credits.charge_result AS (charge_id bigint, status text, charged numeric, balance numeric, member_used numeric, replayed boolean, reason text);
GRANT USAGE ON TYPE credits.charge_result TO credits_app, credits_reader;

CREATE FUNCTION credits."grant"(pool text, amount numeric, kind text DEFAULT 'purchased'::text, expires_at timestamp with time zone DEFAULT NULL::timestamp with time zone, member text DEFAULT NULL::text, effective_at timestamp with time zone DEFAULT now(), priority integer DEFAULT NULL::integer, external_ref text DEFAULT NULL::text, metadata jsonb DEFAULT NULL::jsonb, idempotency_key text DEFAULT NULL::text, features text[] DEFAULT NULL::text[])
RETURNS bigint
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.assign_budget(pool text, member text, budget text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.balance(pool text, member text DEFAULT NULL::text, feature text DEFAULT NULL::text)
RETURNS numeric
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.balance_at(pool text, at timestamp with time zone)
RETURNS numeric
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.cancel_subscription(pool text, plan text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.capture(pool text, hold_id bigint, amount numeric DEFAULT NULL::numeric, metadata jsonb DEFAULT NULL::jsonb, idempotency_key text DEFAULT NULL::text, allow_more boolean DEFAULT false)
RETURNS credits.charge_result
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.change_subscription(pool text, plan text, credits_per_period numeric, rollover_periods integer DEFAULT NULL::integer, rollover_max numeric DEFAULT NULL::numeric)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.charge(pool text, member text, amount numeric, feature text DEFAULT NULL::text, idempotency_key text DEFAULT NULL::text, metadata jsonb DEFAULT NULL::jsonb)
RETURNS credits.charge_result
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.charge_usage(pool text, member text, feature text, quantity numeric, idempotency_key text DEFAULT NULL::text, metadata jsonb DEFAULT NULL::jsonb)
RETURNS credits.charge_result
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.create_pool(pool text, name text DEFAULT NULL::text, settings jsonb DEFAULT '{}'::jsonb)
RETURNS bigint
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.extend_hold(pool text, hold_id bigint, ttl interval)
RETURNS timestamp with time zone
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.refund(pool text, charge_id bigint, amount numeric DEFAULT NULL::numeric, reason text DEFAULT NULL::text, idempotency_key text DEFAULT NULL::text)
RETURNS numeric
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.release(pool text, hold_id bigint)
RETURNS numeric
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.remove_alert(pool text, metric text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.remove_auto_topup(pool text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.remove_budget(pool text, budget text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.remove_frequency_cap(pool text, feature text, per interval DEFAULT NULL::interval, scope text DEFAULT NULL::text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.remove_member_limit(pool text, member text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.reserve(pool text, member text, amount numeric, ttl interval DEFAULT '00:15:00'::interval, feature text DEFAULT NULL::text, idempotency_key text DEFAULT NULL::text, metadata jsonb DEFAULT NULL::jsonb)
RETURNS bigint
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.restore_access(pool text, member text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.revoke_access(pool text, member text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.set_alert(pool text, metric text, threshold numeric)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.set_auto_topup(pool text, below numeric, amount numeric)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.set_budget(pool text, budget text, credit_limit numeric, period text DEFAULT 'month'::text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.set_frequency_cap(pool text, feature text, max_calls integer, per interval, scope text DEFAULT 'member'::text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.set_grant_expiry(pool text, grant_id bigint, expires_at timestamp with time zone)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.set_member_limit(pool text, member text, credit_limit numeric, period text DEFAULT 'month'::text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.set_member_limits(pool text, members text[], amount numeric, mode text DEFAULT 'each'::text, period text DEFAULT NULL::text)
RETURNS void
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits_router.set_rate(feature text, credits_per_unit numeric, unit text, effective_from timestamp with time zone)
RETURNS SETOF integer
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
	SELECT 1 FROM credits.set_rate(feature, credits_per_unit, unit, effective_from);
$plproxy$;
CREATE FUNCTION credits.set_rate(feature text, credits_per_unit numeric, unit text DEFAULT 'request'::text, effective_from timestamp with time zone DEFAULT now())
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT FROM credits_router.set_rate(feature, credits_per_unit, unit, effective_from)
$fn$;

CREATE FUNCTION credits.statement(pool text, from_ts timestamp with time zone, to_ts timestamp with time zone, granularity text DEFAULT 'day'::text, tz text DEFAULT 'UTC'::text)
RETURNS TABLE(bucket timestamp with time zone, carried_forward numeric, allocated numeric, consumed numeric, refunded numeric, expired numeric, voided numeric, remaining numeric)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.statement_by_kind(pool text, from_ts timestamp with time zone, to_ts timestamp with time zone, granularity text DEFAULT 'month'::text, tz text DEFAULT 'UTC'::text)
RETURNS TABLE(bucket timestamp with time zone, kind text, carried_forward numeric, allocated numeric, consumed numeric, refunded numeric, expired numeric, voided numeric, remaining numeric)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.subscribe(pool text, plan text, credits_per_period numeric, period interval DEFAULT '1 mon'::interval, rollover_periods integer DEFAULT 0, kind text DEFAULT 'plan'::text, anchor timestamp with time zone DEFAULT now(), rollover_max numeric DEFAULT NULL::numeric, external_ref text DEFAULT NULL::text)
RETURNS bigint
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.try_charge(pool text, member text, amount numeric, feature text DEFAULT NULL::text, idempotency_key text DEFAULT NULL::text, metadata jsonb DEFAULT NULL::jsonb)
RETURNS credits.charge_result
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.try_charge_usage(pool text, member text, feature text, quantity numeric, idempotency_key text DEFAULT NULL::text, metadata jsonb DEFAULT NULL::jsonb)
RETURNS credits.charge_result
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.usage(pool text, from_ts timestamp with time zone, to_ts timestamp with time zone)
RETURNS TABLE(member text, feature text, calls bigint, credits numeric, refunded numeric)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;

CREATE FUNCTION credits.verify()
RETURNS TABLE(problem text, object text, detail text)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
$plproxy$;

CREATE FUNCTION credits.void_grant(pool text, grant_id bigint, reason text DEFAULT NULL::text, amount numeric DEFAULT NULL::numeric, idempotency_key text DEFAULT NULL::text)
RETURNS numeric
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON credits_router.pool_hash(pool);
$plproxy$;
COMMENT ON FUNCTION credits."grant"(text,numeric,text,timestamp with time zone,text,timestamp with time zone,integer,text,jsonb,text,text[]) IS 'Adds a lot of credits (free, promo, plan or purchased) to a pool; returns the grant id. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits."grant"(text,numeric,text,timestamp with time zone,text,timestamp with time zone,integer,text,jsonb,text,text[]) TO credits_owner;
COMMENT ON FUNCTION credits.assign_budget(text,text,text) IS 'Puts a member in a budget (NULL: in none). Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.assign_budget(text,text,text) TO credits_owner;
COMMENT ON FUNCTION credits.balance(text,text,text) IS 'The credits a pool, or a charge by one member of it or for one feature, can spend now. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.balance(text,text,text) TO credits_app, credits_reader;
COMMENT ON FUNCTION credits.balance_at(text,timestamp with time zone) IS 'A pool''s credits (held counted as remaining) at an instant, from the ledger. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.balance_at(text,timestamp with time zone) TO credits_reader;
COMMENT ON FUNCTION credits.cancel_subscription(text,text) IS 'Cancels a pool''s subscription to a plan: no further periods are issued. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.cancel_subscription(text,text) TO credits_owner;
COMMENT ON FUNCTION credits.capture(text,bigint,numeric,jsonb,text,boolean) IS 'capture() of a hold of the named pool (pool-first form, for routing). Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.capture(text,bigint,numeric,jsonb,text,boolean) TO credits_app;
COMMENT ON FUNCTION credits.change_subscription(text,text,numeric,integer,numeric) IS 'Changes a subscription''s credits per period and rollover from its next period on. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.change_subscription(text,text,numeric,integer,numeric) TO credits_owner;
COMMENT ON FUNCTION credits.charge(text,text,numeric,text,text,jsonb) IS 'Charges a member''s action to its pool in FIFO order; raises a CR error when refused. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.charge(text,text,numeric,text,text,jsonb) TO credits_app;
COMMENT ON FUNCTION credits.charge_usage(text,text,text,numeric,text,jsonb) IS 'Charges a quantity of a feature at the rate in force now. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.charge_usage(text,text,text,numeric,text,jsonb) TO credits_app;
COMMENT ON FUNCTION credits.create_pool(text,text,jsonb) IS 'Creates a pool of credits for an organization; returns its id. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.create_pool(text,text,jsonb) TO credits_owner;
COMMENT ON FUNCTION credits.extend_hold(text,bigint,interval) IS 'extend_hold() of a hold of the named pool (pool-first form, for routing). Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.extend_hold(text,bigint,interval) TO credits_app;
COMMENT ON FUNCTION credits.refund(text,bigint,numeric,text,text) IS 'refund() of a charge of the named pool (pool-first form, for routing). Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.refund(text,bigint,numeric,text,text) TO credits_owner;
COMMENT ON FUNCTION credits.release(text,bigint) IS 'release() of a hold of the named pool (pool-first form, for routing). Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.release(text,bigint) TO credits_app;
COMMENT ON FUNCTION credits.remove_alert(text,text) IS 'Removes a pool''s alert on a metric. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.remove_alert(text,text) TO credits_owner;
COMMENT ON FUNCTION credits.remove_auto_topup(text) IS 'Removes a pool''s auto top-up (open requests stay open). Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.remove_auto_topup(text) TO credits_owner;
COMMENT ON FUNCTION credits.remove_budget(text,text) IS 'Removes a budget; its members become unassigned. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.remove_budget(text,text) TO credits_owner;
COMMENT ON FUNCTION credits.remove_frequency_cap(text,text,interval,text) IS 'Removes a pool''s frequency caps on a feature (those of one window or scope, or all). Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.remove_frequency_cap(text,text,interval,text) TO credits_owner;
COMMENT ON FUNCTION credits.remove_member_limit(text,text) IS 'Removes a member''s credit limit. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.remove_member_limit(text,text) TO credits_owner;
COMMENT ON FUNCTION credits.reserve(text,text,numeric,interval,text,text,jsonb) IS 'Holds credits for work whose cost is not yet known; returns the hold id. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.reserve(text,text,numeric,interval,text,text,jsonb) TO credits_app;
COMMENT ON FUNCTION credits.restore_access(text,text) IS 'Restores a revoked member''s access. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.restore_access(text,text) TO credits_owner;
COMMENT ON FUNCTION credits.revoke_access(text,text) IS 'Revokes a member''s access: its charges and holds are refused. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.revoke_access(text,text) TO credits_owner;
COMMENT ON FUNCTION credits.set_alert(text,text,numeric) IS 'Sets an alert on a pool''s balance or its members'' usage of their limits. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.set_alert(text,text,numeric) TO credits_owner;
COMMENT ON FUNCTION credits.set_auto_topup(text,numeric,numeric) IS 'Asks for a top-up of amount credits when the pool''s available credits drop below a threshold. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.set_auto_topup(text,numeric,numeric) TO credits_owner;
COMMENT ON FUNCTION credits.set_budget(text,text,numeric,text) IS 'Creates or changes a budget: a cap per period on what a group of a pool''s members may use. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.set_budget(text,text,numeric,text) TO credits_owner;
COMMENT ON FUNCTION credits.set_frequency_cap(text,text,integer,interval,text) IS 'Caps how often each member of a pool (or all of them together) may call a feature within a window. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.set_frequency_cap(text,text,integer,interval,text) TO credits_owner;
COMMENT ON FUNCTION credits.set_grant_expiry(text,bigint,timestamp with time zone) IS 'set_grant_expiry() of a grant of the named pool (pool-first form, for routing). Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.set_grant_expiry(text,bigint,timestamp with time zone) TO credits_owner;
COMMENT ON FUNCTION credits.set_member_limit(text,text,numeric,text) IS 'Sets a member''s credit limit per period (month, week, day, none); NULL removes it. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.set_member_limit(text,text,numeric,text) TO credits_owner;
COMMENT ON FUNCTION credits.set_member_limits(text,text[],numeric,text,text) IS 'Sets the credit limit of several members: each gets the amount, or a split of it. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.set_member_limits(text,text[],numeric,text,text) TO credits_owner;
COMMENT ON FUNCTION credits.set_rate(text,numeric,text,timestamp with time zone) IS 'Sets a feature''s rate (credits per unit) from a given time on; the history is kept. Run on every partition.';
GRANT EXECUTE ON FUNCTION credits.set_rate(text,numeric,text,timestamp with time zone) TO credits_owner;
GRANT EXECUTE ON FUNCTION credits_router.set_rate(text,numeric,text,timestamp with time zone) TO credits_owner;
COMMENT ON FUNCTION credits.statement(text,timestamp with time zone,timestamp with time zone,text,text) IS 'A pool''s credits for any range, by day, week, month or in total, in a time zone. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.statement(text,timestamp with time zone,timestamp with time zone,text,text) TO credits_reader;
COMMENT ON FUNCTION credits.statement_by_kind(text,timestamp with time zone,timestamp with time zone,text,text) IS 'statement() per kind of credits: free, promo, plan, purchased. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.statement_by_kind(text,timestamp with time zone,timestamp with time zone,text,text) TO credits_reader;
COMMENT ON FUNCTION credits.subscribe(text,text,numeric,interval,integer,text,timestamp with time zone,numeric,text) IS 'Subscribes a pool to a plan that grants credits every period; returns the subscription id. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.subscribe(text,text,numeric,interval,integer,text,timestamp with time zone,numeric,text) TO credits_owner;
COMMENT ON FUNCTION credits.try_charge(text,text,numeric,text,text,jsonb) IS 'Charges like charge(), but returns a refusal as a status and logs the failed attempt. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.try_charge(text,text,numeric,text,text,jsonb) TO credits_app;
COMMENT ON FUNCTION credits.try_charge_usage(text,text,text,numeric,text,jsonb) IS 'Charges like charge_usage(), but returns a refusal as a status and logs the failed attempt. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.try_charge_usage(text,text,text,numeric,text,jsonb) TO credits_app;
COMMENT ON FUNCTION credits.usage(text,timestamp with time zone,timestamp with time zone) IS 'Per member and feature in a range: calls, credits charged and refunded. Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.usage(text,timestamp with time zone,timestamp with time zone) TO credits_reader;
COMMENT ON FUNCTION credits.verify() IS 'Every broken invariant of the credits data; empty when balances equal the ledger. Gathered from every partition.';
GRANT EXECUTE ON FUNCTION credits.verify() TO credits_owner;
COMMENT ON FUNCTION credits.void_grant(text,bigint,text,numeric,text) IS 'void_grant() of a grant of the named pool (pool-first form, for routing). Routed to the pool''s partition.';
GRANT EXECUTE ON FUNCTION credits.void_grant(text,bigint,text,numeric,text) TO credits_owner;

CREATE FUNCTION credits_router.budget_usage()
RETURNS TABLE (pool text, budget text, members bigint, used numeric, held numeric, credit_limit numeric, percent_used numeric, remaining_limit numeric, period text)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
	SELECT * FROM credits.budget_usage;
$plproxy$;
CREATE VIEW credits.budget_usage AS SELECT * FROM credits_router.budget_usage();
COMMENT ON VIEW credits.budget_usage IS 'One row per budget: its members, used and held this period, limit and what remains. Gathered from every partition.';
GRANT SELECT ON credits.budget_usage TO credits_reader;
GRANT EXECUTE ON FUNCTION credits_router.budget_usage() TO credits_reader;

CREATE FUNCTION credits_router.grant_balances()
RETURNS TABLE (grant_id bigint, pool text, member text, kind text, amount numeric, remaining numeric, held numeric, effective_at timestamp with time zone, expires_at timestamp with time zone, status text, priority integer, external_ref text, metadata jsonb, created_at timestamp with time zone, features text[])
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
	SELECT * FROM credits.grant_balances;
$plproxy$;
CREATE VIEW credits.grant_balances AS SELECT * FROM credits_router.grant_balances();
COMMENT ON VIEW credits.grant_balances IS 'One row per grant: amount, remaining, held and status. Gathered from every partition.';
GRANT SELECT ON credits.grant_balances TO credits_reader;
GRANT EXECUTE ON FUNCTION credits_router.grant_balances() TO credits_reader;

CREATE FUNCTION credits_router.hold_balances()
RETURNS TABLE (hold_id bigint, pool text, member text, feature text, amount numeric, expires_at timestamp with time zone)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
	SELECT * FROM credits.hold_balances;
$plproxy$;
CREATE VIEW credits.hold_balances AS SELECT * FROM credits_router.hold_balances();
COMMENT ON VIEW credits.hold_balances IS 'Pending holds (not lapsed): amount and expiry. Gathered from every partition.';
GRANT SELECT ON credits.hold_balances TO credits_reader;
GRANT EXECUTE ON FUNCTION credits_router.hold_balances() TO credits_reader;

CREATE FUNCTION credits_router.ledger_entries()
RETURNS TABLE (entry_id bigint, at timestamp with time zone, actor name, entry_type text, pool text, member text, grant_id bigint, amount numeric, held numeric, charge_id bigint, hold_id bigint, status text, reason text, feature text, idempotency_key text, metadata jsonb)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
	SELECT * FROM credits.ledger_entries;
$plproxy$;
CREATE VIEW credits.ledger_entries AS SELECT * FROM credits_router.ledger_entries();
COMMENT ON VIEW credits.ledger_entries IS 'The append-only ledger, with pool keys and amounts in credits. Gathered from every partition.';
GRANT SELECT ON credits.ledger_entries TO credits_reader;
GRANT EXECUTE ON FUNCTION credits_router.ledger_entries() TO credits_reader;

CREATE FUNCTION credits_router.maintenance_runs()
RETURNS TABLE (run_id bigint, job text, state text, as_of timestamp with time zone, started_at timestamp with time zone, last_batch_at timestamp with time zone, finished_at timestamp with time zone, batches integer, rows_done bigint, problems bigint, error text, pid integer)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
	SELECT * FROM credits.maintenance_runs;
$plproxy$;
CREATE VIEW credits.maintenance_runs AS SELECT * FROM credits_router.maintenance_runs();
COMMENT ON VIEW credits.maintenance_runs IS 'One row per maintenance run of the last week: state, batches and rows done, error. Gathered from every partition.';
GRANT SELECT ON credits.maintenance_runs TO credits_reader;
GRANT EXECUTE ON FUNCTION credits_router.maintenance_runs() TO credits_reader;

CREATE FUNCTION credits_router.member_usage()
RETURNS TABLE (pool text, member text, used numeric, held numeric, credit_limit numeric, percent_used numeric, remaining_limit numeric, period text, access text)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
	SELECT * FROM credits.member_usage;
$plproxy$;
CREATE VIEW credits.member_usage AS SELECT * FROM credits_router.member_usage();
COMMENT ON VIEW credits.member_usage IS 'One row per member: usage this period, held credits, limit and access. Gathered from every partition.';
GRANT SELECT ON credits.member_usage TO credits_reader;
GRANT EXECUTE ON FUNCTION credits_router.member_usage() TO credits_reader;

CREATE FUNCTION credits_router.monthly_summary()
RETURNS TABLE (pool text, month date, allocated numeric, consumed numeric, refunded numeric, expired numeric, voided numeric, carried_forward numeric, remaining numeric, free_consumed numeric, promo_consumed numeric, plan_consumed numeric, purchased_consumed numeric)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
	SELECT * FROM credits.monthly_summary;
$plproxy$;
CREATE VIEW credits.monthly_summary AS SELECT * FROM credits_router.monthly_summary();
COMMENT ON VIEW credits.monthly_summary IS 'Per pool and month: allocated, consumed, refunded, expired, voided, carried forward, remaining. Gathered from every partition.';
GRANT SELECT ON credits.monthly_summary TO credits_reader;
GRANT EXECUTE ON FUNCTION credits_router.monthly_summary() TO credits_reader;

CREATE FUNCTION credits_router.pool_balances()
RETURNS TABLE (pool text, name text, available numeric, held numeric, free_remaining numeric, promo_remaining numeric, plan_remaining numeric, purchased_remaining numeric, expiring_30d numeric, next_expiry_at timestamp with time zone, scheduled numeric)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
	SELECT * FROM credits.pool_balances;
$plproxy$;
CREATE VIEW credits.pool_balances AS SELECT * FROM credits_router.pool_balances();
COMMENT ON VIEW credits.pool_balances IS 'One row per pool: available, held, remaining by kind, and what expires soon. Gathered from every partition.';
GRANT SELECT ON credits.pool_balances TO credits_reader;
GRANT EXECUTE ON FUNCTION credits_router.pool_balances() TO credits_reader;

CREATE FUNCTION credits_router.subscription_status()
RETURNS TABLE (subscription_id bigint, pool text, plan text, kind text, credits_per_period numeric, period interval, rollover_periods integer, anchor timestamp with time zone, last_period_start timestamp with time zone, next_period_start timestamp with time zone, status text, created_at timestamp with time zone, cancelled_at timestamp with time zone, rollover_max numeric, external_ref text)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
	SELECT * FROM credits.subscription_status;
$plproxy$;
CREATE VIEW credits.subscription_status AS SELECT * FROM credits_router.subscription_status();
COMMENT ON VIEW credits.subscription_status IS 'One row per subscription: what it issues, and when. Gathered from every partition.';
GRANT SELECT ON credits.subscription_status TO credits_reader;
GRANT EXECUTE ON FUNCTION credits_router.subscription_status() TO credits_reader;

CREATE FUNCTION credits_router.transaction_log()
RETURNS TABLE (at timestamp with time zone, pool text, member text, feature text, credits numeric, credit_kinds text[], status text, reason text, charge_id bigint, idempotency_key text, metadata jsonb, operation text, actor name, quantity numeric, unit text, balance_after numeric, refunded numeric)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
	SELECT * FROM credits.transaction_log;
$plproxy$;
CREATE VIEW credits.transaction_log AS SELECT * FROM credits_router.transaction_log();
COMMENT ON VIEW credits.transaction_log IS 'One row per charge attempt or capture, succeeded or refused. Gathered from every partition.';
GRANT SELECT ON credits.transaction_log TO credits_reader;
GRANT EXECUTE ON FUNCTION credits_router.transaction_log() TO credits_reader;

CREATE FUNCTION credits_router.usage_by_feature()
RETURNS TABLE (pool text, month date, member text, feature text, calls bigint, credits numeric)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	RUN ON ALL;
	SELECT * FROM credits.usage_by_feature;
$plproxy$;
CREATE VIEW credits.usage_by_feature AS SELECT * FROM credits_router.usage_by_feature();
COMMENT ON VIEW credits.usage_by_feature IS 'Per pool, month, member and feature: calls and credits charged. Gathered from every partition.';
GRANT SELECT ON credits.usage_by_feature TO credits_reader;
GRANT EXECUTE ON FUNCTION credits_router.usage_by_feature() TO credits_reader;

-- Nothing for PUBLIC; the roles got theirs above and in base.sql.
REVOKE ALL ON ALL ROUTINES IN SCHEMA credits, credits_router FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA credits FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credits_router.pool_hash(text), credits_router.partitions(), credits_router.partition_of(text)
	TO credits_reader, credits_app, credits_owner;
GRANT EXECUTE ON FUNCTION credits.charge_many(text[], text[], numeric[], text[], text[], jsonb[]),
	credits_router.charge_many(text[], text[], numeric[], text[], text[], jsonb[], integer[]) TO credits_app;
