-- Charges and balances (C++: src/pg/charge.cpp and its neighbours).

CREATE FUNCTION credits.charge(pool text, member text, amount numeric, feature text DEFAULT NULL,
                               idempotency_key text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS credits.charge_result AS 'MODULE_PATHNAME', 'credits_charge'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.try_charge(pool text, member text, amount numeric, feature text DEFAULT NULL,
                                   idempotency_key text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS credits.charge_result AS 'MODULE_PATHNAME', 'credits_try_charge'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.balance(pool text, member text DEFAULT NULL, feature text DEFAULT NULL)
RETURNS numeric AS 'MODULE_PATHNAME', 'credits_balance'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.charge_usage(pool text, member text, feature text, quantity numeric,
                                     idempotency_key text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS credits.charge_result AS 'MODULE_PATHNAME', 'credits_charge_usage'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.try_charge_usage(pool text, member text, feature text, quantity numeric,
                                         idempotency_key text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS credits.charge_result AS 'MODULE_PATHNAME', 'credits_try_charge_usage'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Many charges in one call: each event as try_charge would decide it, in
-- array order; rows back in ord order.
CREATE FUNCTION credits.charge_many(pools text[], members text[], amounts numeric[], features text[] DEFAULT NULL,
                                    idempotency_keys text[] DEFAULT NULL, metadata jsonb[] DEFAULT NULL)
RETURNS TABLE (ord integer, charge_id bigint, status text, charged numeric, balance numeric, member_used numeric,
               replayed boolean, reason text)
AS 'MODULE_PATHNAME', 'credits_charge_many'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- What \df+ and \dv+ show.
COMMENT ON FUNCTION credits.charge(text, text, numeric, text, text, jsonb) IS 'Charges a member''s action to its pool in FIFO order; raises a CR error when refused.';
COMMENT ON FUNCTION credits.try_charge(text, text, numeric, text, text, jsonb) IS 'Charges like charge(), but returns a refusal as a status and logs the failed attempt.';
COMMENT ON FUNCTION credits.balance(text, text, text) IS 'The credits a pool, or a charge by one member of it or for one feature, can spend now.';
COMMENT ON FUNCTION credits.charge_usage(text, text, text, numeric, text, jsonb) IS 'Charges a quantity of a feature at the rate in force now.';
COMMENT ON FUNCTION credits.try_charge_usage(text, text, text, numeric, text, jsonb) IS 'Charges like charge_usage(), but returns a refusal as a status and logs the failed attempt.';
COMMENT ON FUNCTION credits.charge_many(text[], text[], numeric[], text[], text[], jsonb[]) IS 'Charges many events in one call, each as try_charge would; one row per event, in order.';
