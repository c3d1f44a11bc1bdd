#!/usr/bin/env bash
# Crash test, on a throwaway server of its own. 8 clients charge (with
# idempotency keys), reserve and capture or release, and refund over 200
# pools and one hot pool; each writes every operation it sent and every
# outcome it saw. A few seconds in, at a random moment, the postmaster and
# every server process are killed with SIGKILL; the server restarts (crash
# recovery) and the ledger is checked against what the clients saw:
#   - every operation a client saw succeed is there exactly once, under the
#     id the client was given (charges by idempotency key);
#   - none a client saw fail is there; nothing is there that was never sent;
#   - verify() is empty.
# Three crash cycles; then every operation whose outcome no client saw (in
# flight at a crash) is sent again with the same key or id, and each is shown
# to have taken effect exactly once (no double charge, capture or refund).
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

CLIENTS=${CRASH_CLIENTS:-8}
CYCLES=${CRASH_CYCLES:-3}
POOLS=200
db=credits_crash
ops_awk=$ROOT/test/stress/crash_ops.awk
client_pids=()

cleanup() {
	local p
	for p in "${client_pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "${PGDATA_DIR:-}" ] && [ -f "$PGDATA_DIR/postmaster.pid" ] &&
		psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
	stop_server
}

# The server this test crashes is its own: start_server exports PGHOST and
# friends for this process only, and stop_server removes its directory.
start_server || exit 1
trap cleanup EXIT
work=$RUN_DIR/crash
mkdir -p "$work"
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d $db "$@"; }

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db" || exit 1
sql >/dev/null <<SQL || exit 1
CREATE EXTENSION credits;
SELECT credits.create_pool('hot');
SELECT credits.grant('hot', 2000, 'free', expires_at => now() + interval '30 days');
SELECT credits.grant('hot', 5000, 'plan', expires_at => now() + interval '60 days');
SELECT credits.grant('hot', 10000000, 'purchased');
SELECT credits.create_pool('pool-' || i) FROM generate_series(1, $POOLS) i;
SELECT credits.grant(pool, 100, 'free', expires_at => now() + interval '30 days'),
       credits.grant(pool, 1000000, 'purchased')
  FROM credits.pools;
SELECT credits.revoke_access(pool, 'revoked'), credits.set_member_limit(pool, 'capped', 40) FROM credits.pools;

-- What the clients saw: one row per line they wrote (see crash_ops.awk).
CREATE SCHEMA crash;
CREATE TABLE crash.ops (cycle int, client int, line int, tag text, kind text, key text,
                        f1 text, f2 text, f3 text, f4 text);
CREATE INDEX ON crash.ops (key, kind);
-- For each operation in flight at a crash: had it taken effect?
CREATE TABLE crash.in_flight (cycle int, kind text, key text, f1 text, committed boolean);
SQL

# Every broken promise, as rows. Sent = an S line; acknowledged = an A line;
# seen failing = an F line, or a try_charge that returned a refusal.
sql >/dev/null <<'SQL' || exit 1
CREATE VIEW crash.problems AS
WITH charges AS (
	SELECT l.idempotency_key AS key, count(*) AS n, min(l.entry_id) AS entry_id
	  FROM credits.ledger l
	 WHERE l.entry_type = 'charge' AND l.status = 'succeeded' AND l.idempotency_key IS NOT NULL
	 GROUP BY l.idempotency_key
), captures AS (
	SELECT l.hold_id, count(*) AS n, min(l.entry_id) AS entry_id
	  FROM credits.ledger l
	 WHERE l.entry_type = 'capture' AND l.status = 'succeeded'
	 GROUP BY l.hold_id
), refunds AS (
	SELECT l.charge_id, sum(l.amount) AS refunded FROM credits.ledger l WHERE l.entry_type = 'refund' GROUP BY l.charge_id
), sent AS (SELECT DISTINCT kind, key FROM crash.ops WHERE tag = 'S'),
   a AS (SELECT * FROM crash.ops WHERE tag = 'A'),
   f AS (SELECT * FROM crash.ops WHERE tag = 'F')
SELECT 'acknowledged charge not in the ledger exactly once' AS problem, a.key,
       format('client saw charge %s; the ledger has %s of them, first %s', a.f2, coalesce(c.n, 0), c.entry_id) AS detail
  FROM a LEFT JOIN charges c ON c.key = a.key
 WHERE a.kind = 'K' AND a.f1 = 'succeeded' AND (c.n IS DISTINCT FROM 1 OR c.entry_id <> a.f2::bigint)
UNION ALL
SELECT 'charge seen failing is in the ledger', o.key, coalesce(o.f1, '')
  FROM crash.ops o JOIN charges c ON c.key = o.key
 WHERE o.kind = 'K' AND (o.tag = 'F' OR (o.tag = 'A' AND o.f1 <> 'succeeded'))
UNION ALL
SELECT 'charge in the ledger that no client sent', c.key, c.entry_id::text
  FROM charges c LEFT JOIN sent s ON s.kind = 'K' AND s.key = c.key
 WHERE s.key IS NULL
UNION ALL
SELECT 'charge made more than once', c.key, c.n || ' charges'
  FROM charges c WHERE c.n > 1
UNION ALL
SELECT 'acknowledged hold missing', a.key, 'hold ' || a.f1
  FROM a LEFT JOIN credits.holds h ON h.idempotency_key = a.key
 WHERE a.kind = 'H' AND h.hold_id IS DISTINCT FROM a.f1::bigint
UNION ALL
SELECT 'hold seen failing exists', f.key, f.f1
  FROM f JOIN credits.holds h ON h.idempotency_key = f.key
 WHERE f.kind = 'H'
UNION ALL
SELECT 'hold that no client sent', h.idempotency_key, h.hold_id::text
  FROM credits.holds h LEFT JOIN sent s ON s.kind = 'H' AND s.key = h.idempotency_key
 WHERE s.key IS NULL
UNION ALL
SELECT 'acknowledged capture missing', a.key, format('hold %s (%s), capture %s', a.f1, h.status, a.f2)
  FROM a
  LEFT JOIN credits.holds h ON h.hold_id = a.f1::bigint
  LEFT JOIN captures c ON c.hold_id = a.f1::bigint
 WHERE a.kind = 'C' AND (h.status IS DISTINCT FROM 'captured' OR c.entry_id IS DISTINCT FROM a.f2::bigint)
UNION ALL
SELECT 'hold captured more than once', 'hold ' || c.hold_id, c.n || ' captures'
  FROM captures c WHERE c.n > 1
UNION ALL
SELECT 'acknowledged release missing', a.key, 'hold ' || a.f1
  FROM a LEFT JOIN credits.holds h ON h.hold_id = a.f1::bigint
 WHERE a.kind = 'X' AND h.status IS DISTINCT FROM 'released'
UNION ALL
SELECT 'acknowledged refund not exactly the charge', a.key,
       format('charge %s of %s, refunded %s', a.f1, l.requested, r.refunded)
  FROM a
  LEFT JOIN credits.ledger l ON l.charge_id = a.f1::bigint AND l.entry_id = a.f1::bigint AND l.entry_type = 'charge'
  LEFT JOIN refunds r ON r.charge_id = a.f1::bigint
 WHERE a.kind = 'R' AND l.requested IS DISTINCT FROM r.refunded
UNION ALL
-- The refusals the workload asks for; CR006 only when a retry finds its hold
-- settled before the crash.
SELECT 'unexpected error', f.key, f.kind || ' ' || f.f1
  FROM f
 WHERE NOT (f.kind IN ('K', 'H') AND f.f1 IN ('CR001', 'CR002', 'CR003'))
   AND NOT (f.kind IN ('C', 'X') AND f.f1 = 'CR006'
            AND EXISTS (SELECT FROM crash.in_flight i WHERE i.kind = f.kind AND i.key = f.key AND i.committed))
UNION ALL
SELECT 'several operations in flight', format('cycle %s client %s', s.cycle, s.client), string_agg(s.key, ',')
  FROM crash.ops s
 WHERE s.tag = 'S'
   AND NOT EXISTS (SELECT FROM crash.ops o WHERE o.tag IN ('A', 'F') AND o.kind = s.kind AND o.key = s.key
                      AND o.cycle = s.cycle)
 GROUP BY s.cycle, s.client HAVING count(*) > 1
UNION ALL
-- A retry (cycle 0) of an operation that had taken effect must find it, not
-- repeat it; one that had not must take effect now.
SELECT 'retry did not act exactly once', i.key,
       i.kind || ' ' || coalesce(r.tag || ' ' || r.f1 || ' ' || coalesce(r.f2, '') || ' ' || coalesce(r.f3, ''), 'no outcome')
  FROM crash.in_flight i
  LEFT JOIN crash.ops r ON r.cycle = 0 AND r.tag IN ('A', 'F') AND r.kind = i.kind AND r.key = i.key
 WHERE EXISTS (SELECT FROM crash.ops x WHERE x.cycle = 0)
   AND (r.tag IS NULL
        OR (i.kind = 'K' AND r.tag = 'A' AND r.f1 = 'succeeded' AND (r.f3 = 't') <> i.committed)
        OR (i.kind = 'K' AND i.committed AND NOT (r.tag = 'A' AND r.f1 = 'succeeded'))
        OR (i.kind = 'H' AND r.tag = 'F' AND i.committed)
        OR (i.kind IN ('C', 'X') AND (r.tag = 'F') <> i.committed)
        OR (i.kind = 'R' AND r.tag = 'A' AND (r.f2::numeric = 0) <> i.committed))
UNION ALL
SELECT 'verify: ' || v.problem, v.object, v.detail FROM credits.verify() v;
SQL

# load_outcomes <cycle> <client> <file>: the client's lines into crash.ops.
load_outcomes() {
	awk -v cycle="$1" -v client="$2" 'BEGIN { OFS = "\t" }
		/^[SAF] / { line = cycle OFS client OFS NR; for (i = 1; i <= 7; i++) line = line OFS (i <= NF ? $i : "\\N"); print line }' "$3" |
		sql -c "\\copy crash.ops FROM STDIN"
}

# proc_state <pid>: sets state to its state letter (R, S, Z...), empty when
# it is gone. Builtins only: under load every fork costs.
proc_state() {
	local stat
	state=
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
	stat=${stat##*) }
	state=${stat%% *}
}

# crash: SIGKILL the postmaster and all its children at once, as a machine
# crash would (the postmaster is stopped first so it forks nothing meanwhile).
crash() {
	local pm d stat ppid procs=() p state
	read -r pm <"$PGDATA_DIR/postmaster.pid"
	kill -STOP "$pm"
	for d in /proc/[0-9]*; do
		{ read -r stat <"$d/stat"; } 2>/dev/null || continue
		stat=${stat##*) }
		read -r _ ppid _ <<<"$stat"
		[ "$ppid" = "$pm" ] && procs+=("${d#/proc/}")
	done
	kill -KILL "$pm" "${procs[@]}"
	for p in "$pm" "${procs[@]}"; do
		for _ in $(seq 100); do
			proc_state "$p"
			case $state in '' | Z) break ;; esac
			sleep 0.1
		done
	done
	echo "killed the postmaster and ${#procs[@]} server processes with SIGKILL"
}

restart() {
	local pm state
	read -r pm <"$PGDATA_DIR/postmaster.pid"
	for _ in $(seq 100); do # the killed postmaster must be reaped: its pid is in the lock files
		proc_state "$pm"
		[ -n "$state" ] || break
		sleep 0.1
	done
	as_server_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$RUN_DIR/server.log" -w -t 120 start >/dev/null 2>&1 \
		|| { tail -20 "$RUN_DIR/server.log"; return 1; }
}

problems_now() { sql -c "SELECT count(*) FROM crash.problems"; }

sent_total=0 acked_total=0 failed_total=0 crashes=0 in_flight_total=0
for cycle in $(seq "$CYCLES"); do
	client_pids=()
	for c in $(seq "$CLIENTS"); do
		awk -v mode=plan -v cycle="$cycle" -v client="$c" -v seed="$RANDOM$c" -v ops=1000000 -v pools=$POOLS -f "$ops_awk" |
			psql -X -q -d $db >"$work/out.$cycle.$c" 2>"$work/err.$cycle.$c" &
		client_pids+=($!)
	done
	pause=$((2 + RANDOM % 4)).$((RANDOM % 10))
	sleep "$pause"
	echo "cycle $cycle: crash after ${pause}s of load"
	crash
	crashes=$((crashes + 1))
	lost=0
	for p in "${client_pids[@]}"; do
		wait "$p"
		[ $? -eq 2 ] && lost=$((lost + 1)) # psql: connection to the server was lost
	done
	client_pids=()
	restart || { echo "FAILED: the server did not come back after crash $cycle"; exit 1; }
	for c in $(seq "$CLIENTS"); do load_outcomes "$cycle" "$c" "$work/out.$cycle.$c" || exit 1; done
	read -r sent acked failed in_flight committed < <(sql -F ' ' -c "
		INSERT INTO crash.in_flight
		SELECT s.cycle, s.kind, s.key, s.f1,
		       CASE s.kind
		           WHEN 'K' THEN EXISTS (SELECT FROM credits.ledger l WHERE l.idempotency_key = s.key
		                                    AND l.entry_type = 'charge' AND l.status = 'succeeded')
		           WHEN 'H' THEN EXISTS (SELECT FROM credits.holds h WHERE h.idempotency_key = s.key)
		           WHEN 'C' THEN EXISTS (SELECT FROM credits.holds h WHERE h.hold_id = s.f1::bigint AND h.status = 'captured')
		           WHEN 'X' THEN EXISTS (SELECT FROM credits.holds h WHERE h.hold_id = s.f1::bigint AND h.status = 'released')
		           WHEN 'R' THEN EXISTS (SELECT FROM credits.ledger l WHERE l.charge_id = s.f1::bigint AND l.entry_type = 'refund')
		       END
		  FROM crash.ops s
		 WHERE s.cycle = $cycle AND s.tag = 'S'
		   AND NOT EXISTS (SELECT FROM crash.ops o WHERE o.cycle = s.cycle AND o.tag IN ('A', 'F')
		                      AND o.kind = s.kind AND o.key = s.key);
		SELECT count(*) FILTER (WHERE tag = 'S'),
		       count(*) FILTER (WHERE tag = 'A' AND coalesce(f1, '') NOT IN ('insufficient_credits', 'member_limit_exceeded',
		                                                                    'access_revoked', 'rate_limited')),
		       count(*) FILTER (WHERE tag = 'F' OR (tag = 'A' AND kind = 'K' AND f1 <> 'succeeded')),
		       (SELECT count(*) FROM crash.in_flight WHERE cycle = $cycle),
		       (SELECT count(*) FROM crash.in_flight WHERE cycle = $cycle AND committed)
		  FROM crash.ops WHERE cycle = $cycle")
	problems=$(problems_now)
	echo "cycle $cycle: $sent operations sent, $acked acknowledged, $failed seen failing, $in_flight in flight" \
		"($committed of them committed), $lost/$CLIENTS clients lost their connection; problems: $problems"
	sent_total=$((sent_total + sent)) acked_total=$((acked_total + acked)) failed_total=$((failed_total + failed))
	in_flight_total=$((in_flight_total + in_flight))
	[ "$lost" -eq "$CLIENTS" ] || echo "note: $((CLIENTS - lost)) clients ended before the crash"
done
recoveries=$(grep -c 'database system was not properly shut down; automatic recovery in progress' "$RUN_DIR/server.log")
echo "crash recoveries in the server log: $recoveries"

# Idempotent retry: every operation in flight at a crash, sent again as it was.
sql -c "SELECT concat_ws(' ', kind, key, CASE kind WHEN 'K' THEN concat_ws(' ', f1, f2, f3, f4)
                                           WHEN 'H' THEN concat_ws(' ', f1, f2, f3, f4)
                                           ELSE concat_ws(' ', f1, f2) END)
          FROM crash.ops s
         WHERE tag = 'S' AND EXISTS (SELECT FROM crash.in_flight i WHERE i.kind = s.kind AND i.key = s.key)
         ORDER BY cycle, client, line" >"$work/retry.plan" || exit 1
awk -v mode=replay -f "$ops_awk" "$work/retry.plan" | psql -X -q -d $db >"$work/out.retry" 2>"$work/err.retry"
load_outcomes 0 0 "$work/out.retry" || exit 1
read -r retried replayed applied refused < <(sql -F ' ' -c "
	SELECT count(*),
	       count(*) FILTER (WHERE i.committed),
	       count(*) FILTER (WHERE NOT i.committed AND r.tag = 'A' AND (r.kind <> 'K' OR r.f1 = 'succeeded')),
	       count(*) FILTER (WHERE NOT i.committed AND (r.tag = 'F' OR (r.kind = 'K' AND r.f1 <> 'succeeded')))
	  FROM crash.in_flight i
	  LEFT JOIN crash.ops r ON r.cycle = 0 AND r.tag IN ('A', 'F') AND r.kind = i.kind AND r.key = i.key")
read -r keys once twice < <(sql -F ' ' -c "
	SELECT count(DISTINCT key), count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n > 1)
	  FROM (SELECT i.key, (SELECT count(*) FROM credits.ledger l WHERE l.idempotency_key = i.key AND l.entry_type = 'charge'
	                         AND l.status = 'succeeded') AS n
	          FROM crash.in_flight i WHERE i.kind = 'K') k")
echo "retry: $retried operations in flight at the crashes sent again: $replayed had taken effect and were found" \
	"(replayed, nothing repeated), $applied took effect now, $refused were refused again"
echo "retried charges: $keys keys, $once charged exactly once, $twice charged more than once"

problems=$(problems_now)
sql -c "SELECT problem, key, detail FROM crash.problems LIMIT 20"
read -r ledger_charges verify_problems < <(sql -F ' ' -c "
	SELECT (SELECT count(*) FROM credits.ledger WHERE entry_type = 'charge' AND status = 'succeeded'),
	       (SELECT count(*) FROM credits.verify())")
echo "operations acknowledged: $acked_total of $sent_total sent ($failed_total seen failing, $in_flight_total in flight)"
echo "crashes survived: $crashes; retries: $retried; succeeded charges in the ledger: $ledger_charges"
echo "problems: $problems (verify: $verify_problems)"
[ "$problems" = 0 ] && [ "$verify_problems" = 0 ] && [ "$crashes" = "$CYCLES" ] && [ "$recoveries" = "$CYCLES" ] &&
	[ "$twice" = 0 ]
