#!/usr/bin/env bash
# ab.sh BUILD_A BUILD_B [ROUNDS] - A/B of two builds on the bench stack, interleaved
# (A, B, A, B, ...): each round starts a fresh bench stack from the build's own source tree
# (its scripts/stack.sh --profile bench and its migrations, so a build runs on the schema it
# was written for) and runs ws-idle (19,000 sockets on one gateway), rest-send (64
# connections, 10 s) and rest-history (first pages from the cache, from the database, deep
# pages; 10 s each) with this tree's chat-bench (build-bench/bench/chat-bench). For "did
# this change cost anything" on a machine whose speed drifts between runs.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
A=$(cd "${1:?usage: ab.sh BUILD_A BUILD_B [ROUNDS]}" && pwd)
B=$(cd "${2:?usage: ab.sh BUILD_A BUILD_B [ROUNDS]}" && pwd)
ROUNDS=${3:-2}
BENCH=$ROOT/build-bench/bench/chat-bench
ulimit -n 65536 2> /dev/null || ulimit -n 20000

# The source tree a CMake build directory was configured from.
source_of() { sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$1/CMakeCache.txt"; }

for r in $(seq 1 "$ROUNDS"); do
    for b in "$A" "$B"; do
        tree=$(source_of "$b")
        [ -x "$tree/scripts/stack.sh" ] || { echo "ab.sh: no source tree for $b" >&2; exit 1; }
        S=("$tree/scripts/stack.sh" --profile bench --build-dir "$b")
        "${S[@]}" stop > /dev/null 2>&1
        rm -rf "$tree/var/bench" /tmp/chat-pg-*-bench
        "${S[@]}" start > /dev/null 2>&1 || { echo "ab.sh: the stack did not start on $b" >&2; exit 1; }
        echo "== round $r: $b"
        "$BENCH" --json --base-url http://127.0.0.1:28000 --ws-url ws://127.0.0.1:28092 --scenario ws-idle \
            --connections 19000 --users 200 --duration 10 --gateway-pid "$(cat "$tree/var/bench/pids/gateway2.pid")" | tail -1
        "$BENCH" --json --base-url http://127.0.0.1:28000 --ws-url ws://127.0.0.1:28000 --scenario rest-send \
            --connections 64 --users 64 --conversations 64 --duration 10 | tail -1
        "$BENCH" --json --base-url http://127.0.0.1:28000 --ws-url ws://127.0.0.1:28000 --scenario rest-history \
            --connections 16 --users 4 --conversations 4 --history 110 --duration 10 | tail -3
        "${S[@]}" stop > /dev/null 2>&1
    done
done
