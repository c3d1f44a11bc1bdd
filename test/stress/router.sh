#!/usr/bin/env bash
# credits_router on one server: a router database and 4 partition databases
# (PL/Proxy connects over the server's unix socket). Checks that
#   - credits_router/routed.sql is what generate.sql makes of a partition's
#     catalog, and the router offers every pool-first function, charge_many,
#     set_rate, verify() and the gathered views with the partition's signature;
#   - pools created through the router live on partition hashtext(pool) & 3;
#   - every function of the router's schema credits works through it
#     (test/router/calls.sql; counted by track_functions);
#   - business errors keep their SQLSTATE; idempotent replays work;
#   - charge_many returns its rows in ord order; roles hold on both sides.
# Runs against the server scripts/test.sh started (PGHOST etc. exported).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
R=credits_router_r
PARTS=(credits_router_p0 credits_router_p1 credits_router_p2 credits_router_p3)
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
	for d in $R "${PARTS[@]}"; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true; done
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS router_test_app, router_test_reader" >/dev/null 2>&1 || true
}
trap cleanup EXIT

cleanup
conninfos=()
for d in "${PARTS[@]}"; do
	q -d postgres -c "CREATE DATABASE $d"
	q -d "$d" -c "CREATE EXTENSION credits"
	conninfos+=("'host=$PGHOST port=${PGPORT:-5432} dbname=$d'")
done
q -d postgres -c "CREATE DATABASE $R"
q -d $R -c "CREATE EXTENSION credits_router CASCADE" 2>&1 | grep -v 'installing required extension' || true
[ "$(q -d $R -c "SELECT credits_router.set_partitions(ARRAY[$(IFS=,; echo "${conninfos[*]}")])")" = 4 ]
echo "router $R in front of ${PARTS[*]}"
for bad in "ARRAY['dbname=a', 'dbname=b', 'dbname=c']:22023" "'{}'::text[]:22023" "NULL:22004" "ARRAY['dbname=a', NULL]:22004"; do
	err=$(psql -X -q -At -d $R -v VERBOSITY=sqlstate -c "SELECT credits_router.set_partitions(${bad%:*})" 2>&1 || true)
	[ "$err" = "ERROR:  ${bad##*:}" ] || { echo "set_partitions(${bad%:*}): $err, expected ${bad##*:}"; exit 1; }
done
[ "$(q -d $R -c "SELECT count(*) FROM credits_router.partitions()")" = 4 ]
# Calling it again replaces the list and keeps PL/Proxy's other options.
q -d $R -c "ALTER SERVER credits_partitions OPTIONS (ADD connection_lifetime '1800')"
[ "$(q -d $R -c "SELECT credits_router.set_partitions(ARRAY(SELECT conninfo FROM credits_router.partitions() ORDER BY partition))")" = 4 ]
[ "$(q -d $R -c "SELECT srvoptions @> '{connection_lifetime=1800}' AND cardinality(srvoptions) = 5 FROM pg_foreign_server WHERE srvname = 'credits_partitions'")" = t ]

echo "== routed.sql is current"
q -d "${PARTS[0]}" -f "$ROOT/credits_router/generate.sql" | diff -u "$ROOT/credits_router/routed.sql" - ||
	{ echo "credits_router/routed.sql is stale: run bash credits_router/regenerate.sh"; exit 1; }

echo "== the router offers what a partition does"
# name(identity arguments) -> result, for what must be routed: every function
# whose first argument is pool text, charge_many, set_rate and verify; and
# the gathered views with their columns.
read -r -d '' signatures <<'SQL' || true
	SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') -> ' || pg_get_function_result(p.oid)
	FROM pg_proc p
	WHERE p.pronamespace = 'credits'::regnamespace AND p.prokind = 'f' AND p.proname !~ '^_'
	  AND ((p.proargnames[1] = 'pool' AND p.proargtypes[0] = 'text'::regtype)
	       OR p.proname IN ('charge_many', 'set_rate', 'verify'))
	UNION ALL
	SELECT c.relname || ' view: ' || string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
	FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
	WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'v'
	  AND c.relname IN ('pool_balances', 'member_usage', 'transaction_log', 'monthly_summary', 'budget_usage')
	GROUP BY c.relname
	ORDER BY 1
SQL
partition_sigs=$(q -d "${PARTS[0]}" -c "$signatures")
router_sigs=$(q -d $R -c "$signatures")
echo "$partition_sigs" | wc -l | xargs echo "signatures to route:"
missing=$(comm -23 <(echo "$partition_sigs") <(echo "$router_sigs"))
[ -z "$missing" ] || { echo "missing on the router:"; echo "$missing"; exit 1; }
for v in pool_balances member_usage transaction_log monthly_summary; do
	q -d $R -c "SELECT 'credits.$v'::regclass" >/dev/null
done

echo "== every function of the router's schema, called through it"
q -d postgres -c "ALTER DATABASE $R SET track_functions = 'all'"
q -d $R -f "$ROOT/test/router/calls.sql"
# Statistics reach the shared counters when a session ends.
uncalled=$(q -d $R -c "
	SELECT string_agg(p.oid::regprocedure::text, ', ')
	FROM pg_proc p LEFT JOIN pg_stat_user_functions s ON s.funcid = p.oid
	WHERE p.pronamespace = 'credits'::regnamespace AND coalesce(s.calls, 0) = 0")
[ -z "$uncalled" ] || { echo "never called through the router: $uncalled"; exit 1; }
q -d $R -c "SELECT count(*) || ' functions of schema credits called through the router' FROM pg_stat_user_functions WHERE schemaname = 'credits' AND calls > 0"

echo "== pools live on the partition the hash names"
for i in 0 1 2 3; do
	read -r n wrong < <(q -F ' ' -d "${PARTS[$i]}" -c "
		SELECT count(*), count(*) FILTER (WHERE hashtext(pool) & 3 <> $i) FROM credits.pools WHERE pool LIKE 'org-%'")
	echo "partition $i: $n pools, $wrong misplaced"
	[ "$wrong" = 0 ] && [ "$n" -gt 0 ]
done
[ "$(q -d $R -c "SELECT count(*) FROM credits.pool_balances WHERE pool LIKE 'org-%'")" = 40 ]

echo "== roles: a credits_app login charges, a credits_reader login may not"
q -d postgres -c "CREATE ROLE router_test_app LOGIN IN ROLE credits_app" -c "CREATE ROLE router_test_reader LOGIN IN ROLE credits_reader"
[ "$(q -U router_test_app -d $R -c "SELECT status FROM credits.charge('org-1', 'app-user', 1)")" = succeeded ]
[ "$(q -U router_test_app -d $R -c "SELECT count(*) FROM credits.charge_many(ARRAY['org-1', 'org-2', 'org-3'], ARRAY['a', 'b', 'c'], ARRAY[1, 1, 1]) WHERE status = 'succeeded'")" = 3 ]
[ "$(q -U router_test_reader -d $R -c "SELECT count(*) > 0 FROM credits.pool_balances")" = t ]
# A session acting as the group roles themselves (they cannot log in).
[ "$(q -d $R -c "SET ROLE credits_app" -c "SELECT status FROM credits.charge('org-2', 'set-role', 1)")" = succeeded ]
[ "$(q -d $R -c "SET ROLE credits_reader" -c "SELECT count(*) = 40 FROM credits.pool_balances WHERE pool LIKE 'org-%'")" = t ]
[ "$(q -d $R -c "SET ROLE credits_owner" -c "SELECT credits.grant('org-2', 1) > 0")" = t ]
err=$(psql -X -q -At -d $R -v VERBOSITY=sqlstate -c "SET ROLE credits_reader" -c "SELECT credits.charge('org-1', 'x', 1)" 2>&1 || true)
[ "$err" = "ERROR:  42501" ] || { echo "credits_reader's charge: $err"; exit 1; }
err=$(psql -X -q -At -U router_test_reader -d $R -v VERBOSITY=sqlstate -c "SELECT credits.charge('org-1', 'x', 1)" 2>&1 || true)
echo "reader's charge: $err"
grep -q 42501 <<<"$err"
echo "router: all checks passed"
