# Shared by scripts/demo.sh and scripts/test.sh: install what is missing,
# build and install the extension, and run a throwaway PostgreSQL 15 that
# listens only on a unix socket in a temporary directory.
# shellcheck shell=bash

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PG_BIN:$PATH"

log() { printf '\n==> %s\n' "$*"; }

# Debian packages the build, the server, the tests and the benchmarks need.
PACKAGES=(g++ make cmake pkg-config libgtest-dev curl prometheus-postgres-exporter python3 python3-jsonschema python3-regex
          debhelper dpkg-dev postgresql-server-dev-all
          postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-15-cron
          postgresql-15-plproxy)

ensure_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
		return 1
	fi
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build_and_install() {
	log "building and installing the extension"
	make -C "$ROOT" -s -j2 PG_CONFIG="$PG_BIN/pg_config"
	make -C "$ROOT" -s install PG_CONFIG="$PG_BIN/pg_config"
}

# PostgreSQL refuses to run as root: as root the server runs as `postgres`.
as_server_user() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# start_server: sets PGDATA_DIR, PGHOST, PGPORT, PGUSER, PGDATABASE.
start_server() {
	RUN_DIR=$(mktemp -d /tmp/credits-pg.XXXXXX)
	chmod 755 "$RUN_DIR"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$RUN_DIR"
	PGDATA_DIR=$RUN_DIR/data
	log "starting a throwaway PostgreSQL 15 in $RUN_DIR (unix socket only)"
	as_server_user "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$RUN_DIR/initdb.log" 2>&1 \
		|| { cat "$RUN_DIR/initdb.log"; return 1; }
	cat >>"$PGDATA_DIR/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$RUN_DIR'
port = 5432
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
# socket-only server: pg_cron runs jobs in background workers, not over libpq
cron.use_background_workers = on
max_worker_processes = 20
max_connections = 120
shared_buffers = '256MB'
fsync = on
max_prepared_transactions = 10
# %e: the SQLSTATE, so tests (test/stress/load.sh) classify errors by code
log_line_prefix = '%m [%p] %e '
CONF
	as_server_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$RUN_DIR/server.log" -w -t 60 start >/dev/null \
		|| { cat "$RUN_DIR/server.log"; return 1; }
	export PGHOST=$RUN_DIR PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
	export SERVER_LOG=$RUN_DIR/server.log
	trap stop_server EXIT
}

stop_server() {
	if [ -n "${PGDATA_DIR:-}" ] && [ -f "$PGDATA_DIR/postmaster.pid" ]; then
		as_server_user "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
	fi
	[ -n "${RUN_DIR:-}" ] && [ -z "${KEEP_SERVER_DIR:-}" ] && rm -rf "$RUN_DIR"
	PGDATA_DIR=
}
