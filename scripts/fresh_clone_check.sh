#!/usr/bin/env bash
# Run the README's commands as a newcomer would: a fresh clone of the committed tree (HEAD, not
# the work tree) in a temporary directory, with HOME pointing at a new empty directory, so no npm,
# pip or harness cache and no ~/.npmrc or ~/.config/pip help. Prints each command's exit code and
# wall time. Usage: scripts/fresh_clone_check.sh [demo|test|both] [PYTEST_ARGS...]   (default:
# both). With PYTEST_ARGS, the test command is `./tox.sh -e py -- PYTEST_ARGS` (some tests only).
set -uo pipefail
which=${1:-both}
case "$which" in demo | test | both) ;; *) echo "usage: $0 [demo|test|both] [PYTEST_ARGS...]" >&2 && exit 2 ;; esac
shift || true
test_command=(./tox.sh)
if [ $# -gt 0 ]; then
    test_command=(./tox.sh -e py -- "$@")
fi
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/synapse_dp_auth-fresh.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
git clone --quiet "$repo" "$scratch/clone" || exit 1
echo "fresh clone of $(git -C "$scratch/clone" rev-parse --short HEAD) in $scratch/clone, HOME=$scratch/home"

run() {
    local name=$1
    shift
    mkdir -p "$scratch/home"
    local start=$SECONDS
    (
        cd "$scratch/clone" &&
            unset XDG_CACHE_HOME XDG_CONFIG_HOME XDG_DATA_HOME PIP_CACHE_DIR npm_config_cache \
                NPM_CONFIG_CACHE &&
            HOME="$scratch/home" "$@"
    )
    local code=$?
    echo "fresh_clone_check: \`$*\` ($name) exited $code after $((SECONDS - start)) s"
    return $code
}

status=0
# Each command gets its own empty HOME: the test command must not ride on the demo's caches.
if [ "$which" != test ]; then
    run demo ./tox.sh -e demo || status=1
    rm -rf "$scratch/home"
fi
if [ "$which" != demo ]; then
    run test "${test_command[@]}" || status=1
fi
exit $status
