-- Idempotency keys of void_grant, refund and capture (grants keep theirs in
-- credits.grants, charges and holds in the ledger and credits.holds). The
-- caller holds the pool's lock, which orders retries of one key.

-- The first call's result for a retried key (NULL: the key is new, or no
-- key); CR005 when the key was first used with other arguments.
CREATE FUNCTION credits._replayed(p_pool_id bigint, p_function text, p_key text, p_arguments jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k credits.write_keys;
BEGIN
	IF p_key IS NULL THEN
		RETURN NULL;
	END IF;
	SELECT * INTO k FROM credits.write_keys
	 WHERE pool_id = p_pool_id AND function = p_function AND idempotency_key = p_key;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF k.arguments <> p_arguments THEN
		RAISE EXCEPTION 'idempotency key "%" was used for a different %', p_key, p_function
			USING ERRCODE = 'CR005',
			      DETAIL = format('the first call had %s; this one has %s.', k.arguments, p_arguments),
			      HINT = format('Use a new key for a new %s; repeat one only with the same arguments.', p_function);
	END IF;
	RETURN k.result;
END
$$;

-- Records a keyed write's arguments and result (nothing without a key).
CREATE FUNCTION credits._remember(p_pool_id bigint, p_function text, p_key text, p_arguments jsonb, p_result jsonb)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	INSERT INTO credits.write_keys (pool_id, function, idempotency_key, arguments, result)
	SELECT p_pool_id, p_function, p_key, p_arguments, p_result WHERE p_key IS NOT NULL;
END;
