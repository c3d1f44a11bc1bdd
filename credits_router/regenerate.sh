#!/usr/bin/env bash
# Rewrites credits_router/routed.sql from the credits of this tree: builds and
# installs it, starts a throwaway server, creates the extension and runs
# generate.sql there. Run it after changing a function that takes a pool
# first, a view, an argument or a comment (test/stress/router.sh fails until
# then). Honours PG_BIN, as scripts/test.sh does.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
build_and_install
start_server
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE EXTENSION credits"
psql -X -q -At -v ON_ERROR_STOP=1 -d postgres -f "$ROOT/credits_router/generate.sql" >"$ROOT/credits_router/routed.sql.new"
mv "$ROOT/credits_router/routed.sql.new" "$ROOT/credits_router/routed.sql"
make -C "$ROOT" -s install PG_CONFIG="$PG_BIN/pg_config"
git -C "$ROOT" diff --stat -- credits_router/routed.sql
