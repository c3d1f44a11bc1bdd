#!/usr/bin/env bash
# META.json validates against the official PGXN Meta Spec v1 JSON schemas
# (test/pgxn/schema-v1, from github.com/pgxn/meta) with Debian's
# python3-jsonschema, a planted mistake is caught, and its versions are
# credits.control's. Needs no server.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" test/pgxn/validate.py META.json credits.control
