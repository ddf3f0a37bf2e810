#!/usr/bin/env bash
# Makes sure the pinned schemathesis (scripts/schemathesis-requirements.txt)
# is installed in a virtualenv under .cache/schemathesis (git-ignored), for
# the REST fuzz test (e2e/openapi_test.go), and prints its `st` binary.
# Reinstalls when the requirements change. Needs python3 with venv (Debian:
# python3-venv, installed when missing and we are root) and PyPI.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
req="$root/scripts/schemathesis-requirements.txt"
venv="$root/.cache/schemathesis/venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -x "$venv/bin/st" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	echo "$venv/bin/st"
	exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "python3 venv is missing: run 'sudo apt-get install -y python3-venv'" >&2
		exit 1
	fi
	echo "installing python3-venv (Debian)..." >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q python3-venv >/dev/null
fi
echo "installing schemathesis into $venv..." >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --no-input -r "$req" >&2
echo "$want" >"$stamp"
echo "$venv/bin/st"
