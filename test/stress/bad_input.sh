#!/usr/bin/env bash
# Bad input campaign: every public function and procedure of schema credits
# is called with NULL in each argument, negative, zero, NaN, infinite,
# 7-decimal and 10^15 numbers, empty, 10 kB, unicode and quote/semicolon
# texts, ~1 MB jsonb, unknown kinds, periods, metrics, modes and
# granularities, zero, negative and huge intervals, infinite timestamps and
# unknown ids (test/stress/bad_input.sql builds the list from pg_proc). Each
# call must end with the SQLSTATE of the contract's error table, or succeed
# where the input is valid. Also: the server did not restart, nothing was
# terminated by a signal, and verify() is empty. Runs against the server
# scripts/test.sh started (PGHOST/PGPORT/PGUSER, SERVER_LOG).
set -euo pipefail
cd "$(dirname "$0")"
db=credits_stress_bad_input
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
	-c "CREATE DATABASE $db"
log_from=0
[ -n "${SERVER_LOG:-}" ] && [ -f "$SERVER_LOG" ] && log_from=$(stat -c %s "$SERVER_LOG")
started=$(psql -X -At -d postgres -c "SELECT pg_postmaster_start_time()")

psql -X -q -v ON_ERROR_STOP=1 -d $db -c "CREATE EXTENSION credits" -f bad_input.sql >/dev/null
q() { psql -X -At -v ON_ERROR_STOP=1 -d $db -c "$1"; }

unfixed=$(q "SELECT string_agg(fn || '(' || arg || ')', ', ') FROM bad_input.unfixed")
if [ -n "$unfixed" ]; then
	echo "no fixture for required arguments: $unfixed (add them to test/stress/bad_input.sql)"
	exit 1
fi

# One session, one statement per call (autocommit: a call that succeeds
# commits, procedures run as a top-level CALL), each followed by the
# SQLSTATE it ended with. A call stuck for 60 s ends as 57014, a mismatch.
{
	echo '\set VERBOSITY terse'
	echo '\o /dev/null'
	echo "SET statement_timeout = '60s';"
	q "SELECT format(E'%s;\n\\\\echo @@ %s :SQLSTATE', sql, id) FROM bad_input.calls ORDER BY id"
} >"$work/calls.sql"
psql -X -d $db -f "$work/calls.sql" >"$work/out.txt" 2>"$work/err.txt" || true
grep '^@@ ' "$work/out.txt" | awk '{print $2 "\t" $3}' >"$work/results.tsv"
psql -X -q -v ON_ERROR_STOP=1 -d $db -c "\copy bad_input.results FROM '$work/results.tsv'"

read -r tried mismatched missing < <(q "
	SELECT count(*), count(*) FILTER (WHERE r.sqlstate IS DISTINCT FROM c.expected), count(*) FILTER (WHERE r.id IS NULL)
	  FROM bad_input.calls c LEFT JOIN bad_input.results r USING (id)" | tr '|' ' ')
if [ "$mismatched" -gt 0 ]; then
	echo "mismatches (function, argument, case: expected, got):"
	q "SELECT format('  %s(%s = %s): expected %s (%s), got %s', c.fn, coalesce(c.arg, ''), c.case_, c.expected, c.why,
	                 coalesce(r.sqlstate, 'nothing'))
	     FROM bad_input.calls c LEFT JOIN bad_input.results r USING (id)
	    WHERE r.sqlstate IS DISTINCT FROM c.expected ORDER BY c.id"
fi
functions=$(q "SELECT count(DISTINCT fn_oid) FROM bad_input.calls")
by_state=$(q "SELECT string_agg(sqlstate || ' ' || n, ', ' ORDER BY sqlstate)
                FROM (SELECT sqlstate, count(*) AS n FROM bad_input.results GROUP BY 1) s")

problems=$(q "SELECT count(*) FROM credits.verify()")
[ "$problems" -eq 0 ] || q "SELECT * FROM credits.verify()"
ledger=$(q "SELECT to_regclass('credits.ledger') IS NOT NULL")
now_started=$(psql -X -At -d postgres -c "SELECT pg_postmaster_start_time()")
restarted=no
[ "$now_started" = "$started" ] || restarted=yes
crashes=0
if [ -n "${SERVER_LOG:-}" ] && [ -f "$SERVER_LOG" ]; then
	crashes=$(tail -c +$((log_from + 1)) "$SERVER_LOG" | grep -cE 'terminated by signal|PANIC' || true)
fi
psql -X -q -d postgres -c "DROP DATABASE $db"

echo "functions=$functions calls=$tried mismatched=$mismatched unanswered=$missing ($by_state)"
echo "verify_problems=$problems ledger_intact=$ledger server_restarted=$restarted crashes_in_log=$crashes"
[ "$mismatched" -eq 0 ] && [ "$problems" -eq 0 ] && [ "$ledger" = t ] && [ "$restarted" = no ] && [ "$crashes" -eq 0 ]
