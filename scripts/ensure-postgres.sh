#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries are on this machine (tests and
# `make run` start a throwaway cluster with them). Installs the Debian
# package `postgresql` when they are missing and we are root.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "PostgreSQL server binaries not found: run 'sudo apt-get install -y postgresql' (or set DATABASE_URL)" >&2
	exit 1
fi
echo "installing PostgreSQL server binaries (Debian package postgresql)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends postgresql >/dev/null
# The Debian package starts a cluster of its own; we do not use it.
(pg_ctlcluster --help >/dev/null 2>&1 && pg_lsclusters -h 2>/dev/null | while read -r ver name _; do pg_ctlcluster "$ver" "$name" stop || true; done) || true
