#!/usr/bin/env bash
# Renewal benchmark: CALL credits.renew_subscriptions() with N subscriptions
# due at once (a month's start), nothing else running.
#
#   bash bench/renew.sh
#
# Environment (defaults): RENEW_SUBS (100000: subscriptions, all due),
# RENEW_POOLS (10000), RENEW_CAPPED (0: every RENEW_CAPPED-th subscription
# has a rollover cap, which renew_subscriptions issues one subscription at a
# time; 0: none), KEEP_SERVER_DIR.
#
# Loads bench/renew_load.sql (monthly subscriptions spread over the pools,
# each issued through last month, so that exactly the current month's
# period is due for every one), then times CALL credits.renew_subscriptions()
# and reports grants issued per second. Checks that every subscription got
# its grant and ledger entry, none is left due, and credits.verify() is empty.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/more_common.sh"

N=${RENEW_SUBS:-100000}
POOLS=${RENEW_POOLS:-10000}
CAPPED=${RENEW_CAPPED:-0}

bench_server
log "loading $POOLS pools and $N subscriptions due (every ${CAPPED}-th capped; 0: none)"
t0=$(date +%s.%N)
psql_q -v pools="$POOLS" -v subs="$N" -v capped="$CAPPED" -f "$BENCH_DIR/renew_load.sql"
printf 'loaded in %.0f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
verify_empty
grants_before=$(psql_q -c "SELECT count(*) FROM credits.grants")

psql_q -c "CHECKPOINT"
log "CALL credits.renew_subscriptions()"
s=$(date +%s.%N)
psql_q -c "CALL credits.renew_subscriptions()"
e=$(date +%s.%N)
secs=$(echo "$e - $s" | bc)
issued=$(($(psql_q -c "SELECT count(*) FROM credits.grants") - grants_before))
read -r batches rows < <(psql_q -F ' ' -c "SELECT batches, rows_done FROM credits.maintenance_runs WHERE job = 'renew_subscriptions'")

log "results"
echo "$N monthly subscriptions over $POOLS pools, all due (every ${CAPPED}-th with a rollover cap; 0: none)"
bench_header
printf 'renew_subscriptions: %d grants issued in %.1f s (%.0f grants/s, %d batches, %d subscriptions)\n' \
	"$issued" "$secs" "$(echo "$issued / $secs" | bc -l)" "$batches" "$rows"

log "consistency"
[ "$issued" = "$N" ] || { echo "expected $N grants issued, found $issued" >&2; exit 1; }
due=$(psql_q -c "SELECT subscriptions_due FROM credits.metrics()")
[ "$due" = 0 ] || { echo "$due subscriptions still due" >&2; exit 1; }
entries=$(psql_q -c "SELECT count(*) FROM credits.ledger l JOIN credits.grants g USING (pool_id, grant_id)
                     WHERE l.entry_type = 'grant' AND g.period_index = 13")
[ "$entries" = "$N" ] || { echo "expected $N ledger entries for the new grants, found $entries" >&2; exit 1; }
echo "every subscription got its grant and ledger entry; none is due"
verify_empty
