-- The tables of the hand-written variants (bench/plpgsql_charge.sql and the
-- floor, bench/floor.sql): the same columns, types, constraints and indexes
-- as credits.pools, credits.members, credits.grants and credits.ledger of
-- credits 0.2 (sql/credits--0.1.sql + sql/credits--0.1--0.2.sql), created in
-- the schema first on search_path. Left out: the extension's triggers
-- (members_usage_guard, the deferred alert triggers on pools and members,
-- the ledger's append-only statement trigger), foreign keys to tables the
-- charge path never writes, roles and privileges, and
-- credits.current_actor() as the ledger's actor default (current_user here).
-- When credits' tables change, change these with them (bench/load.sql copies
-- credits' rows column by column into these).

CREATE TABLE pools (
	pool_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	pool text NOT NULL UNIQUE,
	name text,
	settings jsonb NOT NULL DEFAULT '{}',
	topup_increment bigint CHECK (topup_increment > 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	version bigint NOT NULL DEFAULT 0,
	next_hold_expiry timestamptz,
	has_caps boolean NOT NULL DEFAULT false,
	has_alerts boolean NOT NULL DEFAULT false
);

CREATE TABLE members (
	pool_id bigint NOT NULL REFERENCES pools,
	member text NOT NULL,
	credit_limit bigint CHECK (credit_limit >= 0),
	period text NOT NULL DEFAULT 'month' CHECK (period IN ('month', 'week', 'day', 'none')),
	period_start timestamptz NOT NULL,
	used bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
	held bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
	revoked boolean NOT NULL DEFAULT false,
	limit_set_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (pool_id, member)
);

CREATE SEQUENCE grant_id_seq;
CREATE TABLE grants (
	pool_id bigint NOT NULL REFERENCES pools,
	grant_id bigint NOT NULL DEFAULT nextval('grant_id_seq'),
	kind text NOT NULL CHECK (kind IN ('free', 'promo', 'plan', 'purchased')),
	priority integer,
	rank integer NOT NULL,
	member text,
	amount bigint NOT NULL CHECK (amount > 0),
	remaining bigint NOT NULL CHECK (remaining >= 0),
	held bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
	effective_at timestamptz NOT NULL,
	expires_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	external_ref text,
	metadata jsonb,
	voided_at timestamptz,
	void_reason text,
	expired_at timestamptz,
	subscription_id bigint,
	period_index integer,
	PRIMARY KEY (pool_id, grant_id),
	CHECK (expires_at IS NULL OR expires_at > effective_at)
);
ALTER SEQUENCE grant_id_seq OWNED BY grants.grant_id;
CREATE UNIQUE INDEX ON grants (grant_id);
CREATE UNIQUE INDEX ON grants (pool_id, subscription_id, period_index) WHERE subscription_id IS NOT NULL;
CREATE INDEX ON grants (expires_at) WHERE expired_at IS NULL AND voided_at IS NULL AND expires_at IS NOT NULL;

CREATE SEQUENCE ledger_entry_id_seq;
CREATE TABLE ledger (
	entry_id bigint NOT NULL DEFAULT nextval('ledger_entry_id_seq'),
	pool_id bigint NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	actor name NOT NULL DEFAULT current_user,
	entry_type text NOT NULL
		CHECK (entry_type IN ('grant', 'charge', 'hold', 'capture', 'release', 'refund', 'expire', 'void', 'adjust')),
	member text,
	grant_id bigint,
	amount bigint NOT NULL DEFAULT 0,
	held bigint NOT NULL DEFAULT 0,
	charge_id bigint,
	hold_id bigint,
	status text CHECK (status IN ('succeeded', 'insufficient_credits', 'member_limit_exceeded',
	                              'access_revoked', 'rate_limited')),
	reason text,
	feature text,
	idempotency_key text,
	requested bigint,
	quantity numeric,
	balance_after bigint,
	member_used_after bigint,
	metadata jsonb,
	PRIMARY KEY (pool_id, entry_id)
);
ALTER SEQUENCE ledger_entry_id_seq OWNED BY ledger.entry_id;
CREATE INDEX ON ledger (pool_id, member, feature, at) WHERE status = 'succeeded' AND feature IS NOT NULL;
CREATE INDEX ON ledger (charge_id) WHERE charge_id IS NOT NULL;
CREATE INDEX ON ledger (hold_id) WHERE hold_id IS NOT NULL;
CREATE UNIQUE INDEX ON ledger (pool_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL AND status = 'succeeded' AND entry_type = 'charge';
