-- Grants: lots of credits added to a pool, and voids.

CREATE FUNCTION credits.grant(pool text, amount numeric, kind text DEFAULT 'purchased',
                              expires_at timestamptz DEFAULT NULL, member text DEFAULT NULL,
                              effective_at timestamptz DEFAULT now(), priority integer DEFAULT NULL,
                              external_ref text DEFAULT NULL, metadata jsonb DEFAULT NULL,
                              idempotency_key text DEFAULT NULL, features text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
	v_amount bigint;
	v_rank integer;
	v_id bigint;
	v_unspent numeric;
	v_key text := idempotency_key;
	v_first credits.grants;
	v_features text[];
	v_feature text;
BEGIN
	PERFORM credits._require('pool', pool, 'amount', amount, 'kind', kind, 'effective_at', effective_at);
	IF v_key IS NOT NULL THEN
		PERFORM credits._check_key('idempotency_key', v_key);
	END IF;
	v_amount := credits._amount(amount, 'amount', false);
	-- scoped credits: kept as a sorted set of feature keys
	IF features IS NOT NULL THEN
		IF cardinality(features) = 0 OR array_position(features, NULL) IS NOT NULL THEN
			RAISE EXCEPTION 'features must name at least one feature, and no NULL'
				USING ERRCODE = 'invalid_parameter_value',
				      DETAIL = format('features were %s.', features),
				      HINT = 'Pass features => NULL for credits usable by any charge.';
		END IF;
		FOREACH v_feature IN ARRAY features LOOP
			PERFORM credits._check_key('feature', v_feature);
		END LOOP;
		SELECT array_agg(DISTINCT f ORDER BY f) INTO v_features FROM unnest(features) f;
	END IF;
	-- the kind is checked even when an explicit priority replaces its rank
	v_rank := credits._kind_rank(kind);
	IF priority IS NOT NULL THEN
		v_rank := priority;
	END IF;
	IF NOT isfinite(effective_at) OR (expires_at IS NOT NULL AND NOT isfinite(expires_at)) THEN
		RAISE EXCEPTION 'a grant''s effective_at and expires_at must be finite'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('effective_at %s, expires_at %s.', effective_at, coalesce(expires_at::text, 'NULL')),
			      HINT = 'Pass expires_at => NULL for credits that never expire.';
	END IF;
	IF expires_at IS NOT NULL AND expires_at <= effective_at THEN
		RAISE EXCEPTION 'a grant must expire after it takes effect'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('effective_at %s, expires_at %s.', effective_at, expires_at);
	END IF;
	v_pool := credits._lock_pool(pool);
	-- A retried grant (a webhook delivered twice) returns the first one. The
	-- pool lock orders the retries; the key is the pool's, for grants only.
	IF v_key IS NOT NULL THEN
		SELECT * INTO v_first FROM credits.grants g WHERE g.pool_id = v_pool.pool_id AND g.idempotency_key = v_key;
		IF FOUND THEN
			IF v_first.amount <> v_amount OR v_first.kind <> kind OR v_first.member IS DISTINCT FROM member
			   OR v_first.expires_at IS DISTINCT FROM expires_at OR v_first.features IS DISTINCT FROM v_features THEN
				RAISE EXCEPTION 'idempotency key "%" was used for a different grant', v_key
					USING ERRCODE = 'CR005',
					      DETAIL = format('the first grant was %s %s credits%s, expires_at %s.',
					                      credits._to_credits(v_first.amount), v_first.kind,
					                      CASE WHEN v_first.member IS NOT NULL
					                           THEN format(' for member "%s"', v_first.member) ELSE '' END,
					                      coalesce(v_first.expires_at::text, 'NULL')),
					      HINT = 'Use a new key for a new grant; repeat a grant only with the same amount, kind, member, expiry and features.';
			END IF;
			RETURN v_first.grant_id;
		END IF;
	END IF;
	IF kind = 'purchased' AND v_pool.topup_increment IS NOT NULL AND v_amount % v_pool.topup_increment <> 0 THEN
		RAISE EXCEPTION 'purchased amount % is not a multiple of the pool''s top-up increment', amount
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('amount %s, topup_increment %s.', amount, credits._to_credits(v_pool.topup_increment)),
			      HINT = 'Buy credits in multiples of the top-up increment.';
	END IF;
	-- Balances are summed in int64 micro-credits: a pool's unspent credits
	-- stay below 9 * 10^12 so that no sum of them can overflow.
	SELECT coalesce(sum(g.remaining + g.held), 0) INTO v_unspent
	  FROM credits.grants g
	 WHERE g.pool_id = v_pool.pool_id AND g.voided_at IS NULL AND g.expired_at IS NULL;
	IF v_unspent + v_amount > 9000000000000000000 THEN
		RAISE EXCEPTION 'grant of % would take pool "%" above 9000000000000 unspent credits', amount, pool
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('amount %s, unspent %s.', amount, credits._to_credits(v_unspent)),
			      HINT = 'Void what will not be used, or keep the credits in another pool.';
	END IF;
	IF member IS NOT NULL THEN
		PERFORM credits._enroll(v_pool.pool_id, member);
	END IF;
	INSERT INTO credits.grants (pool_id, kind, priority, rank, member, amount, remaining,
	                            effective_at, expires_at, external_ref, metadata, idempotency_key, features)
	VALUES (v_pool.pool_id, kind, priority, v_rank, member, v_amount, v_amount,
	        effective_at, expires_at, external_ref, metadata, v_key, v_features)
	RETURNING grant_id INTO v_id;
	-- dated when it takes effect, as reports count it (an expiry is dated at
	-- expires_at; every other entry when it happened)
	INSERT INTO credits.ledger (pool_id, at, entry_type, member, grant_id, amount, metadata)
	VALUES (v_pool.pool_id, effective_at, 'grant', member, v_id, v_amount, metadata);
	RETURN v_id;
END
$$;

-- Removes credits of a grant (e.g. a chargeback). amount NULL voids the
-- grant: what remains goes, voided_at is set and credits that come back to
-- it later (a refund, a release) are voided too. An amount voids only that
-- part of the unheld remaining: the grant stays live (voided_at stays NULL)
-- and the part shows in the ledger and the reports as voided.
CREATE FUNCTION credits.void_grant(grant_id bigint, reason text DEFAULT NULL, amount numeric DEFAULT NULL,
                                   idempotency_key text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
	v_amount bigint;
	v_args jsonb := jsonb_build_object('grant_id', grant_id, 'amount', amount);
	v_first jsonb;
	g credits.grants;
BEGIN
	PERFORM credits._require('grant_id', grant_id);
	IF idempotency_key IS NOT NULL THEN
		PERFORM credits._check_key('idempotency_key', idempotency_key);
	END IF;
	v_amount := credits._amount(amount, 'amount', false);
	SELECT pool_id INTO v_pool_id FROM credits.grants WHERE grants.grant_id = void_grant.grant_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'grant % not found', grant_id USING ERRCODE = 'CR010';
	END IF;
	PERFORM credits._lock_pool_id(v_pool_id);
	v_first := credits._replayed(v_pool_id, 'void_grant', idempotency_key, v_args);
	IF v_first IS NOT NULL THEN
		RETURN v_first::numeric;
	END IF;
	SELECT * INTO g FROM credits.grants WHERE pool_id = v_pool_id AND grants.grant_id = void_grant.grant_id;
	IF v_amount IS NULL THEN
		v_amount := CASE WHEN g.voided_at IS NULL THEN g.remaining ELSE 0 END;
		IF g.voided_at IS NULL THEN
			UPDATE credits.grants SET remaining = 0, voided_at = now(), void_reason = reason
			 WHERE pool_id = v_pool_id AND grants.grant_id = void_grant.grant_id;
			INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, reason)
			VALUES (v_pool_id, 'void', g.member, g.grant_id, -g.remaining, reason);
		END IF;
	ELSE
		IF v_amount > g.remaining THEN
			RAISE EXCEPTION 'cannot void % credits of grant %: % remain unheld', amount, grant_id,
					credits._to_credits(g.remaining)
				USING ERRCODE = 'invalid_parameter_value',
				      DETAIL = format('amount %s, remaining %s, held %s.', credits._to_credits(g.amount),
				                      credits._to_credits(g.remaining), credits._to_credits(g.held)),
				      HINT = 'Void at most what remains unheld, or pass amount => NULL to void the whole grant.';
		END IF;
		UPDATE credits.grants SET remaining = remaining - v_amount
		 WHERE pool_id = v_pool_id AND grants.grant_id = void_grant.grant_id;
		INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, reason)
		VALUES (v_pool_id, 'void', g.member, g.grant_id, -v_amount, reason);
	END IF;
	PERFORM credits._remember(v_pool_id, 'void_grant', idempotency_key, v_args, to_jsonb(credits._to_credits(v_amount)));
	RETURN credits._to_credits(v_amount);
END
$$;

-- A grant that can no longer be spent: voided, expired by expire_grants, or
-- past its expires_at.
CREATE FUNCTION credits._grant_dead(g credits.grants, p_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN g.voided_at IS NOT NULL OR g.expired_at IS NOT NULL OR (g.expires_at IS NOT NULL AND g.expires_at <= p_at);


-- Moves a live grant's expiry (an amendment): any time, even one before
-- effective_at (a time in the past expires it at the next expire_grants),
-- NULL for never. Recorded as an 'adjust' entry of amount 0 whose metadata
-- has the old and the new time. A voided or expired grant raises 22023.
CREATE FUNCTION credits.set_grant_expiry(grant_id bigint, expires_at timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool_id bigint;
	g credits.grants;
BEGIN
	PERFORM credits._require('grant_id', grant_id);
	IF expires_at IS NOT NULL AND NOT isfinite(expires_at) THEN
		RAISE EXCEPTION 'invalid expires_at: must be finite' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Pass NULL for credits that never expire.';
	END IF;
	SELECT pool_id INTO v_pool_id FROM credits.grants WHERE grants.grant_id = set_grant_expiry.grant_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'grant % not found', grant_id USING ERRCODE = 'CR010';
	END IF;
	PERFORM credits._lock_pool_id(v_pool_id);
	SELECT * INTO g FROM credits.grants WHERE pool_id = v_pool_id AND grants.grant_id = set_grant_expiry.grant_id;
	IF g.voided_at IS NOT NULL OR g.expired_at IS NOT NULL OR g.expires_at <= now() THEN
		RAISE EXCEPTION 'grant % is %: its expiry cannot be moved', grant_id,
				CASE WHEN g.voided_at IS NOT NULL THEN 'voided' ELSE 'expired' END
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('expires_at %s.', coalesce(g.expires_at::text, 'NULL'));
	END IF;
	UPDATE credits.grants SET expires_at = set_grant_expiry.expires_at
	 WHERE pool_id = v_pool_id AND grants.grant_id = set_grant_expiry.grant_id;
	INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, reason, metadata)
	VALUES (v_pool_id, 'adjust', g.member, g.grant_id, 0, 'expiry amended',
	        jsonb_build_object('expires_at_before', g.expires_at, 'expires_at', set_grant_expiry.expires_at));
END
$$;

-- Pool-first form (see credits._pool_owns).
CREATE FUNCTION credits.void_grant(pool text, grant_id bigint, reason text DEFAULT NULL, amount numeric DEFAULT NULL,
                                   idempotency_key text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'grant_id', grant_id);
	PERFORM credits._pool_owns(pool, 'grant', grant_id);
	RETURN credits.void_grant(grant_id, reason, amount, idempotency_key);
END
$$;

-- Pool-first form (see credits._pool_owns).
CREATE FUNCTION credits.set_grant_expiry(pool text, grant_id bigint, expires_at timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'grant_id', grant_id);
	PERFORM credits._pool_owns(pool, 'grant', grant_id);
	PERFORM credits.set_grant_expiry(grant_id, expires_at);
END
$$;

-- What \df+ and \dv+ show.
COMMENT ON FUNCTION credits.grant(text, numeric, text, timestamptz, text, timestamptz, integer, text, jsonb, text, text[]) IS 'Adds a lot of credits (free, promo, plan or purchased) to a pool; returns the grant id.';
COMMENT ON FUNCTION credits.void_grant(bigint, text, numeric, text) IS 'Removes what remains of a grant, or part of it (e.g. a chargeback); returns the amount voided.';
COMMENT ON FUNCTION credits.void_grant(text, bigint, text, numeric, text) IS 'void_grant() of a grant of the named pool (pool-first form, for routing).';

COMMENT ON FUNCTION credits.set_grant_expiry(bigint, timestamptz) IS 'Moves a live grant''s expiry (NULL: never); recorded as an adjust entry.';
COMMENT ON FUNCTION credits.set_grant_expiry(text, bigint, timestamptz) IS 'set_grant_expiry() of a grant of the named pool (pool-first form, for routing).';
