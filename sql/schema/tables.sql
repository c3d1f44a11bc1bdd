-- Every table of the extension, its keys and its indexes: the whole stored
-- schema in one place. Every row that belongs to a pool carries pool_id, and
-- every key starts with it, so pools can be distributed by pool_id. Amounts
-- are bigint micro-credits (10^-6).
--
-- Columns added by an update stay last, so that an updated database and a
-- fresh one have the same column order (test/stress/dump_upgrade.sh).

-- Checked values are domains rather than CHECK constraints: PostgreSQL
-- prepares a table's CHECK constraints again for every statement that
-- writes the table (each of them, whichever columns it writes), a domain's
-- checks once per session and only for the columns a statement assigns. A
-- charge writes four tables; their CHECK constraints were a fifth of its
-- time. Amounts are bigint micro-credits.
CREATE DOMAIN credits.micros AS bigint CHECK (VALUE >= 0);
CREATE DOMAIN credits.positive_micros AS bigint CHECK (VALUE > 0);
CREATE DOMAIN credits.grant_kind AS text CHECK (VALUE IN ('free', 'promo', 'plan', 'purchased'));
CREATE DOMAIN credits.limit_period AS text CHECK (VALUE IN ('month', 'week', 'day', 'none'));
CREATE DOMAIN credits.ledger_entry_type AS text
	CHECK (VALUE IN ('grant', 'charge', 'hold', 'capture', 'release', 'refund', 'expire', 'void', 'adjust'));
CREATE DOMAIN credits.attempt_status AS text
	CHECK (VALUE IN ('succeeded', 'insufficient_credits', 'member_limit_exceeded', 'access_revoked', 'rate_limited',
	                 'budget_exceeded'));
CREATE DOMAIN credits.hold_status AS text CHECK (VALUE IN ('pending', 'captured', 'released', 'lapsed'));

CREATE TABLE credits.pools (
	pool_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	pool text NOT NULL UNIQUE,
	name text,
	settings jsonb NOT NULL DEFAULT '{}',
	topup_increment credits.positive_micros,
	created_at timestamptz NOT NULL DEFAULT now(),
	-- Bumped by every write to the pool: every operation takes the pool row
	-- first (the one lock order), and REPEATABLE READ callers get 40001.
	version bigint NOT NULL DEFAULT 0,
	-- The earliest TTL among the pool's pending holds (may be early, never
	-- late): every write to the pool lapses overdue holds when it has passed.
	next_hold_expiry timestamptz,
	-- Whether any frequency cap is set for the pool (the charge path looks
	-- caps up only then).
	has_caps boolean NOT NULL DEFAULT false,
	-- Whether any alert is set (the pools_alerts trigger fires only then).
	has_alerts boolean NOT NULL DEFAULT false,
	-- Auto top-up (0.3): a request is opened when available credits are
	-- below topup_below at commit (the pools_topups trigger fires only when
	-- it is set).
	topup_below credits.micros,
	topup_amount credits.positive_micros
);

-- A budget: a cap inside a pool on what a group of members (a department,
-- a project) may use per period. used counts the period that begins at
-- period_start; held, the group's pending holds. The members table trigger
-- keeps both (src/pg/member_guard.cpp), so every path that records usage
-- counts against the budget.
CREATE TABLE credits.budgets (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	budget text NOT NULL,
	credit_limit credits.micros,
	period credits.limit_period NOT NULL DEFAULT 'month',
	period_start timestamptz NOT NULL,
	used credits.micros NOT NULL DEFAULT 0,
	held credits.micros NOT NULL DEFAULT 0,
	limit_set_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (pool_id, budget)
);

CREATE TABLE credits.members (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	member text NOT NULL,
	credit_limit credits.micros,
	period credits.limit_period NOT NULL DEFAULT 'month',
	-- the period `used` counts; an older one means nothing used in this one
	period_start timestamptz NOT NULL,
	used credits.micros NOT NULL DEFAULT 0,
	held credits.micros NOT NULL DEFAULT 0,
	revoked boolean NOT NULL DEFAULT false,
	limit_set_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	-- the budget it counts against (0.3)
	budget text,
	PRIMARY KEY (pool_id, member),
	FOREIGN KEY (pool_id, budget) REFERENCES credits.budgets ON DELETE SET NULL (budget)
);

CREATE SEQUENCE credits.grant_id_seq;
CREATE TABLE credits.grants (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	grant_id bigint NOT NULL DEFAULT nextval('credits.grant_id_seq'),
	kind credits.grant_kind NOT NULL,
	priority integer,
	-- the deduction order's first key: priority, else the kind's rank
	rank integer NOT NULL,
	member text,
	amount credits.positive_micros NOT NULL,
	remaining credits.micros NOT NULL,
	held credits.micros NOT NULL DEFAULT 0,
	effective_at timestamptz NOT NULL,
	expires_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	external_ref text,
	metadata jsonb,
	voided_at timestamptz,
	void_reason text,
	expired_at timestamptz,
	-- the subscription and period that issued it
	subscription_id bigint,
	period_index integer,
	-- a retried grant with this key returns the first (0.3)
	idempotency_key text,
	-- usable only by charges and holds for one of these features (NULL: any)
	features text[],
	PRIMARY KEY (pool_id, grant_id)
);
ALTER SEQUENCE credits.grant_id_seq OWNED BY credits.grants.grant_id;
CREATE UNIQUE INDEX grants_grant_id_idx ON credits.grants (grant_id);
CREATE UNIQUE INDEX grants_subscription_period_idx ON credits.grants (pool_id, subscription_id, period_index)
	WHERE subscription_id IS NOT NULL;
CREATE UNIQUE INDEX grants_idempotency_idx ON credits.grants (pool_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL;
-- What expire_grants has left to do.
CREATE INDEX grants_expiry_idx ON credits.grants (expires_at)
	WHERE expired_at IS NULL AND voided_at IS NULL AND expires_at IS NOT NULL;

-- The ledger: one row per change of a grant's balance, plus one head row per
-- charge attempt (a rejected attempt is a head row that moves nothing).
--   amount: change of the grant's remaining; held: change of its held part.
--   For every grant: remaining = sum(amount), held = sum(held).
CREATE SEQUENCE credits.ledger_entry_id_seq;
CREATE TABLE credits.ledger (
	entry_id bigint NOT NULL DEFAULT nextval('credits.ledger_entry_id_seq'),
	pool_id bigint NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	actor name NOT NULL DEFAULT credits.current_actor(),
	entry_type credits.ledger_entry_type NOT NULL,
	member text,
	grant_id bigint,
	amount bigint NOT NULL DEFAULT 0,
	held bigint NOT NULL DEFAULT 0,
	-- the charge this entry belongs to (= the entry_id of its head row)
	charge_id bigint,
	hold_id bigint,
	-- head row of a charge attempt
	status credits.attempt_status,
	reason text,
	feature text,
	idempotency_key text,
	requested bigint,
	quantity numeric,
	balance_after bigint,
	member_used_after bigint,
	metadata jsonb,
	-- Reports (monthly_summary, statement) read every flow of one pool. A
	-- shared ledger interleaves pools, so one pool's entries lie one to a
	-- heap page: the primary key carries what the reports read, and they
	-- read a pool's flows from a few adjacent index pages (an index-only
	-- scan; autovacuum keeps an append-only ledger's visibility map set).
	PRIMARY KEY (pool_id, entry_id) INCLUDE (at, entry_type, grant_id, amount, held)
);
ALTER SEQUENCE credits.ledger_entry_id_seq OWNED BY credits.ledger.entry_id;
CREATE INDEX ledger_charge_id_idx ON credits.ledger (charge_id) WHERE charge_id IS NOT NULL;
-- A succeeded charge owns its key; rejected attempts do not consume it. A
-- hold's head entry carries its key too, but hold keys are the holds table's
-- (holds_idempotency_idx): a hold key never matches a charge key.
CREATE UNIQUE INDEX ledger_idempotency_idx ON credits.ledger (pool_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL AND status = 'succeeded' AND entry_type = 'charge';
-- A member's calls of a feature: successful charges and holds.
CREATE INDEX ledger_calls_idx ON credits.ledger (pool_id, member, feature, at)
	WHERE status = 'succeeded' AND feature IS NOT NULL;
-- all members' calls of a feature, for frequency caps of scope pool (0.3)
CREATE INDEX ledger_pool_calls_idx ON credits.ledger (pool_id, feature, at)
	WHERE status = 'succeeded' AND feature IS NOT NULL;
CREATE INDEX ledger_hold_id_idx ON credits.ledger (hold_id) WHERE hold_id IS NOT NULL;
-- Monitoring counts the attempts of the last minutes (credits.metrics_charge_attempts):
-- the ledger is appended in time order, so a BRIN index finds the recent
-- pages for almost nothing, and costs a charge almost nothing to keep.
CREATE INDEX ledger_at_brin_idx ON credits.ledger USING brin (at);

-- The ledger is append-only, whatever path writes.
CREATE FUNCTION credits._ledger_append_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'the credits ledger is append-only: % is not allowed', TG_OP
		USING ERRCODE = 'insufficient_privilege',
		      HINT = 'Correct a balance with a new entry (credits.void_grant, credits.grant or credits.refund).';
END
$$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON credits.ledger
	FOR EACH STATEMENT EXECUTE FUNCTION credits._ledger_append_only();
-- ALWAYS: also under session_replication_role = replica, which otherwise
-- silences triggers and would let a superuser rewrite history unnoticed.
ALTER TABLE credits.ledger ENABLE ALWAYS TRIGGER ledger_append_only;

-- Member access and limits, checked wherever usage is recorded: the guard
-- checks what a change adds to a member's usage. A row is inserted with
-- usage only by pg_restore (the API enrolls members with none), and a
-- restored row may be past a limit lowered since, or revoked.
CREATE FUNCTION credits._member_usage_guard()
RETURNS trigger AS 'MODULE_PATHNAME', 'credits_member_usage_guard'
LANGUAGE C;
CREATE TRIGGER members_usage_guard BEFORE UPDATE ON credits.members
	FOR EACH ROW EXECUTE FUNCTION credits._member_usage_guard();

CREATE TABLE credits.holds (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	hold_id bigint NOT NULL,
	member text NOT NULL,
	feature text,
	amount credits.micros NOT NULL,
	captured credits.micros NOT NULL DEFAULT 0 CHECK (captured <= amount),
	status credits.hold_status NOT NULL DEFAULT 'pending',
	idempotency_key text,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	settled_at timestamptz,
	metadata jsonb,
	PRIMARY KEY (pool_id, hold_id)
);
CREATE UNIQUE INDEX holds_hold_id_idx ON credits.holds (hold_id);
CREATE UNIQUE INDEX holds_idempotency_idx ON credits.holds (pool_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL;
CREATE INDEX holds_pending_idx ON credits.holds (pool_id, expires_at) WHERE status = 'pending';

-- What a pending hold still holds of each grant, in allocation order.
CREATE TABLE credits.hold_parts (
	pool_id bigint NOT NULL,
	hold_id bigint NOT NULL,
	part integer NOT NULL,
	grant_id bigint NOT NULL,
	held credits.micros NOT NULL,
	PRIMARY KEY (pool_id, hold_id, part),
	FOREIGN KEY (pool_id, hold_id) REFERENCES credits.holds
);

-- The global rate card, with its history.
CREATE TABLE credits.rates (
	feature text NOT NULL,
	effective_from timestamptz NOT NULL,
	credits_per_unit numeric NOT NULL CHECK (credits_per_unit >= 0),
	unit text NOT NULL,
	set_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (feature, effective_from)
);

CREATE TABLE credits.frequency_caps (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	feature text NOT NULL,
	max_calls integer NOT NULL CHECK (max_calls >= 0),
	per interval NOT NULL CHECK (per > interval '0' AND per <= interval '100 years'),
	-- each member's calls, or all members' together (0.3)
	scope text NOT NULL DEFAULT 'member' CHECK (scope IN ('member', 'pool')),
	PRIMARY KEY (pool_id, feature, per, scope)
);

CREATE TABLE credits.subscriptions (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	subscription_id bigint GENERATED ALWAYS AS IDENTITY,
	plan text NOT NULL,
	credits_per_period bigint NOT NULL CHECK (credits_per_period > 0),
	period interval NOT NULL CHECK (period > interval '0'),
	rollover_periods integer NOT NULL CHECK (rollover_periods >= 0),
	kind text NOT NULL CHECK (kind IN ('free', 'promo', 'plan', 'purchased')),
	anchor timestamptz NOT NULL,
	-- the last period whose grant was issued (or skipped as already expired)
	issued_through integer NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	cancelled_at timestamptz,
	-- 0.3: at each period start, what remains of earlier periods' grants
	-- beyond rollover_max expires (NULL: no cap); the external_ref of every
	-- grant issued (NULL: the plan)
	rollover_max credits.micros,
	external_ref text,
	PRIMARY KEY (pool_id, subscription_id)
);
CREATE UNIQUE INDEX subscriptions_id_idx ON credits.subscriptions (subscription_id);
CREATE UNIQUE INDEX subscriptions_active_idx ON credits.subscriptions (pool_id, plan) WHERE cancelled_at IS NULL;

CREATE TABLE credits.alert_rules (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	metric text NOT NULL CHECK (metric IN ('pool_balance_below', 'member_usage_percent')),
	threshold numeric NOT NULL CHECK (threshold >= 0),
	PRIMARY KEY (pool_id, metric)
);

-- Which crossings have fired: an alert fires once per crossing and re-arms
-- when the value recovers. member is '' for pool-wide metrics.
CREATE TABLE credits.alert_state (
	pool_id bigint NOT NULL,
	metric text NOT NULL,
	member text NOT NULL,
	fired boolean NOT NULL,
	-- member_usage_percent: the member's period when last checked; a new
	-- period re-arms (usage starts again from 0)
	period_start timestamptz,
	PRIMARY KEY (pool_id, metric, member)
);

CREATE TABLE credits.alerts (
	id bigint GENERATED ALWAYS AS IDENTITY,
	pool_id bigint NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	pool text NOT NULL,
	member text,
	metric text NOT NULL,
	threshold numeric NOT NULL,
	value numeric NOT NULL,
	PRIMARY KEY (pool_id, id)
);

-- The keys of retried writes that are not grants, charges or holds
-- (void_grant, refund, capture; 0.3): per pool and per function, with the
-- arguments of the first call and its result, which a retry returns.
CREATE TABLE credits.write_keys (
	pool_id bigint NOT NULL REFERENCES credits.pools,
	function text NOT NULL,
	idempotency_key text NOT NULL,
	arguments jsonb NOT NULL,
	result jsonb NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (pool_id, function, idempotency_key)
);

-- Auto top-up requests (0.3): the extension asks, the application pays and
-- grants with the request's key. At most one open request per pool.
CREATE SEQUENCE credits.topup_request_id_seq;
CREATE TABLE credits.topup_requests (
	request_id bigint NOT NULL DEFAULT nextval('credits.topup_request_id_seq'),
	pool text NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	amount numeric NOT NULL,
	idempotency_key text NOT NULL,
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'settled', 'cancelled')),
	pool_id bigint NOT NULL REFERENCES credits.pools,
	-- when it was settled or cancelled; the grant that settled it
	closed_at timestamptz,
	grant_id bigint,
	PRIMARY KEY (pool_id, request_id)
);
ALTER SEQUENCE credits.topup_request_id_seq OWNED BY credits.topup_requests.request_id;
CREATE UNIQUE INDEX topup_requests_id_idx ON credits.topup_requests (request_id);
CREATE UNIQUE INDEX topup_requests_open_idx ON credits.topup_requests (pool_id) WHERE status = 'open';
CREATE UNIQUE INDEX topup_requests_key_idx ON credits.topup_requests (pool_id, idempotency_key);

-- One row per run of a maintenance job (expire_grants, renew_subscriptions,
-- expire_holds, verify), updated in the transaction of each batch, so it
-- shows what has committed. A run whose session died keeps finished_at NULL
-- (credits.maintenance_runs shows it as interrupted).
CREATE TABLE credits.maintenance_log (
	run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job text NOT NULL,
	as_of timestamptz NOT NULL,
	pid integer NOT NULL,
	started_at timestamptz NOT NULL,
	last_batch_at timestamptz,
	finished_at timestamptz,
	batches integer NOT NULL DEFAULT 0,
	rows_done bigint NOT NULL DEFAULT 0,
	-- verify: the problems it found
	problems bigint,
	-- SQLSTATE and message of the error that ended the run
	error text
);
CREATE INDEX maintenance_log_job_idx ON credits.maintenance_log (job, started_at);

-- pg_dump keeps the rows of extension tables marked as configuration (and
-- the sequences' positions, so no restored id is handed out again).
SELECT pg_catalog.pg_extension_config_dump('credits.pools', '');
SELECT pg_catalog.pg_extension_config_dump('credits.pools_pool_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.members', '');
SELECT pg_catalog.pg_extension_config_dump('credits.budgets', '');
SELECT pg_catalog.pg_extension_config_dump('credits.grants', '');
SELECT pg_catalog.pg_extension_config_dump('credits.grant_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.ledger', '');
SELECT pg_catalog.pg_extension_config_dump('credits.ledger_entry_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.holds', '');
SELECT pg_catalog.pg_extension_config_dump('credits.hold_parts', '');
SELECT pg_catalog.pg_extension_config_dump('credits.rates', '');
SELECT pg_catalog.pg_extension_config_dump('credits.frequency_caps', '');
SELECT pg_catalog.pg_extension_config_dump('credits.subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('credits.subscriptions_subscription_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.alert_rules', '');
SELECT pg_catalog.pg_extension_config_dump('credits.alert_state', '');
SELECT pg_catalog.pg_extension_config_dump('credits.alerts', '');
SELECT pg_catalog.pg_extension_config_dump('credits.alerts_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.write_keys', '');
SELECT pg_catalog.pg_extension_config_dump('credits.topup_requests', '');
SELECT pg_catalog.pg_extension_config_dump('credits.topup_request_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.maintenance_log', '');
SELECT pg_catalog.pg_extension_config_dump('credits.maintenance_log_run_id_seq', '');

-- What charge(), try_charge(), charge_usage(), try_charge_usage() and
-- capture() return. reason: NULL when succeeded, else the message of the
-- limit that fired (the error's message).
CREATE TYPE credits.charge_result AS (
	charge_id bigint,
	status text,
	charged numeric,
	balance numeric,
	member_used numeric,
	replayed boolean,
	reason text
);
