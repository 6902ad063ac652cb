#!/usr/bin/env bash
# faults.sh - `make test-faults`: deps, build (as scripts/test.sh does, in
# build-faults), start the faults stack from scratch, run the fault-injection
# suite (tests/faults/run.mjs), always stop the stack.
#
#   scripts/faults.sh [--short] [--soak MINUTES]
#   (make test-faults FAULTS_ARGS=--short; SANITIZE=1 builds with ASan + UBSan;
#   FAULTS_BUILD=DIR uses a build made already: scripts/test.sh runs --short so)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

. "$ROOT/scripts/build-env.sh"
if [ -n "${FAULTS_BUILD:-}" ]; then
    BUILD=$FAULTS_BUILD # scripts/test.sh installed the deps and built it
else
    "$ROOT/scripts/deps.sh"
    build_tree "$ROOT/build-faults" "$ROOT/build-faults-asan"
fi

# The suite's only npm dependency (ws), like deps.sh does for tests/integration.
if [ ! "$ROOT/tests/faults/node_modules/.package-lock.json" -nt "$ROOT/tests/faults/package-lock.json" ]; then
    (cd "$ROOT/tests/faults" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error > /dev/null)
fi

# The stack's env file is its configuration; variables exported by a caller
# (scripts/test.sh exports its own stack's) would win over it.
unset DATABASE_URL REDIS_URL
STACK=("$ROOT/scripts/stack.sh" --profile faults --build-dir "$BUILD")
"${STACK[@]}" stop > /dev/null 2>&1 || true
rm -rf "$ROOT/var/faults" /tmp/chat-pg-*-faults
sanitizer_env "$ROOT/var/faults/sanitizer"

cleanup() { "${STACK[@]}" stop > /dev/null 2>&1 || true; }
trap cleanup EXIT

"${STACK[@]}" start
eval "$("${STACK[@]}" env)"

rc=0
node "$ROOT/tests/faults/run.mjs" "$@" || rc=$?

cleanup
trap - EXIT
if ls "$ROOT"/var/faults/sanitizer/* > /dev/null 2>&1; then
    echo "sanitizer reports (written at exit):" >&2
    cat "$ROOT"/var/faults/sanitizer/* >&2
    rc=1
fi
exit $rc
