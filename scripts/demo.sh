#!/usr/bin/env bash
# Command 1: install what is missing, build and install credits, start a
# throwaway PostgreSQL 15 on a unix socket in a temporary directory, run the
# demo (scripts/demo.sql) and stop the server.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_packages
build_and_install
start_server
log "demo (scripts/demo.sql)"
psql -X -q -d postgres -f "$ROOT/scripts/demo.sql"
log "done: the server is stopped and its directory removed"
