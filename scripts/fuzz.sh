#!/usr/bin/env bash
# fuzz.sh [SECONDS] - `make fuzz`: build the libFuzzer targets (tests/fuzz/)
# with clang, ASan and UBSan in build-fuzz/ and run each for SECONDS
# (default 60) on its corpus in var/fuzz/<target>/ (seeded from
# tests/fuzz/corpus/<target>/ and kept between runs). Fails on the first
# crash, leak or sanitizer report; the input that caused it is left in
# var/fuzz/ as crash-* / leak-*.
#
# fuzz.sh --smoke [SECONDS] - what `make test` runs (scripts/test.sh):
# each target SECONDS (default 5) on the repository's corpus alone, new
# inputs kept only in var/fuzz-smoke/ (wiped each run); fails on any crash.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Every target, in one place (tests/fuzz/CMakeLists.txt builds them).
TARGETS=(fuzz_api fuzz_query fuzz_wsframe fuzz_message fuzz_token fuzz_router)
SMOKE=0
if [ "${1:-}" = --smoke ]; then
    SMOKE=1
    shift
fi
SECONDS_EACH=${1:-$([ $SMOKE = 1 ] && echo 5 || echo 60)}
cd "$ROOT"

"$ROOT/scripts/deps.sh" fuzz
BUILD=$ROOT/build-fuzz
CC=clang cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DCHAT_SANITIZE=ON \
    -DCHAT_BUILD_FUZZ=ON -DCHAT_BUILD_TESTS=OFF -DCHAT_BUILD_BENCH=OFF > /dev/null
cmake --build "$BUILD" -j "$(nproc)" --target "${TARGETS[@]}" > "$BUILD/fuzz-build.log" 2>&1 || {
    cat "$BUILD/fuzz-build.log" >&2
    exit 1
}

# A scratch directory first: libFuzzer writes new inputs to the first corpus only.
if [ $SMOKE = 1 ]; then
    WORK=$ROOT/var/fuzz-smoke
    rm -rf "$WORK"
else
    WORK=$ROOT/var/fuzz
fi
mkdir -p "$WORK"

for t in "${TARGETS[@]}"; do
    corpus=$WORK/$t
    mkdir -p "$corpus"
    seeds=$ROOT/tests/fuzz/corpus/$t
    dirs=("$corpus")
    if [ $SMOKE = 1 ]; then
        dirs+=("$seeds")
    elif [ -d "$seeds" ]; then
        cp -n "$seeds"/* "$corpus"/ 2> /dev/null || true
    fi
    echo "== $t: ${SECONDS_EACH}s"
    rc=0
    (cd "$WORK" && "$BUILD/tests/fuzz/$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        "${dirs[@]}" > "$WORK/$t.log" 2>&1) || rc=$?
    grep -E "^#[0-9]+.*DONE|^stat::number_of_executed_units" "$WORK/$t.log" || true
    if [ $rc -ne 0 ]; then
        echo "fuzz.sh: $t failed (exit $rc); the input is $WORK/crash-* or leak-*:" >&2
        grep -E -A12 "==[0-9]+==ERROR|runtime error|deadly signal|^fuzz_" "$WORK/$t.log" | head -40 >&2
        exit 1
    fi
done
