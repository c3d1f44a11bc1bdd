#!/usr/bin/env bash
# Maintenance progress, and a run killed halfway. expire_grants has 2,000
# lapsed grants to expire, up to 1,000 a batch, whole pools first: 1,500 in
# 15 pools (10 pools, then 5), then 500 (the latest expiries) in a pool
# another session keeps locked. A top-level
# CALL credits.expire_grants() commits 2 batches and waits on that lock;
# meanwhile credits.maintenance_runs must show it running with the batches
# and rows committed so far, and credits.metrics_maintenance() likewise. Its
# backend is then terminated (pg_terminate_backend): the run must show as
# interrupted (finished_at NULL) with what it had committed, and the
# expired grants must be exactly those of its committed batches. Once the
# lock is gone, a second run must finish the other 500 as a new row,
# verify() must be empty, and the interrupted run counted in the metrics.
# No sleep is a proof: every wait is on a condition.
# Runs against the server scripts/test.sh started (PGHOST/PGPORT/PGUSER).
set -euo pipefail
db=credits_stress_progress
export PGDATABASE=$db
psql() { command psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
holder_pid=
runner_pid=
cleanup() {
	[ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null
	[ -n "$runner_pid" ] && kill "$runner_pid" 2>/dev/null
	true
}
trap cleanup EXIT
fail() { echo "FAILED: $*"; psql -F ' | ' -c "SELECT * FROM credits.maintenance_runs ORDER BY run_id"; exit 1; }
# wait_for <what> <query that returns t>: up to 60 s
wait_for() {
	local i
	for i in $(seq 1 600); do
		[ "$(psql -c "$2")" = t ] && return 0
		sleep 0.1
	done
	fail "waited 60 s for $1"
}

psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql <<'SQL'
CREATE EXTENSION credits;
SELECT FROM generate_series(1, 15) i, LATERAL credits.create_pool('early' || i);
SELECT FROM credits.create_pool('late');
-- expiries one second apart: batches take them in this order
SELECT FROM generate_series(1, 1500) i,
       LATERAL credits.grant('early' || (i % 15 + 1), 1, 'promo', effective_at => now() - interval '30 days',
                             expires_at => now() - interval '2 days' + i * interval '1 second');
SELECT FROM generate_series(1, 500) i,
       LATERAL credits.grant('late', 1, 'promo', effective_at => now() - interval '30 days',
                             expires_at => now() - interval '1 day' + i * interval '1 second');
SQL

psql -c "BEGIN" -c "SELECT FROM credits.pools WHERE pool = 'late' FOR UPDATE" -c "SELECT pg_sleep(300)" >/dev/null 2>&1 &
holder_pid=$!
wait_for "the lock holder" "SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = '$db'
                             AND query = 'SELECT pg_sleep(300)' AND state = 'active'"

psql -c "CALL credits.expire_grants()" >/dev/null 2>&1 &
runner_pid=$!
wait_for "the run to reach the locked pool" "
	SELECT r.batches = 2 AND a.wait_event_type = 'Lock'
	  FROM credits.maintenance_runs r JOIN pg_stat_activity a ON a.pid = r.pid
	 WHERE r.job = 'expire_grants'"
read -r state batches rows finished < <(psql -F ' ' -c "
	SELECT state, batches, rows_done, finished_at IS NOT NULL FROM credits.maintenance_runs WHERE job = 'expire_grants'")
echo "while waiting on the lock: state $state, $batches batches, $rows rows, finished $finished"
[ "$state $batches $rows $finished" = "running 2 1500 f" ] || fail "expected: running 2 1500 f"
read -r running rb rr < <(psql -F ' ' -c "
	SELECT running, running_batches, running_rows FROM credits.metrics_maintenance() WHERE job = 'expire_grants'")
[ "$running $rb $rr" = "1 2 1500" ] || fail "metrics_maintenance: running $running, $rb batches, $rr rows; expected 1 2 1500"

psql -c "SELECT pg_terminate_backend(pid) FROM credits.maintenance_runs WHERE job = 'expire_grants'" >/dev/null
wait "$runner_pid" 2>/dev/null && fail "the killed CALL succeeded"
runner_pid=
wait_for "the killed backend to go" "SELECT NOT EXISTS (SELECT FROM pg_stat_activity a JOIN credits.maintenance_runs r
                                                       ON a.pid = r.pid WHERE r.job = 'expire_grants')"
read -r state batches rows finished expired < <(psql -F ' ' -c "
	SELECT state, batches, rows_done, finished_at IS NOT NULL,
	       (SELECT count(*) FROM credits.grants WHERE expired_at IS NOT NULL)
	  FROM credits.maintenance_runs WHERE job = 'expire_grants'")
echo "killed: state $state, $batches batches, $rows rows, finished $finished; grants expired: $expired"
[ "$state $batches $rows $finished $expired" = "interrupted 2 1500 f 1500" ] ||
	fail "expected: interrupted 2 1500 f 1500"

# The lock goes; the next run does the rest, as a new row.
psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db' AND query = 'SELECT pg_sleep(300)'" >/dev/null
wait "$holder_pid" 2>/dev/null || true
holder_pid=
psql -c "CALL credits.expire_grants()"
psql -F ' | ' -c "SELECT run_id, job, state, batches, rows_done, finished_at IS NOT NULL AS finished
                    FROM credits.maintenance_runs ORDER BY run_id"
ok=$(psql -c "
	SELECT (SELECT string_agg(state || ' ' || rows_done, ', ' ORDER BY run_id) FROM credits.maintenance_runs
	         WHERE job = 'expire_grants') = 'interrupted 1500, finished 500'
	   AND (SELECT count(*) FROM credits.grants WHERE expired_at IS NULL) = 0
	   AND (SELECT count(*) FROM credits.ledger WHERE entry_type = 'expire') = 2000
	   AND (SELECT interrupted_last_hour FROM credits.metrics_maintenance() WHERE job = 'expire_grants') = 1
	   AND NOT EXISTS (SELECT FROM credits.verify())")
[ "$ok" = t ] || fail "the second run did not finish the work (or verify() has problems)"
psql -d postgres -c "DROP DATABASE $db"
echo "a run killed halfway shows as interrupted; the next one finished the work"
