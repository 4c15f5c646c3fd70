#!/usr/bin/env bash
# Install the JavaScript bridge clients the tests and the demo drive (tests/js/package-lock.json).
#
# npm runs from inside tests/js, exactly as a person would type it: with `--prefix`, npm would look
# for its *global* configuration in `<prefix>/etc/npmrc` and silently skip the machine's own (where
# an admin or a CI image sets `cafile`, a proxy or a registry mirror). The user's ~/.npmrc and any
# npm_config_* variables apply as usual; tox passes those through (see tox.ini).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../tests/js"
exec npm ci --no-audit --no-fund --loglevel=error --prefer-offline
