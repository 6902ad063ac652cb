#!/usr/bin/env bash
# deps.sh [test|fuzz] - install what the build, the stack (and with `test`,
# the tests, their fuzz smoke run included; with `fuzz`, clang and
# libFuzzer) need, and only what is missing (Debian 12). Quiet when all is
# there.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

PKGS=(build-essential cmake pkg-config
      libfcgi-dev libfcgi-bin libwebsockets-dev libwebsockets-evlib-uv libuv1-dev uthash-dev
      libhiredis-dev libjansson-dev libjwt-dev libsodium-dev libpq-dev libcmocka-dev libunistring-dev
      postgresql postgresql-contrib redis-server redis-tools nginx-light
      libsystemd-dev systemd curl procps iproute2)
# Node.js runs the integration tests; any packaging of it will do (Debian's
# nodejs + npm, or a nodejs that bundles npm).
command -v node > /dev/null && command -v npm > /dev/null || PKGS+=(nodejs npm)
# `deps.sh test`: the browser test drives Debian's Chromium (playwright-core);
# the metrics test checks /metrics with promtool (package prometheus).
[ "${1:-}" != test ] || PKGS+=(chromium prometheus apache2)
# `deps.sh fuzz`: clang with libFuzzer's runtime (scripts/fuzz.sh); `test`
# too, for its fuzz smoke run, unless FUZZ=0 skips that.
if [ "${1:-}" = fuzz ] || { [ "${1:-}" = test ] && [ "${FUZZ:-1}" != 0 ]; }; then
    PKGS+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nginx-light or full nginx both serve.
if [[ " ${missing[*]-} " == *" nginx-light "* ]] && command -v nginx > /dev/null; then
    missing=("${missing[@]/nginx-light/}")
fi
want=()
for p in "${missing[@]-}"; do [ -n "$p" ] && want+=("$p"); done
if [ ${#want[@]} -gt 0 ]; then
    echo "deps: installing ${want[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" > /dev/null
fi

# Debian's postinst scripts may start the system services; ours run privately.
for svc in postgresql redis-server nginx; do
    command -v service > /dev/null && service "$svc" status > /dev/null 2>&1 && service "$svc" stop > /dev/null 2>&1 || true
done

# npm ci when node_modules is missing or older than the lock file.
if [ ! "$ROOT/tests/integration/node_modules/.package-lock.json" -nt "$ROOT/tests/integration/package-lock.json" ]; then
    (cd "$ROOT/tests/integration" && npm ci --no-audit --no-fund --loglevel=error > /dev/null)
fi
