-- Refunds: credits return to the grants they came from, the last consumed first.

CREATE FUNCTION credits._refundable_parts(p_pool_id bigint, p_charge_id bigint)
RETURNS TABLE (grant_id bigint, entry_id bigint, refundable bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT l.grant_id, max(l.entry_id) FILTER (WHERE l.entry_type <> 'refund'),
	       sum(CASE WHEN l.entry_type = 'capture' THEN -l.held ELSE -l.amount END)::bigint
	  FROM credits.ledger l
	 WHERE l.pool_id = p_pool_id AND l.charge_id = p_charge_id AND l.grant_id IS NOT NULL
	   AND l.entry_type IN ('charge', 'capture', 'refund')
	 GROUP BY l.grant_id;
END;

-- Gives credits of a succeeded charge or capture back to the grants they
-- came from, the last consumed first. A part whose grant has expired or been
-- voided since is refunded and expires (or is voided) at once.
CREATE FUNCTION credits.refund(charge_id bigint, amount numeric DEFAULT NULL, reason text DEFAULT NULL,
                               idempotency_key text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	head credits.ledger;
	v_amount bigint;
	v_refundable bigint;
	v_left bigint;
	v_back bigint;
	part record;
	g credits.grants;
	m credits.members;
	v_args jsonb := jsonb_build_object('charge_id', charge_id, 'amount', amount);
	v_first jsonb;
BEGIN
	PERFORM credits._require('charge_id', charge_id);
	IF idempotency_key IS NOT NULL THEN
		PERFORM credits._check_key('idempotency_key', idempotency_key);
	END IF;
	v_amount := credits._amount(amount, 'amount', false);
	SELECT * INTO head FROM credits.ledger l
	 WHERE l.charge_id = refund.charge_id AND l.entry_id = refund.charge_id
	   AND l.entry_type IN ('charge', 'capture') AND l.status = 'succeeded';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'charge % not found', charge_id
			USING ERRCODE = 'CR010', HINT = 'Pass the charge_id of a succeeded charge or capture.';
	END IF;
	PERFORM credits._lock_pool_id(head.pool_id);
	v_first := credits._replayed(head.pool_id, 'refund', idempotency_key, v_args);
	IF v_first IS NOT NULL THEN
		RETURN v_first::numeric;
	END IF;
	SELECT coalesce(sum(p.refundable), 0) INTO v_refundable FROM credits._refundable_parts(head.pool_id, head.entry_id) p;
	v_amount := coalesce(v_amount, v_refundable);
	IF v_amount > v_refundable THEN
		RAISE EXCEPTION 'cannot refund % credits of charge %: % remain refundable', amount, charge_id,
				credits._to_credits(v_refundable)
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('charged %s, refundable %s.', credits._to_credits(head.requested),
			                      credits._to_credits(v_refundable)),
			      HINT = 'Refund at most what remains refundable.';
	END IF;
	v_left := v_amount;
	FOR part IN SELECT * FROM credits._refundable_parts(head.pool_id, head.entry_id) p
	             WHERE p.refundable > 0 ORDER BY p.entry_id DESC LOOP
		EXIT WHEN v_left = 0;
		v_back := least(v_left, part.refundable);
		v_left := v_left - v_back;
		SELECT * INTO STRICT g FROM credits.grants WHERE pool_id = head.pool_id AND grant_id = part.grant_id;
		UPDATE credits.grants SET remaining = remaining + v_back WHERE pool_id = head.pool_id AND grant_id = part.grant_id;
		INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, charge_id, reason, feature)
		VALUES (head.pool_id, 'refund', head.member, part.grant_id, v_back, head.entry_id, reason, head.feature);
		IF credits._grant_dead(g, now()) THEN
			UPDATE credits.grants SET remaining = remaining - v_back WHERE pool_id = head.pool_id AND grant_id = part.grant_id;
			INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, charge_id, reason)
			VALUES (head.pool_id, CASE WHEN g.voided_at IS NOT NULL THEN 'void' ELSE 'expire' END, head.member,
			        part.grant_id, -v_back, head.entry_id,
			        CASE WHEN g.voided_at IS NOT NULL THEN 'refund to a voided grant' ELSE 'refund to an expired grant' END);
		END IF;
	END LOOP;
	-- the member's usage goes down when the charge counts in its current period
	SELECT * INTO m FROM credits.members WHERE pool_id = head.pool_id AND member = head.member;
	IF FOUND AND m.period_start = credits._period_start(m.period, now()) AND head.at >= m.period_start THEN
		UPDATE credits.members SET used = greatest(used - v_amount, 0)
		 WHERE pool_id = head.pool_id AND member = head.member;
	END IF;
	PERFORM credits._remember(head.pool_id, 'refund', idempotency_key, v_args, to_jsonb(credits._to_credits(v_amount)));
	RETURN credits._to_credits(v_amount);
END
$$;


-- Pool-first form (see credits._pool_owns).
CREATE FUNCTION credits.refund(pool text, charge_id bigint, amount numeric DEFAULT NULL, reason text DEFAULT NULL,
                               idempotency_key text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM credits._require('pool', pool, 'charge_id', charge_id);
	PERFORM credits._pool_owns(pool, 'charge', charge_id);
	RETURN credits.refund(charge_id, amount, reason, idempotency_key);
END
$$;

-- What \df+ and \dv+ show.
COMMENT ON FUNCTION credits.refund(bigint, numeric, text, text) IS 'Returns all or part of a charge to the grants it came from; returns the amount refunded.';
COMMENT ON FUNCTION credits.refund(text, bigint, numeric, text, text) IS 'refund() of a charge of the named pool (pool-first form, for routing).';
