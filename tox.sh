#!/usr/bin/env bash
# Run tox, installing it first into .venv-tox/ if needed: the one prerequisite is Python 3.10+.
# Everything else (Synapse, bridge client libraries, Synapse's test harness, the npm packages) is
# installed by tox itself; see tox.ini.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv="$here/.venv-tox"
if [ ! -x "$venv/bin/tox" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "tox==4.67.15"
fi
cd "$here"
exec "$venv/bin/tox" "$@"
