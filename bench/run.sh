#!/usr/bin/env bash
# run.sh [--quick] [--build-dir DIR] - build (Release), start the bench stack
# (scripts/stack.sh --profile bench), measure this machine's own limits
# (pgbench doing a send's statement, a trivial FastCGI responder behind the
# same nginx config, redis-benchmark XADD), run every chat-bench scenario and
# write bench/RESULTS.md (full run) or print the table (--quick, well under
# 60 s). --build-dir uses binaries already built there instead (`make test`
# runs `--quick` on its own build as a smoke test). Fails when a scenario
# reports errors or completes nothing; there are no timing asserts.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=0
BUILD=
while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --build-dir) BUILD=$(cd "${2:?--build-dir needs a directory}" && pwd); shift ;;
        *) echo "usage: bench/run.sh [--quick] [--build-dir DIR]" >&2; exit 2 ;;
    esac
    shift
done
VAR=$ROOT/var/bench
OUT=$VAR/results.jsonl
# Under `make test` the test stack's settings are exported (scripts/stack.sh
# env); the servers and psql below must use the bench stack's own instead.
unset DATABASE_URL REDIS_URL CHAT_BASE_URL CHAT_WS_URL CHAT_STRICT_BASE_URL CHAT_STRICT_WS_URL \
    CHAT_ENV_FILE CHAT_STACK CHAT_VAR_DIR CHAT_API_BIN CHAT_GATEWAY_BIN CHAT_GATEWAY_PORTS

if [ -z "$BUILD" ]; then
    BUILD=$ROOT/build-bench
    "$ROOT/scripts/deps.sh"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCHAT_BUILD_TESTS=OFF > /dev/null
    cmake --build "$BUILD" -j "$(nproc)" > /dev/null
fi
STACK=("$ROOT/scripts/stack.sh" --profile bench --build-dir "$BUILD")
BENCH=$BUILD/bench/chat-bench

# Tens of thousands of sockets on each side of the loopback (this machine caps
# open files at 20,000 per process, so ws-idle holds 19,000).
ulimit -n 200000 2> /dev/null || ulimit -n "$(ulimit -Hn)"

"${STACK[@]}" stop > /dev/null 2>&1 || true
[ -f "$VAR/fcgi-hello.pid" ] && kill "$(cat "$VAR/fcgi-hello.pid")" 2> /dev/null || true
rm -rf "$VAR"
cleanup() {
    [ -f "$VAR/hello-nginx.pid" ] && kill "$(cat "$VAR/hello-nginx.pid")" 2> /dev/null || true
    [ -f "$VAR/fcgi-hello.pid" ] && kill "$(cat "$VAR/fcgi-hello.pid")" 2> /dev/null || true
    "${STACK[@]}" stop > /dev/null 2>&1 || true
}
trap cleanup EXIT
"${STACK[@]}" start
eval "$("${STACK[@]}" env)"
mkdir -p "$VAR"
: > "$OUT"

if [ $QUICK = 1 ]; then D=2; LD=2; else D=15; LD=10; fi
record() { tee -a "$OUT"; }

# ---- the machine's own limits ----
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PGHOST=$(sed -n 's/.*host=\([^&]*\).*/\1/p' <<< "$DATABASE_URL")
PGPORT=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<< "$DATABASE_URL")
psql=("$PG_BIN/psql" -h "$PGHOST" -p "$PGPORT" -U chat -XAtq chat)
"${psql[@]}" > /dev/null <<'SQL'
INSERT INTO users (id, username, password_hash) VALUES ('00000000-0000-7000-8000-0000000000b1', 'pgbench', 'x');
CREATE TABLE pgbench_convs (n int PRIMARY KEY, id uuid NOT NULL);
INSERT INTO pgbench_convs SELECT n, gen_random_uuid() FROM generate_series(1, 64) n;
INSERT INTO conversations (id, type, name, created_by)
    SELECT id, 'group', 'pgbench', '00000000-0000-7000-8000-0000000000b1' FROM pgbench_convs;
INSERT INTO conversation_members (conversation_id, user_id, role)
    SELECT id, '00000000-0000-7000-8000-0000000000b1', 'owner' FROM pgbench_convs;
SQL
# What a send does (common/message.c): membership, sequence bump, insert,
# the sender's own watermarks; one transaction per message.
cat > "$VAR/send.sql" <<'SQL'
\set c random(1, 64)
WITH conv AS (SELECT c.conversation_id FROM pgbench_convs p JOIN conversation_members c ON c.conversation_id = p.id WHERE p.n = :c AND c.user_id = '00000000-0000-7000-8000-0000000000b1'), s AS (UPDATE conversations SET last_seq = last_seq + 1, message_count = message_count + 1, last_message_seq = last_seq + 1, last_message_at = now(), updated_at = now() WHERE id = (SELECT conversation_id FROM conv) RETURNING id, last_seq, message_count), m AS (INSERT INTO messages (id, conversation_id, seq, n, sender_id, content) SELECT gen_random_uuid(), id, last_seq, message_count, '00000000-0000-7000-8000-0000000000b1', 'pgbench message' FROM s RETURNING conversation_id, seq) UPDATE conversation_members cm SET last_read_seq = m.seq, delivered_seq = m.seq FROM m WHERE cm.conversation_id = m.conversation_id AND cm.user_id = '00000000-0000-7000-8000-0000000000b1';
SQL
# A script that no longer fits the schema must say why, not end the run silently.
pgb=$("$PG_BIN/pgbench" -n -h "$PGHOST" -p "$PGPORT" -U chat -c 16 -j 2 -T "$LD" -f "$VAR/send.sql" chat 2>&1) ||
    { echo "pgbench failed:" >&2; echo "$pgb" | tail -n 20 >&2; exit 1; }
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<< "$pgb" | head -n 1)
echo "{\"limit\":\"pgbench-send\",\"ops_per_s\":${tps:-0},\"command\":\"pgbench -n -c 16 -j 2 -T $LD -f send.sql\"}" | record

# The web tier: a trivial FastCGI responder behind the same nginx config.
"$BUILD/bench/fcgi-hello" "$VAR/fcgi-hello.sock" 64 > "$VAR/log/fcgi-hello.log" 2>&1 &
echo $! > "$VAR/fcgi-hello.pid"
sleep 0.3
sed -e "s#unix:[^;]*/chat-api.sock#unix:$VAR/fcgi-hello.sock#" -e "s#:28000;#:28002;#" \
    -e "s#$VAR/nginx/nginx.pid#$VAR/hello-nginx.pid#" -e '/listen \[::1\]/d' \
    "$VAR/nginx/nginx.conf" > "$VAR/hello-nginx.conf"
nginx -c "$VAR/hello-nginx.conf" -p "$VAR/nginx" 2> "$VAR/log/hello-nginx.log" || {
    echo "bench/run.sh: nginx for the trivial responder did not start (port 28002 taken?):" >&2
    cat "$VAR/log/hello-nginx.log" >&2
    exit 1
}
sleep 0.3
"$BENCH" --json --base-url http://127.0.0.1:28002 --ws-url ws://127.0.0.1:28002 \
    --scenario http-get --path /hello --connections 64 --duration "$LD" | sed 's/"scenario":"http-get"/"limit":"trivial-fastcgi"/' | record

rps=$(redis-benchmark -p 56381 -q -n $((QUICK ? 20000 : 200000)) -c 16 XADD bench:stream '*' f v 2> /dev/null |
      tr '\r' '\n' | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -n 1)
redis-cli -p 56381 DEL bench:stream > /dev/null
echo "{\"limit\":\"redis-xadd\",\"ops_per_s\":${rps:-0},\"command\":\"redis-benchmark -q -n 200000 -c 16 XADD bench:stream * f v\"}" | record

# ---- the scenarios ----
deadlocks() { "${psql[@]}" -c "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"; }
DL0=$(deadlocks)
GW1=ws://127.0.0.1:28091
# ws-idle measures gateway 2, which no other scenario touched (freed memory
# is not given back to the system, so a used gateway's RSS says little).
GW2=ws://127.0.0.1:28092
GWPID=$(cat "$VAR/pids/gateway2.pid")
A=(--json --base-url "$CHAT_BASE_URL" --ws-url "$CHAT_WS_URL")
run() {
    echo "+ chat-bench $*" >&2
    "$BENCH" "$@" | sed "s#}\$#,\"command\":\"chat-bench ${*//\"/}\"}#" | record
}
if [ $QUICK = 1 ]; then
    run "${A[@]}" --scenario rest-send --connections 16 --users 16 --conversations 16 --duration $D
    run "${A[@]}" --scenario rest-history --connections 16 --users 4 --conversations 4 --history 110 --duration 1
    run "${A[@]}" --scenario rest-mixed --connections 16 --users 16 --conversations 8 --duration $D
    run "${A[@]}" --scenario login --connections 2 --users 2 --duration $D
    run --json --base-url "$CHAT_BASE_URL" --ws-url $GW1 --scenario ws-fanout --connections 500 --group-size 50 --rate 200 --duration $D
    run --json --base-url "$CHAT_BASE_URL" --ws-url $GW1 --scenario ws-ingest --connections 32 --users 32 --conversations 32 --duration $D
    run --json --base-url "$CHAT_BASE_URL" --ws-url $GW2 --scenario ws-idle --connections 1000 --users 50 --duration 1 --gateway-pid "$GWPID"
else
    run "${A[@]}" --scenario rest-send --connections 64 --users 64 --conversations 64 --duration $D
    run "${A[@]}" --scenario rest-history --connections 64 --users 16 --conversations 16 --history 150 --duration 10
    run "${A[@]}" --scenario rest-mixed --connections 64 --users 64 --conversations 32 --duration $D
    run "${A[@]}" --scenario login --connections 4 --users 8 --duration 10
    run --json --base-url "$CHAT_BASE_URL" --ws-url $GW1 --scenario ws-fanout --connections 10000 --group-size 50 --rate 1000 --duration $D
    run --json --base-url "$CHAT_BASE_URL" --ws-url $GW1 --scenario ws-fanout --connections 10000 --group-size 50 --rate 2000 --duration $D
    run --json --base-url "$CHAT_BASE_URL" --ws-url $GW1 --scenario ws-fanout --connections 10000 --group-size 50 --rate 6000 --duration $D
    # 256 clients: enough sends in flight for the gateway's batches to fill
    run --json --base-url "$CHAT_BASE_URL" --ws-url $GW1 --scenario ws-ingest --connections 256 --users 64 --conversations 256 --duration $D
    run --json --base-url "$CHAT_BASE_URL" --ws-url $GW2 --scenario ws-idle --connections 19000 --users 200 --duration 10 --gateway-pid "$GWPID"
    # the same fan-out behind both gateways (after ws-idle, which needs gateway 2 unused)
    run --json --base-url "$CHAT_BASE_URL" --ws-url $GW1,$GW2 --scenario ws-fanout --connections 10000 --group-size 50 --rate 2000 --duration $D
fi
# Concurrent batches (REST group commit, gateways, watermark writes) must not deadlock.
echo "{\"check\":\"pg-deadlocks\",\"count\":$(($(deadlocks) - DL0))}" | record

if [ $QUICK = 1 ]; then
    node "$ROOT/bench/report.mjs" "$OUT" > "$VAR/RESULTS.md"
    cat "$VAR/RESULTS.md"
else
    node "$ROOT/bench/report.mjs" "$OUT" > "$ROOT/bench/RESULTS.md.new"
    mv "$ROOT/bench/RESULTS.md.new" "$ROOT/bench/RESULTS.md"
    echo "wrote bench/RESULTS.md"
fi
