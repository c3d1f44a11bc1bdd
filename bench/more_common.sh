# Shared by every benchmark script: the server set-up (build, throwaway
# server, tuning) and small helpers. Source it after setting BENCH_DIR.
# shellcheck shell=bash
. "$BENCH_DIR/../scripts/lib.sh"
cd "$ROOT"

psql_q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# Builds and installs credits, starts a throwaway server, tunes it
# (autovacuum off: no worker takes one of the two cores in the middle of a
# run; each run VACUUMs what it needs) and restarts it.
bench_server() {
	ensure_packages
	BUILT_FROM=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'an unknown commit')
	build_and_install
	start_server
	log "tuning the server"
	psql_q <<'SQL'
ALTER SYSTEM SET shared_buffers = '1GB';
ALTER SYSTEM SET wal_buffers = '64MB';
ALTER SYSTEM SET max_wal_size = '16GB';
ALTER SYSTEM SET min_wal_size = '2GB';
ALTER SYSTEM SET checkpoint_timeout = '1h';
ALTER SYSTEM SET checkpoint_completion_target = 0.9;
ALTER SYSTEM SET effective_cache_size = '4GB';
ALTER SYSTEM SET work_mem = '16MB';
ALTER SYSTEM SET maintenance_work_mem = '512MB';
ALTER SYSTEM SET random_page_cost = 1.1;
ALTER SYSTEM SET wal_compression = 'lz4';
ALTER SYSTEM SET max_connections = 120;
ALTER SYSTEM SET autovacuum = off;
SQL
	as_server_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$RUN_DIR/server.log" -w -t 120 restart >/dev/null
	psql_q -c "SET client_min_messages = warning" -c "CREATE EXTENSION credits"
	WORK=$RUN_DIR/work
	mkdir -p "$WORK"
	chmod 777 "$WORK"
}

# The machine line of every result table.
bench_header() {
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1);" \
		"load average at the end $(cut -d' ' -f1-3 /proc/loadavg); $(psql_q -c 'SHOW server_version')"
	echo "credits $(psql_q -c "SELECT extversion FROM pg_extension WHERE extname = 'credits'") built from $BUILT_FROM"
}

# Percentiles of numbers on stdin (one a line): pct <p> ... (nearest rank).
pct() {
	sort -g | awk -v ps="$*" 'BEGIN { n = split(ps, p, " ") } { v[NR] = $1 }
		END { for (i = 1; i <= n; i++) { r = int(p[i] / 100 * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR;
		      printf "%s%s", (i > 1 ? " " : ""), v[r] } print "" }'
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

verify_empty() {
	local n
	n=$(psql_q -c "SELECT count(*) FROM credits.verify()")
	if [ "$n" != 0 ]; then
		psql -X -c "SELECT * FROM credits.verify() LIMIT 20" >&2
		echo "credits.verify() reports $n problems" >&2
		return 1
	fi
	echo "credits.verify() is empty"
}
