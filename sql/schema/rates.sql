-- The global rate card and per-pool frequency caps.

CREATE FUNCTION credits.set_rate(feature text, credits_per_unit numeric, unit text DEFAULT 'request',
                                 effective_from timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('feature', feature, 'credits_per_unit', credits_per_unit, 'unit', unit,
	                         'effective_from', effective_from);
	PERFORM credits._check_key('feature', feature);
	IF NOT isfinite(effective_from) THEN
		RAISE EXCEPTION 'invalid effective_from: must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF credits_per_unit < 0 OR credits_per_unit = 'NaN' OR credits_per_unit > 1000000000000 THEN
		RAISE EXCEPTION 'invalid credits_per_unit: must be a finite number from 0 to 1000000000000'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('credits_per_unit was %s.', credits_per_unit);
	END IF;
	INSERT INTO credits.rates (feature, effective_from, credits_per_unit, unit)
	VALUES (set_rate.feature, set_rate.effective_from, set_rate.credits_per_unit, set_rate.unit)
	ON CONFLICT ON CONSTRAINT rates_pkey DO UPDATE
	   SET credits_per_unit = excluded.credits_per_unit, unit = excluded.unit, set_at = now();
END
$$;

-- The rates in force now, and those scheduled to take effect later.
CREATE VIEW credits.rate_card AS
SELECT r.feature, r.unit, r.credits_per_unit, r.effective_from,
       lead(r.effective_from) OVER (PARTITION BY r.feature ORDER BY r.effective_from) AS effective_until
  FROM credits.rates r
 WHERE r.effective_from > now()
    OR r.effective_from = (SELECT max(c.effective_from) FROM credits.rates c
                            WHERE c.feature = r.feature AND c.effective_from <= now());

CREATE FUNCTION credits.set_frequency_cap(pool text, feature text, max_calls integer, per interval,
                                          scope text DEFAULT 'member')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool, 'feature', feature, 'max_calls', max_calls, 'per', per, 'scope', scope);
	IF max_calls < 0 THEN
		RAISE EXCEPTION 'invalid max_calls: must be 0 or more' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('max_calls was %s.', max_calls);
	END IF;
	PERFORM credits._check_key('feature', feature);
	-- at most 100 years: a charge looks back `per` from now
	IF per <= interval '0' OR per > interval '100 years' THEN
		RAISE EXCEPTION 'invalid per: must be a positive interval of at most 100 years'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('per was %s.', per);
	END IF;
	IF scope NOT IN ('member', 'pool') THEN
		RAISE EXCEPTION 'unknown scope "%"', scope
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Scopes: member (each member''s calls), pool (all members'' calls together).';
	END IF;
	v_pool := credits._lock_pool(pool);
	-- one cap per window and scope: setting it again changes max_calls
	INSERT INTO credits.frequency_caps (pool_id, feature, max_calls, per, scope)
	VALUES (v_pool.pool_id, set_frequency_cap.feature, set_frequency_cap.max_calls, set_frequency_cap.per,
	        set_frequency_cap.scope)
	ON CONFLICT ON CONSTRAINT frequency_caps_pkey DO UPDATE SET max_calls = excluded.max_calls;
	UPDATE credits.pools SET has_caps = true WHERE pool_id = v_pool.pool_id;
END
$$;

-- per and scope NULL (the defaults): every cap on the feature that matches.
CREATE FUNCTION credits.remove_frequency_cap(pool text, feature text, per interval DEFAULT NULL,
                                             scope text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pool credits.pools;
BEGIN
	PERFORM credits._require('pool', pool, 'feature', feature);
	v_pool := credits._lock_pool(pool);
	DELETE FROM credits.frequency_caps c
	 WHERE c.pool_id = v_pool.pool_id AND c.feature = remove_frequency_cap.feature
	   AND (remove_frequency_cap.per IS NULL OR c.per = remove_frequency_cap.per)
	   AND (remove_frequency_cap.scope IS NULL OR c.scope = remove_frequency_cap.scope);
	UPDATE credits.pools
	   SET has_caps = EXISTS (SELECT FROM credits.frequency_caps c WHERE c.pool_id = v_pool.pool_id)
	 WHERE pool_id = v_pool.pool_id;
END
$$;

-- What \df+ and \dv+ show.
COMMENT ON FUNCTION credits.set_rate(text, numeric, text, timestamptz) IS 'Sets a feature''s rate (credits per unit) from a given time on; the history is kept.';
COMMENT ON VIEW credits.rate_card IS 'The rates in force now and those scheduled.';
COMMENT ON FUNCTION credits.set_frequency_cap(text, text, integer, interval, text) IS 'Caps how often each member of a pool (or all of them together) may call a feature within a window.';
COMMENT ON FUNCTION credits.remove_frequency_cap(text, text, interval, text) IS 'Removes a pool''s frequency caps on a feature (those of one window or scope, or all).';
