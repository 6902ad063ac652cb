# sanitizer.sh - sourced by test.sh and faults.sh: with SANITIZE=1, the
# ASan/UBSan/LSan settings under which a stack's servers write their
# reports into DIR (checked by the caller once the servers have exited).
#   sanitizer_env DIR
sanitizer_env() {
    mkdir -p "$1"
    [ "${SANITIZE:-0}" = 1 ] || return 0
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$1/asan"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$1/ubsan"
    export LSAN_OPTIONS="suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/lsan.supp"
}
