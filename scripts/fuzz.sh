#!/usr/bin/env bash
# fuzz.sh [SECONDS] - `make fuzz`: build the libFuzzer targets (tests/fuzz/)
# with clang, ASan and UBSan in build-fuzz/ and run each for SECONDS
# (default 60) on its corpus in var/fuzz/<target>/ (seeded from
# tests/fuzz/corpus/<target>/ and kept between runs). Fails on the first
# crash, leak or sanitizer report; the input that caused it is left in
# var/fuzz/ as crash-* / leak-*. Not part of `make test` (long by design).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_EACH=${1:-60}
cd "$ROOT"

"$ROOT/scripts/deps.sh" fuzz
BUILD=$ROOT/build-fuzz
CC=clang cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DCHAT_SANITIZE=ON \
    -DCHAT_BUILD_FUZZ=ON -DCHAT_BUILD_TESTS=OFF -DCHAT_BUILD_BENCH=OFF > /dev/null
cmake --build "$BUILD" -j "$(nproc)" --target fuzz_message fuzz_token fuzz_router

for t in fuzz_message fuzz_token fuzz_router; do
    corpus=$ROOT/var/fuzz/$t
    mkdir -p "$corpus"
    [ -d "$ROOT/tests/fuzz/corpus/$t" ] && cp -n "$ROOT/tests/fuzz/corpus/$t"/* "$corpus"/ 2> /dev/null || true
    echo "== $t: ${SECONDS_EACH}s"
    rc=0
    (cd "$ROOT/var/fuzz" && "$BUILD/tests/fuzz/$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        "$corpus" > "$ROOT/var/fuzz/$t.log" 2>&1) || rc=$?
    grep -E "^#[0-9]+.*DONE|^stat::number_of_executed_units" "$ROOT/var/fuzz/$t.log" || true
    if [ $rc -ne 0 ]; then
        echo "fuzz.sh: $t failed (exit $rc); the input is var/fuzz/crash-* or leak-*:" >&2
        grep -E -A12 "==[0-9]+==ERROR|runtime error|deadly signal" "$ROOT/var/fuzz/$t.log" | head -40 >&2
        exit 1
    fi
done
