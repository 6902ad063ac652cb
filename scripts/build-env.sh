# build-env.sh - sourced by test.sh and faults.sh: how they build the tree
# they test, and the sanitizer settings their stacks run under.

# build_tree DIR ASAN_DIR: configure and build the Debug tree, warnings as
# errors, in DIR, or with SANITIZE=1 the ASan + UBSan tree in ASAN_DIR; sets
# BUILD to the directory used.
build_tree() {
    local root flags=(-DCMAKE_BUILD_TYPE=Debug -DCHAT_WERROR=ON)
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    if [ "${SANITIZE:-0}" = 1 ]; then
        BUILD=$2
        flags+=(-DCHAT_SANITIZE=ON)
    else
        BUILD=$1
    fi
    cmake -S "$root" -B "$BUILD" "${flags[@]}" > /dev/null
    cmake --build "$BUILD" -j "$(nproc)"
}

# sanitizer_env DIR: with SANITIZE=1, the ASan/UBSan/LSan settings under
# which a stack's servers write their reports into DIR (checked by the
# caller once the servers have exited).
sanitizer_env() {
    mkdir -p "$1"
    [ "${SANITIZE:-0}" = 1 ] || return 0
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$1/asan"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$1/ubsan"
    export LSAN_OPTIONS="suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/lsan.supp"
}
