-- Internal helpers written in C (src/pg). Amounts are stored as bigint
-- micro-credits (10^-6); the API speaks numeric.

CREATE FUNCTION credits._amount(value numeric, what text, allow_zero boolean DEFAULT true)
RETURNS bigint AS 'MODULE_PATHNAME', 'credits_amount'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION credits._require(VARIADIC "any")
RETURNS void AS 'MODULE_PATHNAME', 'credits_require'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION credits._kind_rank(kind text)
RETURNS integer AS 'MODULE_PATHNAME', 'credits_kind_rank'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION credits._period_start(period text, at timestamptz)
RETURNS timestamptz AS 'MODULE_PATHNAME', 'credits_period_start'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The role that called into the API, seen through SECURITY DEFINER frames.
CREATE FUNCTION credits.current_actor()
RETURNS name AS 'MODULE_PATHNAME', 'credits_current_actor'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION credits._to_credits(micros bigint)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.trim_scale(pg_catalog.numeric_div(micros::pg_catalog.numeric, 1000000::pg_catalog.numeric));

CREATE FUNCTION credits._to_credits(micros numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.trim_scale(pg_catalog.numeric_div(micros, 1000000::pg_catalog.numeric));

-- The application's keys (pool, member, feature, plan, idempotency key) are
-- 1 to 1000 bytes of text: 22023 for an empty key (a missing id in the
-- caller) or a longer one (it would not fit an index entry: 54000).
CREATE FUNCTION credits._check_key(what text, key text)
RETURNS void AS 'MODULE_PATHNAME', 'credits_check_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Whether the caller runs inside a transaction block (a procedure that
-- does may not COMMIT).
CREATE FUNCTION credits._in_transaction_block()
RETURNS boolean AS 'MODULE_PATHNAME', 'credits_in_transaction_block'
LANGUAGE C VOLATILE;

-- What \df+ and \dv+ show.
COMMENT ON FUNCTION credits.current_actor() IS 'The role that called into the credits API, as recorded in the ledger.';
