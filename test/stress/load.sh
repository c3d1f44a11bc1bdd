#!/usr/bin/env bash
# Load test against the server scripts/test.sh started (PGHOST, SERVER_LOG):
# 64 clients on one hot pool, then 64 clients over 1,000 pools, each phase
# LOAD_SECONDS (default 60) of charge/try_charge, reserve+capture/release,
# holds left to lapse, refunds, balances and idempotent replays
# (test/stress/load_ops.awk). Afterwards:
#   - no grant, pool or member below zero or past its limit, verify() empty;
#   - the server log of the window holds no deadlock and no error other than
#     the business refusals CR001-CR007 (log_line_prefix carries %e, the
#     SQLSTATE; 40001 is not expected at READ COMMITTED).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LOAD_SECONDS=${LOAD_SECONDS:-60}
CLIENTS=${LOAD_CLIENTS:-64}
BLOCK_OPS=200
db=credits_stress_load
work=$(mktemp -d /tmp/credits-load.XXXXXX)
loops=()
cleanup() {
	local p
	for p in "${loops[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d $db "$@"; }

[ -n "${SERVER_LOG:-}" ] && [ -r "$SERVER_LOG" ] || { echo "FAILED: no readable server log (SERVER_LOG)"; exit 1; }
case $(psql -X -At -d postgres -c "SHOW log_line_prefix") in
*%e*) ;;
*) echo "FAILED: log_line_prefix lacks %e, errors cannot be classified"; exit 1 ;;
esac
max_connections=$(psql -X -At -d postgres -c "SHOW max_connections")
[ "$max_connections" -ge $((CLIENTS + 5)) ] || { echo "FAILED: max_connections $max_connections < $CLIENTS clients + 5"; exit 1; }
log_from=$(stat -c %s "$SERVER_LOG")

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db" || exit 1
sql >/dev/null <<'SQL' || exit 1
CREATE EXTENSION credits;
SELECT credits.create_pool('hot');
SELECT credits.grant('hot', 5000, 'free', expires_at => now() + interval '30 days');
SELECT credits.grant('hot', 5000, 'promo', priority => 15, expires_at => now() + interval '90 days');
SELECT credits.grant('hot', 20000, 'plan', expires_at => now() + interval '60 days');
SELECT credits.grant('hot', 1000000, 'purchased');
SELECT credits.set_member_limit('hot', 'lim' || i, 200) FROM generate_series(1, 8) i;
SELECT credits.revoke_access('hot', 'revoked');
-- 1,000 small pools of 30 to 165 credits: the smaller run dry under the
-- load (CR001, insufficient_credits)
SELECT credits.create_pool('p' || i) FROM generate_series(1, 1000) i;
SELECT credits.grant('p' || i, 20, 'free', expires_at => now() + interval '30 days'),
       credits.grant('p' || i, 10 + i % 10 * 15, 'purchased'),
       credits.revoke_access('p' || i, 'revoked')
  FROM generate_series(1, 1000) i;
SELECT credits.set_member_limit('p' || i, 'lim' || j, 30) FROM generate_series(1, 1000) i, generate_series(1, 8) j;
SQL

# run_phase <tag> <label> <pools>: CLIENTS psql loops, each running its own
# block of BLOCK_OPS operations over and over until LOAD_SECONDS have passed;
# each operation done writes a line to the client's .out file.
run_phase() {
	local name=$1 label=$2 pools=$3 i end first last ops errors replays n
	awk -v clients="$CLIENTS" -v prefix="$work/$name" -v seed="$RANDOM" -v ops=$BLOCK_OPS -v pools="$pools" \
		-f "$ROOT/test/stress/load_ops.awk"
	first=$(sql -c "SELECT coalesce(max(entry_id), 0) FROM credits.ledger")
	end=$((EPOCHSECONDS + LOAD_SECONDS))
	local started=$EPOCHREALTIME
	loops=()
	for i in $(seq "$CLIENTS"); do
		(
			while [ "$EPOCHSECONDS" -lt "$end" ]; do
				psql -X -q -d $db -v go=1 -v deadline="$end" -f "$work/$name.$i.sql"
			done >"$work/$name.$i.out" 2>"$work/$name.$i.err"
		) &
		loops+=($!)
	done
	wait "${loops[@]}"
	loops=()
	local seconds
	seconds=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	read -r ops replays n < <(cat "$work/$name".*.out | awk '/^\.$/ { o++ } /^replayed t$/ { t++ } /^replayed f$/ { f++ }
		END { print o + 0, t + 0, f + 0 }')
	double=$((double + n))
	errors=$(cat "$work/$name".*.err | grep -c 'ERROR:')
	last=$(sql -c "SELECT max(entry_id) FROM credits.ledger")
	echo "$label: $CLIENTS clients, ${seconds}s: $ops operations ($(awk -v n="$ops" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')/s)," \
		"$errors refused with an error, $replays idempotent replays (charged nothing)"
	sql -c "
		SELECT format('  in the ledger: %s charges, %s try_charge refusals, %s holds (%s captured, %s released, %s lapsed,'
		              ' %s pending), %s refunds',
		              count(*) FILTER (WHERE entry_type = 'charge' AND status = 'succeeded'),
		              count(*) FILTER (WHERE entry_type = 'charge' AND status <> 'succeeded'),
		              count(*) FILTER (WHERE entry_type = 'hold' AND status = 'succeeded'),
		              (SELECT count(*) FROM credits.holds WHERE hold_id > $first AND hold_id <= $last AND status = 'captured'),
		              (SELECT count(*) FROM credits.holds WHERE hold_id > $first AND hold_id <= $last AND status = 'released'),
		              (SELECT count(*) FROM credits.holds WHERE hold_id > $first AND hold_id <= $last AND status = 'lapsed'),
		              (SELECT count(*) FROM credits.holds WHERE hold_id > $first AND hold_id <= $last AND status = 'pending'),
		              count(DISTINCT (charge_id, at)) FILTER (WHERE entry_type = 'refund'))
		  FROM credits.ledger WHERE entry_id > $first AND entry_id <= $last"
}

double=0 # replays that charged again
run_phase hot "one hot pool" 0
run_phase pools "1,000 pools" 1000

read -r grants pools members past_limit limited holds problems < <(sql -F ' ' -c "
	SELECT (SELECT count(*) FROM credits.grants WHERE remaining < 0 OR held < 0 OR remaining + held > amount),
	       (SELECT count(*) FROM credits.pool_balances WHERE available < 0 OR held < 0),
	       (SELECT count(*) FROM credits.members WHERE used < 0 OR held < 0),
	       (SELECT count(*) FROM credits.member_usage WHERE credit_limit IS NOT NULL AND used + held > credit_limit),
	       (SELECT count(*) FROM credits.member_usage WHERE credit_limit IS NOT NULL AND used + held > 0),
	       (SELECT count(*) FROM credits.holds WHERE status = 'lapsed'),
	       (SELECT count(*) FROM credits.verify())")
read -r exhausted_pools full_limits < <(sql -F ' ' -c "
	SELECT (SELECT count(*) FROM credits.pool_balances WHERE pool LIKE 'p%' AND available < 5),
	       (SELECT count(*) FROM credits.member_usage WHERE credit_limit IS NOT NULL AND remaining_limit < 5)")
sql -c "SELECT * FROM credits.verify() LIMIT 10"
echo "after the load: grants below zero or past their amount: $grants, pools below zero: $pools," \
	"members below zero: $members, members past their limit: $past_limit of $limited limited members with usage" \
	"($full_limits with less than 5 left), pools with less than 5 credits left: $exhausted_pools of 1000, holds lapsed: $holds; verify() problems: $problems"

# The server log of the window, errors by SQLSTATE.
tail -c +$((log_from + 1)) "$SERVER_LOG" >"$work/server.log"
deadlocks=$(grep -c 'deadlock detected' "$work/server.log")
grep -oE '\] [0-9A-Z]{5} (ERROR|FATAL|PANIC):' "$work/server.log" | sed -E 's/^\] //; s/:$//' | sort | uniq -c >"$work/errors"
expected=$(awk '$2 ~ /^CR00[1-7]$/ && $3 == "ERROR" { n += $1 } END { print n + 0 }' "$work/errors")
unexpected=$(awk '!($2 ~ /^CR00[1-7]$/ && $3 == "ERROR") { n += $1 } END { print n + 0 }' "$work/errors")
echo "server log: $(awk '{ printf "%s%s %s x%s", sep, $2, $3, $1; sep = ", " }' "$work/errors")"
if [ "$unexpected" -gt 0 ]; then
	grep -E '\] [0-9A-Z]{5} (ERROR|FATAL|PANIC):' "$work/server.log" | grep -vE '\] CR00[1-7] ERROR:' | head -10
fi
echo "server log: $expected business refusals (CR001-CR007), $unexpected other errors, $deadlocks deadlocks"
echo "problems: $((grants + pools + members + past_limit + problems + unexpected + deadlocks + double))" \
	"(replays that charged again: $double)"
[ "$double" = 0 ] && [ "$grants" = 0 ] && [ "$pools" = 0 ] && [ "$members" = 0 ] && [ "$past_limit" = 0 ] && [ "$problems" = 0 ] &&
	[ "$unexpected" = 0 ] && [ "$deadlocks" = 0 ]
