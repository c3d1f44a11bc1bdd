#!/usr/bin/env bash
# Crash test of credits_router: a router and partitions 0-2 on the server
# scripts/test.sh started, partition 3 on a throwaway server of its own.
# 4 clients charge 64 pools through the router, each charge with its own
# idempotency key, writing what they sent and saw. Then partition 3's server
# is killed with SIGKILL (postmaster and every child) under that load:
#   - calls for pools on partitions 0-2 keep succeeding meanwhile;
#   - calls for pools on partition 3 fail, with an error naming its database;
# then it restarts (crash recovery) and charges on it succeed again. Every
# call that was not acknowledged is sent again with its key; afterwards every
# acknowledged charge is in its partition's ledger exactly once, under the id
# the client saw, every other key at most once, and verify() is empty.
# Phases move on conditions (counts of outcomes), with a time limit.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

CLIENTS=4
POOLS=64
R=credits_rcrash_r
MAIN_PARTS=(credits_rcrash_p0 credits_rcrash_p1 credits_rcrash_p2)
P3=credits_rcrash_p3
MAIN_HOST=$PGHOST MAIN_PORT=${PGPORT:-5432}
client_pids=()
work=$(mktemp -d /tmp/credits-rcrash.XXXXXX)

main() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$MAIN_HOST" -p "$MAIN_PORT" "$@"; }
cleanup() {
	local p
	for p in "${client_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for d in $R "${MAIN_PARTS[@]}"; do main -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done
	stop_server
	rm -rf "$work"
}

# Partition 3's own server: start_server exports PGHOST etc. for it.
start_server || exit 1
trap cleanup EXIT
P3_HOST=$PGHOST
p3() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$P3_HOST" -p 5432 -d $P3 "$@"; }
psql -X -q -d postgres -c "CREATE DATABASE $P3" && p3 -c "CREATE EXTENSION credits" || exit 1
conninfos=()
for d in "${MAIN_PARTS[@]}"; do
	main -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d" && main -d "$d" -c "CREATE EXTENSION credits" || exit 1
	conninfos+=("'host=$MAIN_HOST port=$MAIN_PORT dbname=$d'")
done
conninfos+=("'host=$P3_HOST port=5432 dbname=$P3'")
main -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $R" -c "CREATE DATABASE $R" || exit 1
router() { main -d $R "$@"; }
router -c "SET client_min_messages = warning" -c "CREATE EXTENSION credits_router CASCADE" \
	-c "SELECT credits_router.set_partitions(ARRAY[$(IFS=,; echo "${conninfos[*]}")])" >/dev/null || exit 1
router -c "SELECT credits.create_pool('c-' || i), credits.grant('c-' || i, 1000000) FROM generate_series(1, $POOLS) i" >/dev/null || exit 1
mapfile -t pool_part < <(router -c "SELECT credits_router.partition_of('c-' || i) FROM generate_series(1, $POOLS) i")
echo "pools per partition: $(printf '%s\n' "${pool_part[@]}" | sort | uniq -c | tr -s ' \n' ' ')"
printf '%s\n' "${pool_part[@]}" | grep -qx 3 && printf '%s\n' "${pool_part[@]}" | grep -qvx 3 || { echo "need pools on 3 and elsewhere"; exit 1; }

# client <n>: charges until $work/stop exists. Lines: S phase key pool partition,
# then A phase key charge_id, or F phase key <error>.
echo 1 >"$work/phase"
client() {
	local n=$1 i=0 phase key p out
	while [ ! -e "$work/stop" ]; do
		i=$((i + 1)) key="rc-$n-$i" p=$(((n * 7 + i) % POOLS))
		read -r phase <"$work/phase"
		echo "S $phase $key c-$((p + 1)) ${pool_part[$p]}"
		if out=$(PGCONNECT_TIMEOUT=5 main -d $R -c "SELECT charge_id FROM credits.charge('c-$((p + 1))', 'm$n', 1, NULL, '$key')" 2>&1); then
			echo "A $phase $key $out"
		else
			echo "F $phase $key $(tr '\n' ' ' <<<"$out")"
		fi
	done >"$work/client.$n"
}
for n in $(seq $CLIENTS); do client "$n" & client_pids+=($!); done

# outcomes <A|F> <phase> <partition regex>: how many so far.
outcomes() {
	cat "$work"/client.* | awk -v tag="$1" -v phase="$2" -v part="$3" '
		$1 == "S" { where[$3] = $5 } $1 == tag && $2 == phase && where[$3] ~ ("^(" part ")$") { n++ } END { print n + 0 }'
}
# wait_for <what> <condition command...>: polls for 120 s at most.
wait_for() {
	local what=$1 t
	shift
	for t in $(seq 600); do "$@" && return 0; sleep 0.2; done
	echo "FAILED: timed out waiting for $what"
	exit 1
}
at_least() { [ "$(outcomes "$2" "$3" "$4")" -ge "$1" ]; }

wait_for "charges on every partition" at_least 40 A 1 '0|1|2|3'
wait_for "charges on partition 3" at_least 10 A 1 3
echo 2 >"$work/phase"
pm=$(head -1 "$PGDATA_DIR/postmaster.pid")
kill -STOP "$pm"
children=$(ps -o pid= --ppid "$pm" | tr '\n' ' ')
kill -KILL "$pm" $children
echo "killed partition 3's postmaster $pm and its children: $children"
wait_for "calls for partition 3 to fail" at_least 5 F 2 3
wait_for "charges on the other partitions meanwhile" at_least 30 A 2 '0|1|2'
while kill -0 "$pm" 2>/dev/null; do sleep 0.1; done
as_server_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$RUN_DIR/server.log" -w -t 120 start >/dev/null 2>&1 ||
	{ tail -20 "$RUN_DIR/server.log"; exit 1; }
echo 3 >"$work/phase"
wait_for "charges on partition 3 after its restart" at_least 10 A 3 3
touch "$work/stop"
for p in "${client_pids[@]}"; do wait "$p"; done
client_pids=()
grep -q 'database system was interrupted\|not properly shut down' "$RUN_DIR/server.log" && echo "partition 3 went through crash recovery"

# Every call without an acknowledgment, sent again with its key.
cat "$work"/client.* >"$work/outcomes"
awk '$1 == "S" { pool[$3] = $4 } $1 == "F" { print $3, pool[$3] }' "$work/outcomes" |
	while read -r key pool; do
		n=${key#rc-} n=${n%%-*}
		out=$(router -F ' ' -c "SELECT charge_id, replayed FROM credits.charge('$pool', 'm$n', 1, NULL, '$key')") &&
			echo "R 0 $key $out" || echo "RF 0 $key $out"
	done >>"$work/outcomes"

# What the partitions hold, next to what the clients saw.
router -c "CREATE SCHEMA crash; CREATE TABLE crash.outcomes (line text); CREATE TABLE crash.ledger (part int, key text, charge_id bigint)"
router -c "\\copy crash.outcomes FROM '$work/outcomes' WITH (FORMAT text, DELIMITER E'\\x01')"
for i in 0 1 2; do
	main -d "${MAIN_PARTS[$i]}" -c "COPY (SELECT $i, idempotency_key, charge_id FROM credits.ledger
		WHERE entry_type = 'charge' AND status = 'succeeded' AND idempotency_key LIKE 'rc-%') TO STDOUT"
done >"$work/ledger"
p3 -c "COPY (SELECT 3, idempotency_key, charge_id FROM credits.ledger
	WHERE entry_type = 'charge' AND status = 'succeeded' AND idempotency_key LIKE 'rc-%') TO STDOUT" >>"$work/ledger"
router -c "\\copy crash.ledger FROM '$work/ledger'"
router -F ' ' -c "
	WITH o AS (SELECT f[1] AS tag, f[3] AS key, f[4] AS a, f[5] AS b, line
	             FROM (SELECT string_to_array(line, ' ') AS f, line FROM crash.outcomes) x),
	     s AS (SELECT key, b::int AS part FROM o WHERE tag = 'S'),
	     l AS (SELECT key, count(*) AS n, min(charge_id) AS charge_id, min(part) AS part FROM crash.ledger GROUP BY key)
	SELECT 'sent ' || (SELECT count(*) FROM s),
	       'acknowledged ' || (SELECT count(*) FROM o WHERE tag = 'A'),
	       'failed_p3 ' || (SELECT count(*) FROM o JOIN s USING (key) WHERE tag = 'F' AND s.part = 3),
	       'failed_elsewhere ' || (SELECT count(*) FROM o JOIN s USING (key) WHERE tag = 'F' AND s.part <> 3),
	       'unclear_errors ' || (SELECT count(*) FROM o WHERE tag = 'F' AND line NOT LIKE '%PL/Proxy%$P3%' AND line NOT LIKE '%[$P3]%'),
	       'retried ' || (SELECT count(*) FROM o WHERE tag = 'R'),
	       'retry_found_committed ' || (SELECT count(*) FROM o WHERE tag = 'R' AND b = 't'),
	       'retry_failed ' || (SELECT count(*) FROM o WHERE tag = 'RF'),
	       'acked_not_once ' || (SELECT count(*) FROM o LEFT JOIN l USING (key)
	                              WHERE o.tag = 'A' AND (l.n IS DISTINCT FROM 1 OR l.charge_id <> o.a::bigint)),
	       'on_wrong_partition ' || (SELECT count(*) FROM l JOIN s USING (key) WHERE l.part <> s.part),
	       'charged_twice ' || (SELECT count(*) FROM l WHERE n > 1),
	       'never_sent ' || (SELECT count(*) FROM l LEFT JOIN s USING (key) WHERE s.key IS NULL),
	       'sent_not_charged ' || (SELECT count(*) FROM s LEFT JOIN l USING (key) WHERE l.key IS NULL),
	       'verify ' || (SELECT count(*) FROM credits.verify())" >"$work/result"
cat "$work/result"
grep -m1 '^F 2' "$work/outcomes" | cut -c1-300 | sed 's/^/a failed call: /'
declare -A r
read -ra fields <"$work/result"
for ((i = 0; i < ${#fields[@]}; i += 2)); do r[${fields[$i]}]=${fields[$((i + 1))]}; done
[ "${r[failed_p3]}" -gt 0 ] && [ "${r[failed_elsewhere]}" = 0 ] && [ "${r[unclear_errors]}" = 0 ] &&
	[ "${r[retry_failed]}" = 0 ] && [ "${r[acked_not_once]}" = 0 ] && [ "${r[on_wrong_partition]}" = 0 ] &&
	[ "${r[charged_twice]}" = 0 ] && [ "${r[never_sent]}" = 0 ] && [ "${r[sent_not_charged]}" = 0 ] && [ "${r[verify]}" = 0 ]
