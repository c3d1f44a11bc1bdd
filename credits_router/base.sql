-- credits_router, the hand-written part: roles, schemas, the partition list,
-- the routing hash, and charge_many (split by pool). Every other function of
-- schema credits is generated from a partition's catalog: routed.sql.

DO $roles$
DECLARE
	r text;
BEGIN
	-- The role names of the partitions; roles are cluster-wide, so a router
	-- on the partitions' cluster finds them already made.
	FOREACH r IN ARRAY ARRAY['credits_reader', 'credits_app', 'credits_owner'] LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$roles$;
GRANT credits_app, credits_reader TO credits_owner;

CREATE SCHEMA credits;
CREATE SCHEMA credits_router;
REVOKE ALL ON SCHEMA credits, credits_router FROM PUBLIC;
GRANT USAGE ON SCHEMA credits, credits_router TO credits_reader, credits_app, credits_owner;

-- The PL/Proxy cluster: a SQL/MED server, made by the first set_partitions
-- (PL/Proxy refuses a cluster without partitions).
CREATE FUNCTION credits_router.set_partitions(conninfos text[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	n integer := pg_catalog.cardinality(conninfos);
	changes text[] := '{}';
	old_option text;
	r text;
BEGIN
	IF conninfos IS NULL THEN
		RAISE EXCEPTION 'conninfos must not be NULL' USING ERRCODE = '22004',
			HINT = 'Pass the partitions'' libpq connection strings, in partition order.';
	END IF;
	IF n = 0 OR n & (n - 1) <> 0 THEN
		RAISE EXCEPTION 'the number of partitions must be a power of 2' USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('%s connection strings were given.', n),
			HINT = 'Pass 1, 2, 4, 8, ... connection strings.';
	END IF;
	IF pg_catalog.array_position(conninfos, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'conninfos[%] must not be NULL', pg_catalog.array_position(conninfos, NULL)
			USING ERRCODE = '22004', HINT = 'Pass a connection string for every partition.';
	END IF;
	IF pg_catalog.array_lower(conninfos, 1) <> 1 OR pg_catalog.array_ndims(conninfos) <> 1 THEN
		RAISE EXCEPTION 'conninfos must be a one-dimensional array from 1' USING ERRCODE = '22023';
	END IF;

	IF NOT EXISTS (SELECT FROM pg_catalog.pg_foreign_server WHERE srvname = 'credits_partitions') THEN
		FOR i IN 1..n LOOP
			changes := changes || pg_catalog.format('p%s %L', i - 1, conninfos[i]);
		END LOOP;
		EXECUTE pg_catalog.format('CREATE SERVER credits_partitions FOREIGN DATA WRAPPER plproxy OPTIONS (%s)',
			pg_catalog.array_to_string(changes, ', '));
		-- No user or password here: PL/Proxy then connects to a partition as
		-- the calling role (user=current_user), so the partition checks the
		-- same role's privileges again.
		CREATE USER MAPPING FOR PUBLIC SERVER credits_partitions;
		-- The three roles cannot log in: a session that acts as one of them
		-- (SET ROLE credits_app) reaches the partitions as the login that set
		-- them up, once the router has checked the role's own privileges.
		FOREACH r IN ARRAY ARRAY['credits_reader', 'credits_app', 'credits_owner'] LOOP
			EXECUTE pg_catalog.format('CREATE USER MAPPING FOR %I SERVER credits_partitions OPTIONS (user %L)', r, session_user);
		END LOOP;
		GRANT USAGE ON FOREIGN SERVER credits_partitions TO credits_reader, credits_app, credits_owner;
		RETURN n;
	END IF;

	-- Replace the partition options only; other options (query_timeout,
	-- connection_lifetime, ...) a DBA added stay.
	FOR old_option IN
		SELECT pg_catalog.split_part(o, '=', 1)
		FROM pg_catalog.pg_foreign_server s, pg_catalog.unnest(s.srvoptions) AS o
		WHERE s.srvname = 'credits_partitions' AND pg_catalog.split_part(o, '=', 1) ~ '^p[0-9]+$'
	LOOP
		changes := changes || pg_catalog.format('DROP %I', old_option);
	END LOOP;
	FOR i IN 1..n LOOP
		changes := changes || pg_catalog.format('ADD p%s %L', i - 1, conninfos[i]);
	END LOOP;
	EXECUTE pg_catalog.format('ALTER SERVER credits_partitions OPTIONS (%s)', pg_catalog.array_to_string(changes, ', '));
	RETURN n;
END
$fn$;
COMMENT ON FUNCTION credits_router.set_partitions(text[]) IS
	'Sets the partitions'' connection strings, in partition order (a power of 2 of them); returns their count.';

CREATE FUNCTION credits_router.partitions()
RETURNS TABLE (partition integer, conninfo text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pg_catalog.substr(pg_catalog.split_part(o, '=', 1), 2)::integer,
	       pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)
	FROM pg_catalog.pg_foreign_server s, pg_catalog.unnest(s.srvoptions) AS o
	WHERE s.srvname = 'credits_partitions' AND pg_catalog.split_part(o, '=', 1) ~ '^p[0-9]+$'
	ORDER BY 1
$fn$;
COMMENT ON FUNCTION credits_router.partitions() IS 'The partitions set by set_partitions, in partition order.';

-- RUN ON hashtext(NULL) would fail as an internal error (XX000); a NULL
-- pool is the caller's mistake, 22004, as on a partition.
CREATE FUNCTION credits_router.pool_hash(pool text)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF pool IS NULL THEN
		RAISE EXCEPTION 'pool must not be NULL' USING ERRCODE = '22004', HINT = 'Pass a value for pool.';
	END IF;
	RETURN pg_catalog.hashtext(pool);
END
$fn$;
COMMENT ON FUNCTION credits_router.pool_hash(text) IS
	'The hash PL/Proxy routes a pool by: a pool lives on partition pool_hash(pool) & (partitions - 1).';

CREATE FUNCTION credits_router.partition_of(pool text)
RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT credits_router.pool_hash(pool) & (count(*)::integer - 1) FROM credits_router.partitions()
$fn$;
COMMENT ON FUNCTION credits_router.partition_of(text) IS 'The partition that holds a pool.';

-- charge_many: PL/Proxy's SPLIT sends each partition the events of its
-- pools; the partition numbers them from 1, so the original positions travel
-- along (ords) and name the rows that come back.
CREATE FUNCTION credits_router.charge_many(pools text[], members text[], amounts numeric[], features text[],
                                           idempotency_keys text[], metadata jsonb[], ords integer[])
RETURNS TABLE (ord integer, charge_id bigint, status text, charged numeric, balance numeric, member_used numeric,
               replayed boolean, reason text)
LANGUAGE plproxy
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $plproxy$
	CLUSTER 'credits_partitions';
	SPLIT pools, members, amounts, features, idempotency_keys, metadata, ords;
	RUN ON credits_router.pool_hash(pools);
	SELECT (ords)[c.ord] AS ord, c.charge_id, c.status, c.charged, c.balance, c.member_used, c.replayed, c.reason
	FROM credits.charge_many(pools, members, amounts, features, idempotency_keys, metadata) AS c;
$plproxy$;

CREATE FUNCTION credits.charge_many(pools text[], members text[], amounts numeric[], features text[] DEFAULT NULL,
                                    idempotency_keys text[] DEFAULT NULL, metadata jsonb[] DEFAULT NULL)
RETURNS TABLE (ord integer, charge_id bigint, status text, charged numeric, balance numeric, member_used numeric,
               replayed boolean, reason text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	n integer := coalesce(pg_catalog.cardinality(pools), 0);
	arg record;
BEGIN
	-- What a partition would refuse for the whole call is refused here, before
	-- any partition commits its share (see docs/scale-out.md).
	FOR arg IN SELECT * FROM (VALUES ('pools', pools IS NULL, n), ('members', members IS NULL, pg_catalog.cardinality(members)),
	                                 ('amounts', amounts IS NULL, pg_catalog.cardinality(amounts)),
	                                 ('features', false, pg_catalog.cardinality(features)),
	                                 ('idempotency_keys', false, pg_catalog.cardinality(idempotency_keys)),
	                                 ('metadata', false, pg_catalog.cardinality(metadata))) AS a(name, missing, len)
	LOOP
		IF arg.missing THEN
			RAISE EXCEPTION '% must not be NULL', arg.name USING ERRCODE = '22004',
				HINT = pg_catalog.format('Pass a value for %s.', arg.name);
		END IF;
		IF arg.len IS DISTINCT FROM n AND arg.len IS NOT NULL THEN
			RAISE EXCEPTION 'the arrays must have the same length' USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('pools has %s elements, %s has %s.', n, arg.name, arg.len);
		END IF;
	END LOOP;
	IF n = 0 THEN
		RETURN;
	END IF;
	FOR i IN 1..n LOOP
		IF pools[i] IS NULL OR members[i] IS NULL OR amounts[i] IS NULL THEN
			RAISE EXCEPTION '%[%] must not be NULL',
				CASE WHEN pools[i] IS NULL THEN 'pools' WHEN members[i] IS NULL THEN 'members' ELSE 'amounts' END, i
				USING ERRCODE = '22004', HINT = 'Pass a value for every element of pools, members and amounts.';
		END IF;
		IF amounts[i] < 0 OR amounts[i] > 1000000000000 OR amounts[i] = 'NaN' OR pg_catalog.scale(amounts[i]) > 6 THEN
			RAISE EXCEPTION 'invalid amount: amounts[%] is %', i, amounts[i] USING ERRCODE = '22023',
				HINT = 'Amounts are exact decimals from 0 to 1000000000000 with at most 6 decimal places.';
		END IF;
	END LOOP;
	-- The optional arrays travel as arrays of NULLs: SPLIT needs every one.
	RETURN QUERY
	SELECT c.* FROM credits_router.charge_many(pools, members, amounts,
		coalesce(features, pg_catalog.array_fill(NULL::text, ARRAY[n])),
		coalesce(idempotency_keys, pg_catalog.array_fill(NULL::text, ARRAY[n])),
		coalesce(metadata, pg_catalog.array_fill(NULL::jsonb, ARRAY[n])),
		ARRAY(SELECT pg_catalog.generate_series(1, n))) AS c
	ORDER BY c.ord;
END
$fn$;
COMMENT ON FUNCTION credits.charge_many(text[], text[], numeric[], text[], text[], jsonb[]) IS
	'Charges many events, each on its pool''s partition (one call per partition, in parallel); rows in event order.';
