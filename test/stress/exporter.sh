#!/usr/bin/env bash
# The real prometheus-postgres-exporter (Debian 12's 0.11) scrapes credits
# with monitoring/queries.yaml. A scripted scenario: charges refused and
# succeeded, an overdue hold, a grant past its expires_at not yet expired, a
# subscription period due, a pool at zero and a pool below its alert, an
# open top-up request, a failed maintenance run, record_verify(). The exporter logs in as a role
# with only pg_monitor and credits_monitor (least privilege), through the
# server's unix socket, and listens on 127.0.0.1 and a free port. `curl
# /metrics` must show every credits_* metric with the expected value, and
# pg_exporter_user_queries_load_error 0 for the file.
# Runs against the server scripts/test.sh started (PGHOST/PGPORT/PGUSER).
set -euo pipefail
cd "$(dirname "$0")/../.."
queries=$PWD/monitoring/queries.yaml
db=credits_stress_exporter
login=credits_stress_exporter
export PGDATABASE=$db
psql() { command psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
work=$(mktemp -d)
exporter_pid=
cleanup() {
	[ -n "$exporter_pid" ] && kill "$exporter_pid" 2>/dev/null && wait "$exporter_pid" 2>/dev/null
	[ -n "${holder_pid:-}" ] && kill "$holder_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAILED: $*"; exit 1; }

psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
	-c "DROP ROLE IF EXISTS $login"
psql <<SQL
CREATE EXTENSION credits;
-- the exporter's login: docs/operations.md
CREATE ROLE $login LOGIN;
GRANT pg_monitor, credits_monitor TO $login;

SELECT FROM credits.create_pool('exp_acme');
SELECT FROM credits.grant('exp_acme', 100);
-- 3 charges succeed (and one more below), 2 are refused for credits, 1 for access
SELECT FROM generate_series(1, 3) i, LATERAL credits.try_charge('exp_acme', 'alice', 1 + 0 * i);
SELECT FROM generate_series(1, 2) i, LATERAL credits.try_charge('exp_acme', 'alice', 1000 + 0 * i);
SELECT FROM credits.revoke_access('exp_acme', 'mallory');
SELECT FROM credits.try_charge('exp_acme', 'mallory', 1);
-- a grant past its expires_at that expire_grants has not expired
SELECT FROM credits.grant('exp_acme', 5, 'promo', effective_at => now() - interval '2 days',
                          expires_at => now() - interval '1 day');
-- a hold whose TTL passes in a moment
SELECT FROM credits.reserve('exp_acme', 'bob', 2, ttl => interval '1 second');
-- a subscription whose next period is due: its grant issued one period
-- less, as if renew_subscriptions had not run since
SELECT FROM credits.subscribe('exp_acme', 'monthly', 10);
UPDATE credits.subscriptions SET issued_through = issued_through - 1;
-- a pool at zero (no credits), and one below its alert threshold
SELECT FROM credits.create_pool('exp_empty');
SELECT FROM credits.create_pool('exp_low');
SELECT FROM credits.grant('exp_low', 5);
SELECT FROM credits.set_alert('exp_low', 'pool_balance_below', 10);
-- an open auto top-up request: exp_low's balance drops below 4
SELECT FROM credits.set_auto_topup('exp_low', 4, 100);
SELECT FROM credits.try_charge('exp_low', 'alice', 2);
SQL

# Successful runs of every job (as of three days ago: they find nothing to
# do, so the overdue work above stays), and verify's problem count.
psql -c "CALL credits.renew_subscriptions(now() - interval '3 days')" -c "CALL credits.expire_grants(now() - interval '3 days')" \
	-c "CALL credits.expire_holds(now() - interval '3 days')" -c "CALL credits.record_verify()"
# A failed run: expire_grants meets a pool another session locks, and gives
# up after lock_timeout. The failure is recorded; the grant stays overdue.
psql -c "BEGIN" -c "SELECT FROM credits.pools WHERE pool = 'exp_acme' FOR UPDATE" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
holder_pid=$!
for _ in $(seq 1 300); do
	[ "$(psql -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND query LIKE '%pg_sleep(120)%'
	               AND state = 'active' AND pid <> pg_backend_pid()")" = 1 ] && break
	sleep 0.1
done
if PGOPTIONS='-c lock_timeout=200ms' psql -c "CALL credits.expire_grants()" 2>"$work/failed.err"; then
	fail "expire_grants should have failed on the locked pool"
fi
grep -q 'lock timeout' "$work/failed.err" || { cat "$work/failed.err"; fail "expected a lock timeout"; }
psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db' AND query LIKE '%pg_sleep(120)%'
          AND pid <> pg_backend_pid()" >/dev/null
wait "$holder_pid" 2>/dev/null || true
holder_pid=
# the hold's TTL has passed
for _ in $(seq 1 100); do
	[ "$(psql -c "SELECT count(*) FROM credits.holds WHERE expires_at <= now()")" = 1 ] && break
	sleep 0.1
done
entries=$(psql -c "SELECT count(*) FROM credits.ledger")

# The exporter, on a free port of 127.0.0.1.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATA_SOURCE_NAME="host=$PGHOST port=$PGPORT user=$login dbname=$db sslmode=disable" \
	prometheus-postgres-exporter --extend.query-path="$queries" --web.listen-address="127.0.0.1:$port" \
	--log.level=warn >"$work/exporter.log" 2>&1 &
exporter_pid=$!
for _ in $(seq 1 300); do
	curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics" 2>/dev/null && grep -q '^credits_maintenance_running' "$work/metrics" && break
	kill -0 "$exporter_pid" 2>/dev/null || { cat "$work/exporter.log"; fail "the exporter exited"; }
	sleep 0.1
done
grep '^credits_\|^pg_exporter_user_queries_load_error\|^pg_up' "$work/metrics" || true

# value <metric name> <label filter (a regex on the labels) or ''>
value() {
	awk -v name="$1" -v want="$2" '
		/^#/ { next }
		{ split($0, a, " "); m = a[1]; l = ""; i = index(m, "{") }
		i { l = substr(m, i); m = substr(m, 1, i - 1) }
		m == name && (want == "" || l ~ want) { print a[2]; exit }' "$work/metrics"
}
errors=0
expect() { # expect <metric> <labels regex> <awk condition on v> <what>
	local v
	v=$(value "$1" "$2")
	if [ -n "$v" ] && awk -v v="$v" "BEGIN { exit !($3) }"; then
		printf 'ok    %s%s = %s\n' "$1" "${2:+ ($2)}" "$v"
	else
		printf 'WRONG %s%s = %s, expected %s\n' "$1" "${2:+ ($2)}" "${v:-(missing)}" "$4"
		errors=$((errors + 1))
	fi
}
expect pg_exporter_user_queries_load_error "queries.yaml" 'v == 0' 0
expect credits_charge_attempts_5m 'status="succeeded"' 'v == 4' 4
expect credits_charge_attempts_5m 'status="insufficient_credits"' 'v == 2' 2
expect credits_charge_attempts_5m 'status="access_revoked"' 'v == 1' 1
expect credits_charge_attempts_5m 'status="member_limit_exceeded"' 'v == 0' 0
expect credits_charge_attempts_5m 'status="rate_limited"' 'v == 0' 0
expect credits_charge_attempts_5m 'status="budget_exceeded"' 'v == 0' 0
expect credits_ledger_entries_total '' "v == $entries" "$entries"
expect credits_pools_at_zero '' 'v == 1' 1
expect credits_pools_below_alert '' 'v == 1' 1
expect credits_holds_overdue '' 'v == 1' 1
expect credits_grants_overdue '' 'v == 1' 1
expect credits_subscriptions_due '' 'v == 1' 1
expect credits_verify_problems '' 'v == 0' 0
expect credits_topup_requests_open '' 'v == 1' 1
for job in renew_subscriptions expire_grants expire_holds verify; do
	expect credits_maintenance_last_success_age_seconds "task=\"$job\"" 'v >= 0 && v < 600' 'under 600'
	expect credits_maintenance_last_success_timestamp_seconds "task=\"$job\"" 'v > 1700000000' 'a recent time'
	expect credits_maintenance_running "task=\"$job\"" 'v == 0' 0
	expect credits_maintenance_interrupted_last_hour "task=\"$job\"" 'v == 0' 0
done
expect credits_maintenance_failed_last_hour 'task="expire_grants"' 'v == 1' 1
expect credits_maintenance_failed_last_hour 'task="expire_holds"' 'v == 0' 0
[ "$errors" -eq 0 ] || { cat "$work/exporter.log"; fail "$errors metrics wrong"; }

kill "$exporter_pid"
wait "$exporter_pid" 2>/dev/null || true
exporter_pid=
psql -d postgres -c "DROP DATABASE $db" -c "DROP ROLE $login"
echo "the exporter showed every credits_* metric as expected"
