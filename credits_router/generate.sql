-- Writes routed.sql, the generated part of credits_router, from the catalog
-- of a database where credits is installed (a partition):
--   psql -XAtq -d <a database with credits> -f credits_router/generate.sql >credits_router/routed.sql
-- (bash credits_router/regenerate.sh does that on a throwaway server).
-- What is routed, and how, is decided by the catalog alone:
--   * every function of schema credits whose first argument is `pool text`
--     runs on the pool's partition (RUN ON credits_router.pool_hash(pool));
--   * set_rate, the one global write, runs on every partition;
--   * verify() and the views gather every partition's rows (RUN ON ALL);
--     rate_card is global (set_rate writes every partition alike), so it is not gathered;
--   * PL/Proxy's functions run with client_min_messages = warning: after a
--     call that raised, PL/Proxy replaces the session's connection to that
--     partition with a NOTICE a caller has no use for;
--   * the roles credits_app, credits_reader and credits_owner get on the
--     router what they have on the partition.
-- test/stress/router.sh fails when routed.sql differs from this script's output.
\set ON_ERROR_STOP on

-- The router defines only the composite types routed functions return; a
-- routed function with another type of schema credits (a domain, an enum)
-- in its signature needs that type on the router first (base.sql).
DO $check$
DECLARE
	f text;
BEGIN
	SELECT pg_catalog.string_agg(DISTINCT p.oid::regprocedure::text, ', ') INTO f
	FROM pg_catalog.pg_proc p,
	     pg_catalog.unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]) || p.prorettype) AS t(oid)
	JOIN pg_catalog.pg_type ty ON ty.oid = t.oid
	WHERE p.pronamespace = 'credits'::regnamespace AND p.prokind = 'f' AND p.proname !~ '^_'
	  AND ((p.proargnames[1] = 'pool' AND p.proargtypes[0] = 'text'::regtype) OR p.proname IN ('set_rate', 'verify', 'charge_many'))
	  AND ty.typnamespace = 'credits'::regnamespace AND ty.typtype <> 'c';
	IF f IS NOT NULL THEN
		RAISE EXCEPTION 'cannot generate the router: % uses a type of schema credits that is not a composite type', f;
	END IF;
END
$check$;

WITH fn AS (
	SELECT p.oid, p.proname, pg_catalog.pg_get_function_arguments(p.oid) AS args,
	       pg_catalog.pg_get_function_result(p.oid) AS result,
	       coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') AS comment,
	       (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.grantee::regrole::text), ', ' ORDER BY a.grantee::regrole::text)
	        FROM pg_catalog.aclexplode(p.proacl) AS a
	        WHERE a.grantee::regrole::text IN ('credits_app', 'credits_reader', 'credits_owner')) AS grantees,
	       CASE WHEN p.proargnames[1] = 'pool' AND p.proargtypes[0] = 'text'::regtype THEN 'pool'
	            WHEN p.proname = 'set_rate' THEN 'all'
	            WHEN p.proname = 'verify' THEN 'gather' END AS route,
	       pg_catalog.array_to_string(p.proargnames[1:p.pronargs], ', ') AS argnames
	FROM pg_catalog.pg_proc p
	WHERE p.pronamespace = 'credits'::regnamespace AND p.prokind = 'f' AND p.proname !~ '^_'
	  AND p.proname <> 'charge_many'  -- split by pool: written by hand in base.sql
),
routed AS (
	SELECT fn.*, pg_catalog.replace(fn.oid::regprocedure::text, 'credits.', '') AS sig FROM fn WHERE route IS NOT NULL
),
views AS (
	SELECT c.oid, c.relname,
	       (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
	        FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
	       coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), '') AS comment,
	       (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.grantee::regrole::text), ', ' ORDER BY a.grantee::regrole::text)
	        FROM pg_catalog.aclexplode(c.relacl) AS a
	        WHERE a.privilege_type = 'SELECT' AND a.grantee::regrole::text IN ('credits_app', 'credits_reader', 'credits_owner')) AS grantees
	FROM pg_catalog.pg_class c
	WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'v' AND c.relname !~ '^_' AND c.relname <> 'rate_card'
),
types AS (
	-- composite types the routed functions return
	SELECT t.oid, t.typname,
	       (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
	        FROM pg_catalog.pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
	       (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.grantee::regrole::text), ', ' ORDER BY a.grantee::regrole::text)
	        FROM pg_catalog.aclexplode(t.typacl) AS a
	        WHERE a.grantee::regrole::text IN ('credits_app', 'credits_reader', 'credits_owner')) AS grantees
	FROM pg_catalog.pg_type t
	WHERE t.typtype = 'c' AND t.typnamespace = 'credits'::regnamespace
	  AND EXISTS (SELECT FROM routed r JOIN pg_catalog.pg_proc p ON p.oid = r.oid WHERE p.prorettype = t.oid)
)
SELECT text FROM (
	SELECT 0 AS part, '' AS key, '-- credits_router, the generated part: made by credits_router/generate.sql from a' || E'\n'
		|| '-- partition''s catalog; do not edit (test/stress/router.sh checks it is current).' AS text
	UNION ALL
	SELECT 1, t.typname, pg_catalog.format(E'\nCREATE TYPE credits.%I AS (%s);', t.typname, t.columns)
		|| coalesce(E'\nGRANT USAGE ON TYPE credits.' || pg_catalog.quote_ident(t.typname) || ' TO ' || t.grantees || ';', '')
	FROM types t
	UNION ALL
	SELECT 2, r.sig, pg_catalog.format(E'\nCREATE FUNCTION credits.%I(%s)\nRETURNS %s\nLANGUAGE plproxy\n'
		'SET search_path = pg_catalog, pg_temp\nSET client_min_messages = warning\nAS $plproxy$\n\tCLUSTER ''credits_partitions'';\n\tRUN ON credits_router.pool_hash(pool);\n$plproxy$;',
		r.proname, r.args, r.result)
	FROM routed r WHERE r.route = 'pool'
	UNION ALL
	SELECT 2, r.sig, pg_catalog.format(E'\nCREATE FUNCTION credits.%I(%s)\nRETURNS %s\nLANGUAGE plproxy\n'
		'SET search_path = pg_catalog, pg_temp\nSET client_min_messages = warning\nAS $plproxy$\n\tCLUSTER ''credits_partitions'';\n\tRUN ON ALL;\n$plproxy$;',
		r.proname, r.args, r.result)
	FROM routed r WHERE r.route = 'gather'
	UNION ALL
	-- PL/Proxy runs on every partition only a set-returning function: the
	-- router's own one returns a row per partition, the public one nothing.
	SELECT 2, r.sig, pg_catalog.format(E'\nCREATE FUNCTION credits_router.%I(%s)\nRETURNS SETOF integer\nLANGUAGE plproxy\n'
		'SET search_path = pg_catalog, pg_temp\nSET client_min_messages = warning\nAS $plproxy$\n\tCLUSTER ''credits_partitions'';\n\tRUN ON ALL;\n\tSELECT 1 FROM credits.%I(%s);\n$plproxy$;'
		'\nCREATE FUNCTION credits.%I(%s)\nRETURNS %s\nLANGUAGE sql\nSET search_path = pg_catalog, pg_temp\n'
		'AS $fn$\n\tSELECT FROM credits_router.%I(%s)\n$fn$;',
		r.proname, pg_catalog.pg_get_function_identity_arguments(r.oid), r.proname, r.argnames,
		r.proname, r.args, r.result, r.proname, r.argnames)
	FROM routed r WHERE r.route = 'all'
	UNION ALL
	SELECT 3, r.sig, pg_catalog.format(E'COMMENT ON FUNCTION credits.%s IS %L;', r.sig,
		pg_catalog.concat_ws(' ', NULLIF(r.comment, ''),
			CASE r.route WHEN 'pool' THEN 'Routed to the pool''s partition.' WHEN 'all' THEN 'Run on every partition.'
			             ELSE 'Gathered from every partition.' END))
		|| coalesce(E'\nGRANT EXECUTE ON FUNCTION credits.' || r.sig || ' TO ' || r.grantees || ';', '')
		|| CASE WHEN r.route = 'all'
		        THEN coalesce(E'\nGRANT EXECUTE ON FUNCTION credits_router.' || r.sig || ' TO ' || r.grantees || ';', '')
		        ELSE '' END
	FROM routed r
	UNION ALL
	SELECT 4, v.relname, pg_catalog.format(E'\nCREATE FUNCTION credits_router.%I()\nRETURNS TABLE (%s)\nLANGUAGE plproxy\n'
		'SET search_path = pg_catalog, pg_temp\nSET client_min_messages = warning\nAS $plproxy$\n\tCLUSTER ''credits_partitions'';\n\tRUN ON ALL;\n\tSELECT * FROM credits.%I;\n$plproxy$;'
		'\nCREATE VIEW credits.%I AS SELECT * FROM credits_router.%I();\nCOMMENT ON VIEW credits.%I IS %L;',
		v.relname, v.columns, v.relname, v.relname, v.relname, v.relname,
		pg_catalog.concat_ws(' ', NULLIF(v.comment, ''), 'Gathered from every partition.'))
		|| CASE WHEN v.grantees IS NOT NULL
		        THEN pg_catalog.format(E'\nGRANT SELECT ON credits.%I TO %s;\nGRANT EXECUTE ON FUNCTION credits_router.%I() TO %s;',
		                               v.relname, v.grantees, v.relname, v.grantees) ELSE '' END
	FROM views v
	UNION ALL
	SELECT 5, '', E'\n-- Nothing for PUBLIC; the roles got theirs above and in base.sql.\n'
		'REVOKE ALL ON ALL ROUTINES IN SCHEMA credits, credits_router FROM PUBLIC;\n'
		'REVOKE ALL ON ALL TABLES IN SCHEMA credits FROM PUBLIC;\n'
		'GRANT EXECUTE ON FUNCTION credits_router.pool_hash(text), credits_router.partitions(), credits_router.partition_of(text)\n'
		'\tTO credits_reader, credits_app, credits_owner;\n'
		'GRANT EXECUTE ON FUNCTION credits.charge_many(text[], text[], numeric[], text[], text[], jsonb[]),\n'
		'\tcredits_router.charge_many(text[], text[], numeric[], text[], text[], jsonb[], integer[]) TO credits_app;'
) AS g
ORDER BY part, key COLLATE "C";
