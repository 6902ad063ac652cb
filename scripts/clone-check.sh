#!/usr/bin/env bash
# clone-check.sh BUILD_DIR - the first contact of a newcomer who cloned the
# tree as root into a directory nobody else may enter (/root/chat, a
# `mktemp -d` folder): copy the tracked files (as they are in the working
# tree) into a fresh 0700 directory, bring the stack up there with the
# binaries of BUILD_DIR (profile "clone", its own ports) and check that
# /health answers 200 through nginx and through Apache. Every service that runs unprivileged
# (PostgreSQL) must find somewhere it can write. Run by scripts/test.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:?usage: clone-check.sh BUILD_DIR}" && pwd)

dir=$(mktemp -d) # mode 0700
# A newcomer's shell: none of the test stack's exports (DATABASE_URL, ...),
# which the services would take over their env file (the environment wins).
STACK=(env -i PATH="$PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 "$dir/scripts/stack.sh" --profile clone
       --build-dir "$BUILD")
cleanup() {
    "${STACK[@]}" stop > /dev/null 2>&1 || true
    local h; h=$(printf '%s' "$dir" | md5sum | cut -c1-12)
    rm -rf "$dir" "/tmp/chat-pg-$h-clone" "/tmp/chat-run-$h-clone"
}
trap cleanup EXIT

git -C "$ROOT" ls-files -z | (cd "$ROOT" && tar --null -T - -cf -) | tar -C "$dir" -xf -
chmod 0700 "$dir"
# the /docs renderer, so the check does not fetch it again
[ ! -d "$ROOT/var/docs-assets" ] || { mkdir -p "$dir/var"; cp -a "$ROOT/var/docs-assets" "$dir/var/"; }

if runuser -u postgres -- test -x "$dir" 2> /dev/null; then
    echo "clone-check: postgres can enter $dir; the check would prove nothing" >&2
    exit 1
fi
"${STACK[@]}" start > "$ROOT/var/clone-check.log" 2>&1 || { cat "$ROOT/var/clone-check.log" >&2; exit 1; }
for port in 21000 21010; do # nginx, Apache
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")
    [ "$status" = 200 ] || { echo "clone-check: /health on $port answered $status in a 0700 checkout" >&2; exit 1; }
done
echo "clone-check: a checkout in a 0700 directory serves /health 200 through nginx and Apache"
