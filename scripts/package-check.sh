#!/usr/bin/env bash
# The package on a fresh Debian 12 with nothing of ours: builds it
# (scripts/package.sh) unless DEB names one, copies a pristine debootstrap
# root (made once at $FRESH_BASE, /tmp/fresh-root, as ../shared/tools/
# fresh-check.sh does), and in it: apt-get install ./postgresql-15-credits_*.deb
# (which brings PostgreSQL 15; bookworm-security added, as on any installed
# Debian 12), CREATE EXTENSION credits, one charge and
# verify(); then apt-get purge, and no file of the package may be left.
# Needs root (chroot, bind mounts) and the Debian mirror. About 3-4 minutes.
#   bash scripts/package-check.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
[ "$(id -u)" -eq 0 ] || { echo "run as root (chroot)"; exit 1; }

if [ -z "${DEB:-}" ]; then
	bash scripts/package.sh
	DEB=$(ls -t dist/postgresql-15-credits_*.deb | head -1)
fi
# the package holds every extension make install installs (the listing is
# read whole: grep -q would end the pipe early, and pipefail would see it)
contents=$(dpkg-deb -c "$DEB")
for ext in credits credits_router; do
	[ -f "$ext.control" ] || [ -f "$ext/$ext.control" ] || continue
	grep -q "/extension/$ext.control\$" <<<"$contents" || { echo "$DEB has no $ext.control"; exit 1; }
	echo "the package holds $ext"
done
base=${FRESH_BASE:-/tmp/fresh-root}
if [ ! -x "$base/bin/bash" ]; then
	command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null
	mirror=$(grep -h '^URIs' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')
	log "debootstrap of a Debian 12 root at $base"
	debootstrap --variant=minbase bookworm "$base" ${mirror:+"$mirror"} >/tmp/credits-debootstrap.log 2>&1
fi

root=$(mktemp -d /tmp/credits-fresh.XXXXXX)
mounted=()
cleanup() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
	# never delete through a mount that is still attached
	if grep -q " $root/" /proc/mounts; then echo "mounts remain under $root; not removing it"; else rm -rf "$root"; fi
}
trap cleanup EXIT
log "copying $base to $root"
cp -a "$base/." "$root/"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A Debian 12 as installed has its security updates: the package needs the
# PostgreSQL 15 minor release it was built against, or later (pg_buildext
# follows /etc/postgresql-common/minor_versions; a server older than the
# headers lacks symbols they use, e.g. heap_datum_check since 15.20).
mirror=$(awk '$1 == "deb" { print $2; exit }' "$root/etc/apt/sources.list")
security=$(grep -h '^URIs' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/security/ { print $2; exit }')
printf 'deb %s bookworm-updates main\ndeb %s bookworm-security main\n' "${mirror:-http://deb.debian.org/debian}" \
	"${security:-http://deb.debian.org/debian-security}" >>"$root/etc/apt/sources.list"
for m in proc sys dev dev/pts; do mount --bind "/$m" "$root/$m"; mounted+=("$root/$m"); done
cp "$DEB" "$root/root/"
deb=$(basename "$DEB")

log "in the fresh root: apt-get install ./$deb, CREATE EXTENSION credits, a charge, apt-get purge"
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	DEBIAN_FRONTEND=noninteractive deb="$deb" bash -euo pipefail -c '
	cd /root
	apt-get update -q >/dev/null
	apt-get install -y -q "./$deb" >apt-install.log 2>&1 || { tail -30 apt-install.log; exit 1; }
	echo "installed: $(dpkg-query -W -f="\${Package} \${Version}" postgresql-15-credits)"
	dpkg -L postgresql-15-credits | sort >files.txt
	# no init system in a chroot: start the cluster the package of postgresql-15 made
	pg_lsclusters -h | grep -q "^15 main" || pg_createcluster 15 main >/dev/null
	pg_ctlcluster 15 main start
	cd /tmp
	runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -At <<SQL
CREATE EXTENSION credits;
SELECT extversion FROM pg_extension WHERE extname = '"'"'credits'"'"';
SELECT credits.create_pool('"'"'acme'"'"');
SELECT credits.grant('"'"'acme'"'"', 100);
SELECT status, charged, balance FROM credits.charge('"'"'acme'"'"', '"'"'alice'"'"', 30);
SELECT count(*) AS problems FROM credits.verify();
DROP EXTENSION credits;
SQL
	pg_ctlcluster 15 main stop
	cd /root
	apt-get purge -y -q postgresql-15-credits >apt-purge.log 2>&1 || { tail -30 apt-purge.log; exit 1; }
	left=0
	while read -r f; do
		[ -e "$f" ] && [ ! -d "$f" ] && { echo "left behind: $f"; left=1; }
	done <files.txt
	dpkg-query -W postgresql-15-credits 2>/dev/null | grep -q . && { echo "still known to dpkg"; left=1; }
	[ "$left" -eq 0 ] && echo "removed: no file of the package is left"
	exit "$left"
'
log "package check passed"
