#!/usr/bin/env bash
# Dump and upgrade.
# (a) A database with pools, members (limits, revoked access), grants of
#     every kind (future, expired, voided, member-only), subscriptions,
#     charges, rejected attempts, idempotency keys, holds (pending,
#     captured, released), refunds, rates, caps and alerts is dumped with
#     pg_dump -Fc and restored with pg_restore into a new database. Every
#     table of the extension must be marked for pg_dump (with its sequences),
#     the restore must hold the same balances (every pool and member), ledger,
#     grants, members, holds, subscriptions, rates, caps and alerts, verify()
#     must be empty, and new pools, grants, charges, holds, subscriptions and
#     alerts must work after the restore (no id collides with a restored one).
# (b) CREATE EXTENSION credits VERSION '0.1' (and '0.2') + ALTER EXTENSION
#     UPDATE must give the same catalog as CREATE EXTENSION credits:
#     functions (with definitions, privileges, security, settings), tables,
#     columns, constraints, indexes, views, triggers, types, sequences, ACLs,
#     comments, extension members and configuration tables; a planted
#     difference must be caught. And a 0.1 database with data in it updates
#     to the current version with the same balances, verify() empty, and
#     charges, holds and refunds of 0.1 charges working.
# Runs against the server scripts/test.sh started (PGHOST/PGPORT/PGUSER).
set -euo pipefail
cd "$(dirname "$0")"
bin=${PG_BIN:+$PG_BIN/}
src=credits_stress_dump_src
dst=credits_stress_dump_dst
old=credits_stress_upgrade_old
new=credits_stress_upgrade_new
dbs=($src $dst $old $new)
work=$(mktemp -d)
cleanup() {
	for d in "${dbs[@]}"; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
for d in "${dbs[@]}"; do
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $d" \
		-c "CREATE DATABASE $d"
done
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# same <what> <db1> <db2> <query>: the query's rows are the same in both.
# (Foreign keys are compared as constraints: their internal triggers are
# named by OID.)
compared=0
same() {
	psql -X -At -v ON_ERROR_STOP=1 -d "$2" -c "$4" >"$work/a.txt"
	psql -X -At -v ON_ERROR_STOP=1 -d "$3" -c "$4" >"$work/b.txt"
	compared=$((compared + $(wc -l <"$work/a.txt")))
	if ! diff -q "$work/a.txt" "$work/b.txt" >/dev/null; then
		fail "$1 differs between $2 and $3:"
		diff "$work/a.txt" "$work/b.txt" | head -20 || true
	fi
}

###############################################################################
# (a) pg_dump -Fc and pg_restore
###############################################################################
# A database with one of everything 0.2 can hold; also the 0.2 database
# that part (b) updates.
scenario=$(cat <<'SQL'
SELECT credits.create_pool('acme', 'Acme Inc.');
SELECT credits.create_pool('globex', settings => '{"topup_increment": 10}');
SELECT credits.create_pool('empty');
SELECT credits.grant('acme', 500);
SELECT credits.grant('acme', 100, 'free', expires_at => now() + interval '20 days');
SELECT credits.grant('acme', 50, 'promo', priority => 15, external_ref => 'launch', metadata => '{"campaign": "x"}');
SELECT credits.grant('acme', 20, 'free', member => 'bob');
SELECT credits.grant('acme', 30, 'purchased', effective_at => now() + interval '10 days');
SELECT credits.grant('acme', 40, 'promo', effective_at => now() - interval '3 days', expires_at => now() - interval '1 day');
SELECT credits.void_grant(credits.grant('acme', 60), 'chargeback');
SELECT credits.grant('globex', 1000);
SELECT credits.subscribe('acme', 'pro', 100, anchor => now() - interval '75 days', rollover_periods => 1);
SELECT credits.subscribe('globex', 'free-tier', 25, '1 week', kind => 'free');
CALL credits.expire_grants();
SELECT credits.set_member_limit('acme', 'alice', 200);
SELECT credits.set_member_limit('acme', 'carol', 50, 'week');
SELECT credits.set_member_limits('globex', ARRAY['g1', 'g2', 'g3'], 300, 'split', 'day');
SELECT credits.set_rate('gpt', 0.002, 'token', now() - interval '1 day');
SELECT credits.set_rate('gpt', 0.003, 'token', now() + interval '30 days');
SELECT credits.set_frequency_cap('acme', 'image', 100, '1 hour');
SELECT credits.set_alert('acme', 'pool_balance_below', 5000);
SELECT credits.set_alert('acme', 'member_usage_percent', 50);
SELECT credits.charge('acme', 'alice', 12.5, 'chat', 'order-1', '{"model": "m"}');
SELECT credits.charge('acme', 'alice', 90, 'chat');
SELECT credits.charge('acme', 'bob', 25, 'image');
SELECT credits.charge_usage('acme', 'carol', 'gpt', 4000, 'usage-1');
SELECT credits.try_charge('acme', 'carol', 1000);
SELECT credits.charge('globex', 'g1', 7);
SELECT credits.charge('globex', 'g2', 0);
SELECT credits.charge('globex', 'm' || i % 7, i % 5, CASE WHEN i % 3 = 0 THEN 'chat' END, 'bulk-' || i)
  FROM generate_series(1, 150) i;
SELECT credits.refund(charge_id, 10, 'partial') FROM credits.charge('acme', 'dave', 30);
SELECT credits.refund(charge_id) FROM credits.charge('acme', 'erin', 3);
SELECT credits.capture(credits.reserve('acme', 'alice', 20, '1 day', 'chat'), 15);
SELECT credits.release(credits.reserve('acme', 'bob', 5));
SELECT credits.reserve('acme', 'carol', 8, '1 day', 'image', 'job-1');
SELECT credits.reserve('globex', 'g3', 9, '2 days');
-- usage above a limit lowered since, and usage of a member revoked since
SELECT credits.set_member_limit('acme', 'alice', 100);
SELECT credits.revoke_access('acme', 'dave');
SQL
)
q $src "CREATE EXTENSION credits" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $src -c "$scenario" >/dev/null

# Every table and sequence of the extension is marked for pg_dump (or its
# rows, or the ids after a restore, would be lost).
unmarked=$(q $src "
	SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY c.oid::regclass::text)
	  FROM pg_depend d
	  JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'credits'
	 WHERE d.deptype = 'e' AND c.relkind IN ('r', 'p', 'S')
	   AND c.oid <> ALL (e.extconfig)")
[ -z "$unmarked" ] || fail "not marked with pg_extension_config_dump: $unmarked"
marked=$(q $src "SELECT cardinality(extconfig) FROM pg_extension WHERE extname = 'credits'")

"${bin}pg_dump" -Fc -f "$work/src.dump" $src
"${bin}pg_restore" --exit-on-error -d $dst "$work/src.dump" 2>"$work/restore.err" \
	|| { fail "pg_restore failed"; cat "$work/restore.err"; }

# The same rows in every table, and the same balances.
for t in pools members grants ledger holds hold_parts subscriptions rates frequency_caps alert_rules alert_state alerts; do
	same "credits.$t" $src $dst "SELECT * FROM credits.$t x ORDER BY x::text"
done
same "sequences" $src $dst "
	SELECT c.relname, s.last_value FROM pg_class c, LATERAL (SELECT pg_sequence_last_value(c.oid) AS last_value) s
	 WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'S' ORDER BY 1"
same "balances" $src $dst "
	SELECT p.pool, NULL, credits.balance(p.pool) FROM credits.pools p
	UNION ALL
	SELECT p.pool, m.member, credits.balance(p.pool, m.member) FROM credits.members m JOIN credits.pools p USING (pool_id)
	 ORDER BY 1, 2 NULLS FIRST"
for v in pool_balances grant_balances member_usage transaction_log subscription_status monthly_summary rate_card; do
	same "credits.$v" $src $dst "SELECT * FROM credits.$v x ORDER BY x::text"
done
problems=$(q $dst "SELECT count(*) FROM credits.verify()")
[ "$problems" -eq 0 ] || { fail "verify() after restore"; q $dst "SELECT * FROM credits.verify()"; }

# After the restore: new ids do not collide with restored ones, a replayed
# key is still known, and every kind of write works.
after=$(psql -X -At -v ON_ERROR_STOP=1 -d $dst 2>&1 <<'SQL'
SELECT (SELECT max(pool_id) FROM credits.pools) AS max_pool, (SELECT max(grant_id) FROM credits.grants) AS max_grant \gset
SELECT 'pool ' || (credits.create_pool('initech') > :max_pool);
SELECT 'grant ' || (credits.grant('acme', 10) > :max_grant);
SELECT 'charge ' || status || ' ' || replayed FROM credits.charge('acme', 'bob', 1, 'chat');
SELECT 'replay ' || status || ' ' || replayed FROM credits.charge('acme', 'alice', 12.5, 'chat', 'order-1', '{"model": "m"}');
SELECT 'hold ' || (credits.capture(credits.reserve('acme', 'frank', 2))).status;
SELECT 'subscribe ' || (credits.subscribe('initech', 'pro', 10) > 0);
SELECT 'refund ' || credits.refund(charge_id, 1) FROM credits.charge('globex', 'g1', 2);
SELECT 'alert ' || count(*) FROM credits.alerts;
SELECT credits.grant('initech', 100000);
SELECT credits.set_alert('initech', 'pool_balance_below', 200000);
SELECT 'charge ' || status FROM credits.charge('initech', 'x', 1);
SELECT 'alert ' || count(*) FROM credits.alerts;
SELECT 'verify ' || count(*) FROM credits.verify();
SQL
) || true
echo "$after" | grep -q '^pool true$' || fail "create_pool after restore"
echo "$after" | grep -q '^grant true$' || fail "grant after restore"
echo "$after" | grep -q '^charge succeeded false$' || fail "charge after restore"
echo "$after" | grep -q '^replay succeeded true$' || fail "idempotent replay after restore"
echo "$after" | grep -q '^hold succeeded$' || fail "reserve and capture after restore"
echo "$after" | grep -q '^subscribe true$' || fail "subscribe after restore"
echo "$after" | grep -q '^refund 1$' || fail "refund after restore"
echo "$after" | grep -q '^verify 0$' || fail "verify() after writes after restore"
alerts=$(echo "$after" | sed -n 's/^alert //p' | tr '\n' ' ')
[ "$(echo "$alerts" | awk '{print $2 - $1}')" = 1 ] || fail "a new alert after restore (alerts before/after: $alerts)"
[ "$failures" -eq 0 ] || echo "$after"
echo "dump: $marked tables and sequences marked for pg_dump, $compared rows compared after pg_restore"

###############################################################################
# (b) CREATE EXTENSION at an earlier version + ALTER EXTENSION UPDATE vs
#     CREATE EXTENSION at the current one
###############################################################################
ns="'credits'::regnamespace"
# same_catalog <db1> <db2>: every catalog entry of the extension is the same.
same_catalog() {
	local a=$1 b=$2
	same "functions" $a $b "
	SELECT p.oid::regprocedure, p.prokind, p.prosecdef, p.proconfig, p.provolatile, p.proisstrict, p.proparallel,
	       p.proleakproof, p.procost, p.prorows, l.lanname, p.proowner::regrole, p.proacl,
	       pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
	       md5(CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid) ELSE '' END)
	  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
	 WHERE p.pronamespace = $ns ORDER BY p.oid::regprocedure::text"
	same "relations" $a $b "
	SELECT c.relname, c.relkind, c.relpersistence, c.relowner::regrole, c.relacl, c.reloptions, c.relrowsecurity
	  FROM pg_class c WHERE c.relnamespace = $ns ORDER BY 1"
	same "columns" $a $b "
	SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
	       a.attgenerated, pg_get_expr(d.adbin, d.adrelid), a.attcollation, a.attacl
	  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
	 WHERE c.relnamespace = $ns ORDER BY 1, 2"
	same "constraints" $a $b "
	SELECT conrelid::regclass, conname, contype, pg_get_constraintdef(oid), condeferrable, condeferred
	  FROM pg_constraint WHERE connamespace = $ns ORDER BY conrelid::regclass::text, conname"
	same "indexes" $a $b "
	SELECT indexrelid::regclass, pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	 WHERE c.relnamespace = $ns ORDER BY indexrelid::regclass::text"
	same "views" $a $b "
	SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c WHERE c.relnamespace = $ns AND c.relkind IN ('v', 'm') ORDER BY 1"
	same "triggers" $a $b "
	SELECT t.tgrelid::regclass, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid)
	  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	 WHERE c.relnamespace = $ns AND NOT t.tgisinternal ORDER BY t.tgrelid::regclass::text, t.tgname"
	same "types" $a $b "
	SELECT t.typname, t.typtype, t.typowner::regrole, t.typacl,
	       (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
	          FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)
	  FROM pg_type t WHERE t.typnamespace = $ns ORDER BY 1"
	same "sequences" $a $b "
	SELECT s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache,
	       s.seqcycle
	  FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = $ns ORDER BY s.seqrelid::regclass::text"
	same "schema" $a $b "
	SELECT n.nspname, n.nspowner::regrole, n.nspacl FROM pg_namespace n WHERE n.oid = $ns"
	same "extension members" $a $b "
	SELECT pg_describe_object(d.classid, d.objid, d.objsubid) FROM pg_depend d
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'credits' WHERE d.deptype = 'e' ORDER BY 1"
	same "configuration tables" $a $b "
	SELECT c.oid::regclass, x.condition
	  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(oid, condition) JOIN pg_class c ON c.oid = x.oid
	 WHERE e.extname = 'credits' ORDER BY c.oid::regclass::text"
	same "initial privileges" $a $b "
	SELECT pg_describe_object(i.classoid, i.objoid, i.objsubid), i.privtype, i.initprivs
	  FROM pg_init_privs i
	  JOIN pg_depend d ON d.classid = i.classoid AND d.objid = i.objoid AND d.deptype = 'e'
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'credits' ORDER BY 1, 2"
	same "comments" $a $b "
	SELECT pg_describe_object(x.classoid, x.objoid, x.objsubid), x.description
	  FROM pg_description x
	  JOIN pg_depend d ON d.classid = x.classoid AND d.objid = x.objoid AND d.deptype = 'e'
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'credits' ORDER BY 1"
	same "extension" $a $b "SELECT extname, extversion, extrelocatable, extnamespace::regnamespace FROM pg_extension
	 WHERE extname = 'credits'"
}

current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" ../../credits.control)
compared=0
q $new "CREATE EXTENSION credits" >/dev/null
for from in 0.1 0.2; do
	q $old "DROP EXTENSION IF EXISTS credits" >/dev/null
	q $old "CREATE EXTENSION credits VERSION '$from'" >/dev/null
	q $old "ALTER EXTENSION credits UPDATE" >/dev/null
	[ "$(q $old "SELECT extversion FROM pg_extension WHERE extname = 'credits'")" = "$current" ] \
		|| fail "$from not updated to $current"
	before=$failures
	same_catalog $old $new
	if [ $failures -eq $before ]; then
		echo "upgrade: catalogs of $from + ALTER EXTENSION UPDATE and CREATE EXTENSION identical"
	fi
done
echo "upgrade: $compared catalog rows compared"

# The comparison sees a difference: an object of the update path that the
# fresh install lacks (a planted change) must make same_catalog fail.
before=$failures
q $old "COMMENT ON FUNCTION credits.verify() IS 'planted'; ALTER TABLE credits.pools ADD COLUMN planted int" >/dev/null
same_catalog $old $new >"$work/planted.txt"
planted=$((failures - before))
failures=$before
if [ $planted -lt 2 ]; then
	fail "a planted difference (a comment, a column) went unnoticed"
	cat "$work/planted.txt"
else
	echo "upgrade: a planted comment and column were caught ($planted comparisons differ)"
fi

# An update with data in it: the 0.1 database of a customer.
q $old "DROP EXTENSION credits" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $old >/dev/null <<'SQL'
CREATE EXTENSION credits VERSION '0.1';
SELECT credits.create_pool('acme');
SELECT credits.create_pool('globex', settings => '{"topup_increment": 5}');
SELECT credits.grant('acme', 300);
SELECT credits.grant('acme', 50, 'free', expires_at => now() + interval '20 days');
SELECT credits.grant('acme', 10, 'free', member => 'bob');
SELECT credits.grant('acme', 25, 'promo', effective_at => now() + interval '5 days');
SELECT credits.void_grant(credits.grant('acme', 15), 'test');
SELECT credits.grant('globex', 100);
SELECT credits.set_member_limit('acme', 'alice', 100);
SELECT credits.set_member_limits('acme', ARRAY['carol', 'dave'], 40, 'split', 'week');
SELECT credits.revoke_access('acme', 'eve');
SELECT credits.charge('acme', 'alice', 30, 'chat', 'order-1');
SELECT credits.charge('acme', 'bob', 12, 'image');
SELECT credits.try_charge('acme', 'alice', 500);
SELECT credits.try_charge('acme', 'eve', 1);
SELECT credits.charge('globex', 'g1', 3.5);
SQL
balances="SELECT p.pool, NULL, credits.balance(p.pool) FROM credits.pools p
          UNION ALL
          SELECT p.pool, m.member, credits.balance(p.pool, m.member) FROM credits.members m JOIN credits.pools p USING (pool_id)
          ORDER BY 1, 2 NULLS FIRST"
q $old "$balances" >"$work/balances-0.1.txt"
q $old "SELECT * FROM credits.ledger ORDER BY entry_id" >"$work/ledger-0.1.txt"
q $old "ALTER EXTENSION credits UPDATE" >/dev/null
q $old "$balances" >"$work/balances-0.2.txt"
q $old "SELECT entry_id, pool_id, at, actor, entry_type, member, grant_id, amount, held, charge_id, hold_id, status, reason,
               feature, idempotency_key, requested, quantity, balance_after, member_used_after, metadata
          FROM credits.ledger ORDER BY entry_id" >"$work/ledger-0.2.txt"
diff -q "$work/balances-0.1.txt" "$work/balances-0.2.txt" >/dev/null || { fail "balances changed by the update"; diff "$work/balances-0.1.txt" "$work/balances-0.2.txt"; }
diff -q "$work/ledger-0.1.txt" "$work/ledger-0.2.txt" >/dev/null || fail "the ledger changed by the update"
upgraded=$(psql -X -At -v ON_ERROR_STOP=1 -d $old 2>&1 <<'SQL'
SELECT 'verify ' || count(*) FROM credits.verify();
SELECT 'charge ' || status FROM credits.charge('acme', 'alice', 5, 'chat');
SELECT 'replay ' || replayed FROM credits.charge('acme', 'alice', 30, 'chat', 'order-1');
SELECT 'refund ' || credits.refund(entry_id, 2) FROM credits.ledger WHERE entry_type = 'charge' AND member = 'bob' AND status = 'succeeded';
SELECT 'hold ' || (credits.capture(credits.reserve('acme', 'carol', 4), 3)).status;
SELECT 'subscribe ' || (credits.subscribe('globex', 'pro', 20) > 0);
SELECT 'verify ' || count(*) FROM credits.verify();
SQL
) || true
[ "$(echo "$upgraded" | grep -c '^verify 0$')" = 2 ] || fail "verify() after the update"
echo "$upgraded" | grep -q '^charge succeeded$' || fail "charge after the update"
echo "$upgraded" | grep -q '^replay true$' || fail "idempotent replay of a 0.1 charge after the update"
echo "$upgraded" | grep -q '^refund 2$' || fail "refund of a 0.1 charge after the update"
echo "$upgraded" | grep -q '^hold succeeded$' || fail "reserve and capture after the update"
echo "$upgraded" | grep -q '^subscribe true$' || fail "subscribe after the update"
[ "$failures" -eq 0 ] || echo "$upgraded"
echo "upgrade with data: 0.1: $(wc -l <"$work/ledger-0.2.txt") ledger entries and $(wc -l <"$work/balances-0.2.txt") balances kept, verify() empty"

# The 0.2 database of a customer: every row of every table and every
# balance the same after the update (the views may change by definition),
# verify() empty, and every kind of write working.
q $old "DROP EXTENSION credits" >/dev/null
q $old "CREATE EXTENSION credits VERSION '0.2'" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $old -c "$scenario" >/dev/null
declare -A added_0_3=([grants]="idempotency_key,features" [members]="budget" [frequency_caps]="scope"
	[pools]="topup_below,topup_amount" [subscriptions]="rollover_max,external_ref")
snapshot() {
	# columns 0.3 adds (NULL in every updated row) are left out
	local t
	for t in pools members grants ledger holds hold_parts subscriptions rates frequency_caps alert_rules alert_state alerts; do
		q $old "SELECT '$t', (to_jsonb(x) - '{${added_0_3[$t]:-}}'::text[])::text AS r FROM credits.$t x ORDER BY r"
	done
	q $old "$balances"
}
snapshot >"$work/before-0.2.txt"
q $old "ALTER EXTENSION credits UPDATE" >/dev/null
snapshot >"$work/after-0.2.txt"
diff -q "$work/before-0.2.txt" "$work/after-0.2.txt" >/dev/null \
	|| { fail "the update of 0.2 changed rows"; diff "$work/before-0.2.txt" "$work/after-0.2.txt" | head -20 || true; }
upgraded=$(psql -X -At -v ON_ERROR_STOP=1 -d $old 2>&1 <<'SQL'
SELECT 'verify ' || count(*) FROM credits.verify();
SELECT 'charge ' || status FROM credits.charge('acme', 'bob', 1, 'chat');
SELECT 'replay ' || replayed FROM credits.charge('acme', 'alice', 12.5, 'chat', 'order-1', '{"model": "m"}');
SELECT 'capture ' || (credits.capture(hold_id, 5)).status FROM credits.holds WHERE idempotency_key = 'job-1';
SELECT 'refund ' || credits.refund(charge_id, 1) FROM credits.charge('globex', 'g1', 2);
SELECT 'verify ' || count(*) FROM credits.verify();
SQL
) || true
[ "$(echo "$upgraded" | grep -c '^verify 0$')" = 2 ] || fail "verify() after the update of 0.2"
echo "$upgraded" | grep -q '^charge succeeded$' || fail "charge after the update of 0.2"
echo "$upgraded" | grep -q '^replay true$' || fail "idempotent replay of a 0.2 charge after the update"
echo "$upgraded" | grep -q '^capture succeeded$' || fail "capture of a 0.2 hold after the update"
echo "$upgraded" | grep -q '^refund 1$' || fail "refund after the update of 0.2"
[ "$failures" -eq 0 ] || echo "$upgraded"
echo "upgrade with data: 0.2: $(wc -l <"$work/after-0.2.txt") rows of tables and balances kept, verify() empty"
echo "failures=$failures"
[ "$failures" -eq 0 ]
