#!/usr/bin/env bash
# Makes sure Debian's chromium is on this machine: the GraphiQL browser test
# (clients/graphiql.test.mjs) drives it headless with playwright-core, which
# downloads no browser of its own. Installs the Debian package `chromium`
# when it is missing and we are root.
set -euo pipefail
if [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "chromium not found: run 'sudo apt-get install -y chromium' (or set CHROMIUM to a Chromium binary)" >&2
	exit 1
fi
echo "installing Chromium (Debian package chromium)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q chromium >/dev/null
