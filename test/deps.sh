#!/usr/bin/env bash
# test/deps.sh: install what ar needs to build, test and demo, with apt-get,
# when it is missing.  Safe to run again; does nothing when all is there.
set -euo pipefail

PKGS="postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
libxml2-dev libxml2-utils libtap-parser-sourcehandler-pgtap-perl
default-jre-headless libsaxonhe-java build-essential pkg-config"

missing=()
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "ar: installing missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "ar: not root; install them with: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "ar: packages installed"
