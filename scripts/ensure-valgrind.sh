#!/usr/bin/env bash
# Makes sure valgrind (with callgrind_control) is on this machine: the
# bench's instruction counts (bin/bench -callgrind) and their test in
# cmd/bench run the services under callgrind. Installs the Debian package
# `valgrind` when it is missing and we are root.
set -euo pipefail
if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "valgrind not found: run 'sudo apt-get install -y valgrind'" >&2
	exit 1
fi
echo "installing valgrind (Debian package valgrind)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q valgrind >/dev/null
