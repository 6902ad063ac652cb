#!/usr/bin/env bash
# test.sh - `make test`: deps, build, start the test stack from scratch,
# run every test (ctest: unit + integration), the fuzz smoke run
# (FUZZ=0 skips it), always tear down.
# SANITIZE=1 builds and runs everything under ASan + UBSan and fails on
# any sanitizer report written by the servers.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

"$ROOT/scripts/deps.sh" test

. "$ROOT/scripts/build-env.sh"
build_tree "$ROOT/build-test" "$ROOT/build-asan"

STACK=("$ROOT/scripts/stack.sh" --profile test --build-dir "$BUILD")
"${STACK[@]}" stop > /dev/null 2>&1 || true
rm -rf "$ROOT/var/test" /tmp/chat-pg-*-test /tmp/chat-run-*-test
sanitizer_env "$ROOT/var/test/sanitizer"
# tests skip memory-growth bounds under ASan (its quarantine holds freed memory)
[ "${SANITIZE:-0}" != 1 ] || export CHAT_SANITIZE=1

cleanup() { "${STACK[@]}" stop > /dev/null 2>&1 || true; }
trap cleanup EXIT

"${STACK[@]}" start
eval "$("${STACK[@]}" env)"

rc=0
ctest --test-dir "$BUILD" --output-on-failure -j1 || rc=$?
# Each fuzz target 5 s on its corpus (clang; FUZZ=0 skips it).
[ "${FUZZ:-1}" = 0 ] || "$ROOT/scripts/fuzz.sh" --smoke || rc=1

# Stop the servers (SIGTERM) so LeakSanitizer runs at their exit.
cleanup
trap - EXIT

# a newcomer's first contact: the tree in a 0700 directory (as root in /root)
"$ROOT/scripts/clone-check.sh" "$BUILD" || rc=1

# The short fault-injection run, on a stack of its own (FAULTS=0 skips it).
if [ "${FAULTS:-1}" = 1 ]; then
    FAULTS_BUILD=$BUILD "$ROOT/scripts/faults.sh" --short || rc=1
fi
if [ "${SANITIZE:-0}" = 1 ] && ls "$ROOT"/var/test/sanitizer/* > /dev/null 2>&1; then
    echo "sanitizer reports:" >&2
    cat "$ROOT"/var/test/sanitizer/* >&2
    rc=1
fi
exit $rc
