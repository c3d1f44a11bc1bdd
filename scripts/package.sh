#!/usr/bin/env bash
# Builds the Debian package dist/postgresql-15-credits_<version>-1_amd64.deb
# with the PostgreSQL extension packaging (debian/: pg_buildext, dh --with
# pgxs_loop, postgresql-server-dev-all). It holds whatever `make install`
# installs, plus docs/operations.md and monitoring/queries.yaml (examples).
# Built from a clean export of the checkout (tracked files, with their
# uncommitted changes) in a temporary directory.
#   bash scripts/package.sh          (then: bash scripts/package-check.sh)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_packages

version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" credits.control)
deb_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [ "$deb_version" != "$version-1" ]; then
	echo "debian/changelog is at $deb_version, credits.control at $version: add a debian/changelog entry $version-1" >&2
	exit 1
fi

work=$(mktemp -d /tmp/credits-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
src=$work/credits-$version
mkdir -p "$src"
log "exporting the checkout to $src"
# git stash create: a commit of the working tree's tracked files (nothing
# when it is clean), without touching the stash or the index
tree=$(git stash create)
git archive --format=tar "${tree:-HEAD}" | tar -x -C "$src"

log "building postgresql-15-credits $version-1"
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1) ||
	{ tail -40 "$work/build.log"; exit 1; }
mkdir -p "$ROOT/dist"
deb=postgresql-15-credits_${version}-1_$(dpkg-architecture -qDEB_HOST_ARCH).deb
cp "$work/$deb" "$ROOT/dist/"
log "dist/$deb"
dpkg-deb -c "$ROOT/dist/$deb" | awk '{print $6}'
