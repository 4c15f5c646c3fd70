#!/usr/bin/env bash
# Install the PostgreSQL and Redis servers the worker tests and the benchmark start (as throwaway
# instances, see testbed/services.py), from the distribution's packages, only when missing.
# Idempotent and quiet: with both present it does nothing and prints nothing.
#
# It never fails the run: where it cannot install (no apt-get, not root and no sudo), it says so
# and exits 0, and tests/e2e/test_e2e_workers.py then fails with the same advice.
set -uo pipefail

have_postgres() {
    command -v postgres >/dev/null 2>&1 && return 0
    compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}
have_redis() {
    command -v redis-server >/dev/null 2>&1
}

packages=()
have_postgres || packages+=(postgresql)
have_redis || packages+=(redis-server)
[ ${#packages[@]} -eq 0 ] && exit 0

warn() {
    echo "install_services.sh: $*; the worker tests and the benchmark will fail" >&2
    exit 0
}

command -v apt-get >/dev/null 2>&1 || warn "no apt-get here: install ${packages[*]} yourself"
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    # sudo resets the environment: hand apt-get the caller's proxy settings, as plain apt-get
    # would see them (apt.conf's Acquire::*::Proxy applies either way).
    as_root=(sudo -n env)
    for name in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        [ -n "${!name:-}" ] && as_root+=("$name=${!name}")
    done
else
    warn "not root and no password-less sudo: run \`apt-get install -y ${packages[*]}\` as root"
fi

echo "install_services.sh: installing ${packages[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "${as_root[@]}" apt-get update -qq >"$log" 2>&1 \
    || ! "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" \
        >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    warn "apt-get could not install ${packages[*]}"
fi
have_postgres && have_redis || warn "installed ${packages[*]}, but the binaries are still missing"
