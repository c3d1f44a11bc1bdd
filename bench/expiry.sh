#!/usr/bin/env bash
# Expiry benchmark: charge latency while CALL credits.expire_grants() expires
# N grants, against charge latency with no expiry running.
#
#   bash bench/expiry.sh
#
# Environment (defaults): EXPIRY_GRANTS (1000000: expired grants loaded, the
# issue's size; about 15 minutes on 2 cores), EXPIRY_POOLS (10000), EXPIRY_MEMBERS (4),
# EXPIRY_SECONDS (30: length of the phase without expiry; the phase with
# expiry lasts as long as expire_grants does), EXPIRY_CLIENTS (8),
# EXPIRY_CHUNK (5: pgbench runs back to back for this many seconds each),
# EXPIRY_ALONE (1: also time expire_grants with nothing else running, on a
# copy of the loaded database; 0: skip), EXPIRY_PAUSE (0: the runs'
# credits.maintenance_pause), EXPIRY_NICE (0: the runs'
# credits.maintenance_nice), KEEP_SERVER_DIR.
#
# Loads bench/expiry_load.sql (N expired promo grants of 1 credit spread over
# the pools, one live purchased grant per pool, ledger 'grant' rows). Phase 0
# (EXPIRY_ALONE=1): CALL credits.expire_grants() alone on a copy. Phase 1:
# charges of 1 credit on random pools and members (pgbench -n -M prepared,
# synchronous_commit off, -l: every transaction's latency) for EXPIRY_SECONDS.
# Phase 2: CALL credits.expire_grants() starts, and the same charges run in
# back-to-back EXPIRY_CHUNK-second pgbench runs until it returns; only the
# charges that finished while it ran are counted. Reports expire_grants'
# total time, charge p50/p99/max and TPS in each phase, and the ratio of the
# p99s (target: within 1.5x). Checks that all N grants expired, every charge
# is in the ledger, and credits.verify() is empty.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/more_common.sh"

N=${EXPIRY_GRANTS:-1000000}
POOLS=${EXPIRY_POOLS:-10000}
MEMBERS=${EXPIRY_MEMBERS:-4}
SECS=${EXPIRY_SECONDS:-30}
CLIENTS=${EXPIRY_CLIENTS:-8}
CHUNK=${EXPIRY_CHUNK:-5}
ALONE=${EXPIRY_ALONE:-1}
PAUSE=${EXPIRY_PAUSE:-0}
NICE=${EXPIRY_NICE:-0}
expire() {
	PGOPTIONS="-c credits.maintenance_pause=$PAUSE -c credits.maintenance_nice=$NICE" psql_q "$@" \
		-c "CALL credits.expire_grants()"
}

bench_server
# a database of its own, which phase 0 can copy (pg_cron's worker stays
# connected to postgres)
psql_q -c "CREATE DATABASE credits_expiry"
export PGDATABASE=credits_expiry
psql_q -c "SET client_min_messages = warning" -c "CREATE EXTENSION credits"
log "loading $POOLS pools ($MEMBERS members, one live grant each) and $N expired grants"
t0=$(date +%s.%N)
psql_q -v pools="$POOLS" -v members="$MEMBERS" -v expired="$N" -f "$BENCH_DIR/expiry_load.sql"
printf 'loaded in %.0f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
verify_empty

cat >"$WORK/charge.sql" <<PGB
\\set pool random(1, $POOLS)
\\set member random(1, $MEMBERS)
SELECT * FROM credits.charge('p' || :pool, 'u' || :member, 1, 'bench');
PGB
charges() { psql_q -c "SELECT count(*) FROM credits.ledger WHERE entry_type = 'charge'"; }

# chunk <name>: one pgbench run of CHUNK seconds, per-transaction log in $WORK/<name>.*
PROCESSED=0
chunk() {
	local out=$WORK/$1.out rc=0 p
	PGOPTIONS="-c synchronous_commit=off" pgbench -n -M prepared -T "$CHUNK" -c "$CLIENTS" -j $((CLIENTS < 2 ? CLIENTS : 2)) \
		-l --log-prefix="$WORK/$1" -f "$WORK/charge.sql" >"$out" 2>&1 || rc=$?
	p=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	if [ $rc -ne 0 ] || [ -z "$p" ] || grep -q -E 'aborted|^number of failed transactions: [1-9]' "$out"; then
		echo "INVALID RUN $1 (exit $rc)" >&2
		grep -E 'ERROR|error|aborted' "$out" | sort | uniq -c | head >&2 || true
		exit 1
	fi
	PROCESSED=$((PROCESSED + p))
}
# latencies <from epoch> <to epoch> <log files...>: latency (ms) of every
# transaction that finished in [from, to].
latencies() {
	local from=$1 to=$2
	shift 2
	cat "$@" | awk -v from="$from" -v to="$to" '{ t = $5 + $6 / 1e6; if (t >= from && t <= to) printf "%.3f\n", $3 / 1000 }'
}

if [ "$ALONE" = 1 ]; then
	log "phase 0: CALL credits.expire_grants() alone, on a copy of the loaded database"
	psql_q -d template1 -c "CREATE DATABASE expiry_alone TEMPLATE $PGDATABASE"
	psql_q -d expiry_alone -c "CHECKPOINT"
	a_from=$(date +%s.%N)
	expire -d expiry_alone
	a_to=$(date +%s.%N)
	alone_expired=$(psql_q -d expiry_alone -c "SELECT count(*) FROM credits.grants WHERE expired_at IS NOT NULL")
	alone_batches=$(psql_q -d expiry_alone -c "SELECT batches FROM credits.maintenance_runs WHERE job = 'expire_grants'")
	alone_secs=$(echo "$a_to - $a_from" | bc)
	psql_q -d template1 -c "DROP DATABASE expiry_alone"
	[ "$alone_expired" = "$N" ] || { echo "alone: expected $N expired grants, found $alone_expired" >&2; exit 1; }
fi

before=$(charges)
psql_q -c "CHECKPOINT"
log "phase 1: charges at $CLIENTS clients for $SECS s, no expiry"
p1_from=$(date +%s.%N)
for k in $(seq 1 $(((SECS + CHUNK - 1) / CHUNK))); do chunk "p1-$k"; done
p1_to=$(date +%s.%N)
latencies "$p1_from" "$p1_to" "$WORK"/p1-*.[0-9]* >"$WORK/p1.lat"

psql_q -c "CHECKPOINT"
log "phase 2: CALL credits.expire_grants() with charges at $CLIENTS clients until it returns"
(
	s=$(date +%s.%N)
	expire
	e=$(date +%s.%N)
	echo "$s $e" >"$WORK/expire.times"
) &
expire_pid=$!
k=0
while kill -0 "$expire_pid" 2>/dev/null; do
	k=$((k + 1))
	chunk "p2-$k"
done
wait "$expire_pid"
read -r e_from e_to <"$WORK/expire.times"
latencies "$e_from" "$e_to" "$WORK"/p2-*.[0-9]* >"$WORK/p2.lat"
after=$(charges)

expired=$(psql_q -c "SELECT count(*) FROM credits.grants WHERE expired_at IS NOT NULL")
expire_secs=$(echo "$e_to - $e_from" | bc)
p1_secs=$(echo "$p1_to - $p1_from" | bc)

log "results"
echo "$N expired grants over $POOLS pools (1 live grant + $((N / POOLS)) expired each, $MEMBERS members);" \
	"charges of 1 credit on random pools at $CLIENTS clients, pgbench -M prepared, synchronous_commit off"
bench_header
echo
read -r a50 a99 amax < <(pct 50 99 100 <"$WORK/p1.lat")
read -r b50 b99 bmax < <(pct 50 99 100 <"$WORK/p2.lat")
na=$(wc -l <"$WORK/p1.lat")
nb=$(wc -l <"$WORK/p2.lat")
echo "| phase | seconds | charges | charges/s | p50 ms | p99 ms | max ms |"
echo "|-------|--------:|--------:|----------:|-------:|-------:|-------:|"
printf '| no expiry | %.1f | %d | %.0f | %s | %s | %s |\n' "$p1_secs" "$na" "$(echo "$na / $p1_secs" | bc -l)" "$a50" "$a99" "$amax"
printf '| during expire_grants | %.1f | %d | %.0f | %s | %s | %s |\n' "$expire_secs" "$nb" "$(echo "$nb / $expire_secs" | bc -l)" "$b50" "$b99" "$bmax"
echo
ratio=$(awk -v a="$a99" -v b="$b99" 'BEGIN { printf "%.2f", b / a }')
batches=$(psql_q -c "SELECT batches FROM credits.maintenance_runs WHERE job = 'expire_grants' ORDER BY run_id DESC LIMIT 1")
echo "credits.maintenance_pause = $PAUSE, credits.maintenance_nice = $NICE"
printf 'expire_grants while charging: %d grants in %.1f s (%.0f grants/s, %d batches)\n' "$expired" "$expire_secs" \
	"$(echo "$expired / $expire_secs" | bc -l)" "$batches"
if [ "$ALONE" = 1 ]; then
	printf 'expire_grants alone: %d grants in %.1f s (%.0f grants/s, %d batches)\n' "$alone_expired" "$alone_secs" \
		"$(echo "$alone_expired / $alone_secs" | bc -l)" "$alone_batches"
fi
echo "charge p99 during / without expiry: $ratio $(awk -v r="$ratio" 'BEGIN { print (r <= 1.5 ? "(target <= 1.5: met)" : "(target <= 1.5: MISSED)") }')"
echo "charge max during / without expiry: $(awk -v a="$amax" -v b="$bmax" 'BEGIN { printf "%.2f", b / a }')"

log "consistency"
[ "$expired" = "$N" ] || { echo "expected $N expired grants, found $expired" >&2; exit 1; }
[ $((after - before)) -eq "$PROCESSED" ] || { echo "ledger grew by $((after - before)) charges, pgbench counted $PROCESSED" >&2; exit 1; }
echo "all $N grants expired; the ledger holds all $PROCESSED charges"
verify_empty
