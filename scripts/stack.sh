#!/usr/bin/env bash
# stack.sh - the local stack behind `make run` and `make test`: a private
# PostgreSQL cluster, Redis, chat-api, chat-gateway(s) and nginx, all on
# loopback or unix sockets under var/<profile>/, never the system services.
#
#   scripts/stack.sh [--profile run|test|bench|faults|clone|dev|web2] [--build-dir DIR] COMMAND
#   WEB=apache: Apache (conf/apache.conf.in) instead of nginx on the HTTP port
#   COMMAND: start | stop | status | env | migrate
#            redis-stop | redis-start | pg-stop | pg-start
#            redis-pause | redis-resume | pg-pause | pg-resume  (SIGSTOP/SIGCONT: a hung server)
#            redis-restart | pg-restart-immediate | api-kill | api-start
#            gateway-kill N | gateway-stop N | gateway-start N
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=run
BUILD=""
while [ $# -gt 0 ]; do
    case "$1" in
    --profile) PROFILE=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    *) break ;;
    esac
done
CMD=${1:-status}
ARG=${2:-}

case "$PROFILE" in
run) HTTP_PORT=8000; STRICT_PORT=""; PG_PORT=55432; REDIS_PORT=56379; GW_PORTS=(18081); STRICT_GW_PORT="" ;;
test) HTTP_PORT=18000; STRICT_PORT=18001; PG_PORT=55433; REDIS_PORT=56380; GW_PORTS=(18091 18092); STRICT_GW_PORT=18093 ;;
bench) HTTP_PORT=28000; STRICT_PORT=""; PG_PORT=55434; REDIS_PORT=56381; GW_PORTS=(28091 28092); STRICT_GW_PORT="" ;;
# faults: the fault-injection suite's own stack (it kills and stops parts of it). Its ports,
# like dev's, are below Linux's ephemeral range (32768-60999): a restarted server must find
# its port free, not taken by some client's outgoing connection.
faults) HTTP_PORT=19000; STRICT_PORT=""; PG_PORT=25435; REDIS_PORT=26382; GW_PORTS=(19091 19092); STRICT_GW_PORT="" ;;
# clone: scripts/clone-check.sh's stack, in a copy of the tree in a 0700 directory
clone) HTTP_PORT=21000; STRICT_PORT=""; PG_PORT=25437; REDIS_PORT=26384; GW_PORTS=(21091); STRICT_GW_PORT="" ;;
# dev: a spare stack for trying things beside a running test stack
dev) HTTP_PORT=20000; STRICT_PORT=""; PG_PORT=25436; REDIS_PORT=26383; GW_PORTS=(20091 20092); STRICT_GW_PORT="" ;;
# web2: the Apache tier's own trial stack (nginx and Apache side by side)
web2) HTTP_PORT=22000; STRICT_PORT=""; PG_PORT=25438; REDIS_PORT=26385; GW_PORTS=(22091 22092); STRICT_GW_PORT="" ;;
*) echo "stack.sh: unknown profile $PROFILE" >&2; exit 2 ;;
esac
# Apache beside nginx (its own port) for the profiles that test it; WEB=apache
# (`make run WEB=apache`): Apache instead of nginx on the HTTP port.
WEB=${WEB:-nginx}
case "$PROFILE" in test) APACHE_PORT=18010 ;; clone) APACHE_PORT=21010 ;; web2) APACHE_PORT=22010 ;; *) APACHE_PORT="" ;; esac
[ "$WEB" != apache ] || APACHE_PORT=$HTTP_PORT
[ -n "$BUILD" ] || case "$PROFILE" in run) BUILD=$ROOT/build ;; bench) BUILD=$ROOT/build-bench ;; dev) BUILD=$ROOT/build-dev ;; *) BUILD=$ROOT/build-test ;; esac
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
VAR=$ROOT/var/$PROFILE
LOG=$VAR/log
PIDS=$VAR/pids
API_BIN=$BUILD/fcgi-api/chat-api
GW_BIN=$BUILD/ws-gateway/chat-gateway
ENV_FILE=$VAR/chat.env
STRICT_ENV_FILE=$VAR/chat-strict.env

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

say() { printf '%s\n' "$*"; }
die() { printf 'stack.sh: %s\n' "$*" >&2; exit 1; }

# PostgreSQL refuses to run as root: the cluster belongs to the postgres
# user, so it must live where that user can reach. When the checkout is
# not traversable by postgres, use a directory under /tmp named after it.
# A command as the postgres user, from a directory it may enter (the
# caller's, a checkout in /root, may not be: pg_ctl and psql would complain).
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

pg_root() {
    if as_postgres test -x "$VAR" 2>/dev/null; then
        printf '%s\n' "$VAR/pg"
    else
        printf '/tmp/chat-pg-%s-%s\n' "$(printf '%s' "$ROOT" | md5sum | cut -c1-12)" "$PROFILE"
    fi
}

# Where the web tier's unprivileged processes (Apache's children run as
# nobody when the stack runs as root) reach chat-api's FastCGI sockets and
# Apache's error documents: $VAR/run when nobody can traverse to it, else a
# directory of its own under /tmp (a checkout in /root or a 0700 folder).
run_dir() {
    if [ "$(id -u)" != 0 ] || runuser -u nobody -- test -x "$VAR" 2>/dev/null; then
        printf '%s\n' "$VAR/run"
    else
        printf '/tmp/chat-run-%s-%s\n' "$(printf '%s' "$ROOT" | md5sum | cut -c1-12)" "$PROFILE"
    fi
}
RUN=$(run_dir)

# PostgreSQL's log: beside its data, where the postgres user can write (a
# checkout under /root or a 0700 directory is not), and linked from $LOG.
pg_log() {
    local root; root=$(pg_root)
    mkdir -p "$root"
    [ "$root" = "$VAR/pg" ] || ln -sfn "$root/postgresql.log" "$LOG/postgresql.log"
    printf '%s\n' "$root/postgresql.log"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2 i=0
    shift 2
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -le $((limit * 10)) ] || return 1
        sleep 0.1
    done
}

show_log() { [ -f "$1" ] && { echo "--- last lines of $1:" >&2; tail -n 20 "$1" >&2; }; return 0; }

write_env() {
    mkdir -p "$VAR"
    [ -s "$VAR/secret_key" ] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$VAR/secret_key"; chmod 600 "$VAR/secret_key"; }
    local sock; sock=$(pg_root)/sock
    {
        echo "DATABASE_URL=postgresql://chat@/chat?host=$sock&port=$PG_PORT"
        # unix sockets for both stores: cheaper than loopback TCP per round trip
        echo "REDIS_URL=unix://$VAR/redis/redis.sock?db=0"
        echo "SECRET_KEY=$(cat "$VAR/secret_key")"
        echo "FCGI_SOCKET=$RUN/chat-api.sock"
        echo "FCGI_THREADS=256"
        echo "WS_HOST=127.0.0.1"
        echo "WS_PORT=${GW_PORTS[0]}"
        echo "GATEWAY_ID=gw1"
        echo "LOG_LEVEL=INFO"
        echo "CORS_ORIGINS=http://localhost:3000,http://localhost:8000,http://127.0.0.1:$HTTP_PORT,http://localhost:$HTTP_PORT"
        echo "DOCS_ASSETS_DIR=$ROOT/var/docs-assets"
        if [ "$PROFILE" != run ]; then
            # The main test instance must not rate-limit the suite itself
            # (the strict instance below has low limits for the 429 tests),
            # nor the bench instance its load.
            echo "RATE_LIMIT_REQUESTS_PER_MINUTE=1000000"
            echo "RATE_LIMIT_REQUESTS_PER_HOUR=100000000"
            echo "RATE_LIMIT_AUTH_PER_MINUTE=1000000"
            echo "RATE_LIMIT_MESSAGE_PER_MINUTE=1000000"
            echo "RATE_LIMIT_TYPING_PER_MINUTE=1000000"
            echo "RATE_LIMIT_READ_PER_MINUTE=1000000"
            echo "LOGIN_FAILURES_PER_ADDRESS=1000000"
            echo "LOGIN_FAILURES_PER_ACCOUNT=1000000"
            # every test and bench client comes from one address
            echo "WS_MAX_SOCKETS_PER_USER=100000"
            echo "WS_MAX_SOCKETS_PER_ADDRESS=1000000"
            echo "WS_MAX_UNAUTHENTICATED_PER_ADDRESS=1000000"
            echo "WS_HANDSHAKES_PER_ADDRESS_PER_MINUTE=10000000"
            # small enough for the membership tests to reach
            if [ "$PROFILE" = test ] || [ "$PROFILE" = web2 ]; then
                echo "MAX_GROUP_MEMBERS=10"
                echo "MAX_ROOMS_PER_USER=3"
            fi
            # a hung PostgreSQL (pg-pause) answers 503 in about a second, not five
            echo "DB_STATEMENT_TIMEOUT_MS=1000"
        fi
    } > "$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
    if [ -n "$STRICT_PORT" ]; then
        {
            grep -v -e '^RATE_LIMIT' -e '^FCGI_' -e '^LOGIN_' -e '^WS_MAX_' -e '^WS_HANDSHAKES' "$ENV_FILE"
            echo "FCGI_SOCKET=$RUN/chat-api-strict.sock"
            echo "FCGI_THREADS=64"
            # two backends for 64 threads: requests beyond them wait for one (tested)
            echo "DB_POOL_SIZE=2"
            echo "DB_MAX_OVERFLOW=0"
            echo "RATE_LIMIT_REQUESTS_PER_MINUTE=5"
            echo "RATE_LIMIT_REQUESTS_PER_HOUR=1000"
            echo "RATE_LIMIT_AUTH_PER_MINUTE=8"
            echo "RATE_LIMIT_MESSAGE_PER_MINUTE=3"
            echo "RATE_LIMIT_TYPING_PER_MINUTE=3"
            echo "RATE_LIMIT_READ_PER_MINUTE=3"
            echo "LOGIN_FAILURES_PER_ADDRESS=3"
            echo "LOGIN_FAILURES_PER_ACCOUNT=5"
            # WebSocket admission, per client address (tests bind 127.x.y.z)
            echo "WS_MAX_SOCKETS_PER_USER=3"
            echo "WS_MAX_SOCKETS_PER_ADDRESS=12"
            echo "WS_MAX_UNAUTHENTICATED_PER_ADDRESS=2"
            echo "WS_HANDSHAKES_PER_ADDRESS_PER_MINUTE=30"
            # short queue and liveness times for the slow-reader and idle tests
            echo "WS_QUEUE_MAX=8"
            echo "WS_SNDBUF_KIB=16"
            echo "WS_PING_SECS=1"
            echo "WS_IDLE_TIMEOUT_SECS=6"
            echo "WS_AUTH_TIMEOUT_SECS=2"
            # /metrics for a network no test client is in (the refusal test)
            echo "METRICS_ALLOW=10.0.0.0/8"
        } > "$STRICT_ENV_FILE"
    fi
}

pg_start() {
    local root; root=$(pg_root)
    if [ ! -s "$root/data/PG_VERSION" ]; then
        mkdir -p "$root/data" "$root/sock"
        chown -R postgres "$root"
        chmod 700 "$root/data"
        as_postgres "$PG_BIN/initdb" -D "$root/data" -A trust -U postgres -E UTF8 \
            --locale=C > "$LOG/pg-initdb.log" 2>&1 || { show_log "$LOG/pg-initdb.log"; die "initdb failed"; }
    fi
    if ! as_postgres "$PG_BIN/pg_ctl" -D "$root/data" status > /dev/null 2>&1; then
        local log; log=$(pg_log)
        touch "$log"; chown postgres "$log"
        as_postgres "$PG_BIN/pg_ctl" -D "$root/data" -w -t 30 -l "$log" \
            -o "-p $PG_PORT -k $root/sock -c listen_addresses=127.0.0.1 -c synchronous_commit=on -c max_connections=300 -c shared_preload_libraries=pg_stat_statements" \
            start > /dev/null || { show_log "$log"; die "PostgreSQL did not start"; }
    fi
    local psql=("$PG_BIN/psql" -h "$root/sock" -p "$PG_PORT" -U postgres -XAtq)
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'chat'")" != 1 ]; then
        "${psql[@]}" -c "CREATE ROLE chat LOGIN CREATEDB" > /dev/null
    fi
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'chat'")" != 1 ]; then
        "${psql[@]}" -c "CREATE DATABASE chat OWNER chat" > /dev/null
    fi
    # statement counts, for the tests that pin how many queries something costs
    "${psql[@]}" -d chat -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" > /dev/null
}

pg_stop() {
    local root; root=$(pg_root)
    [ -d "$root/data" ] || return 0
    as_postgres "$PG_BIN/pg_ctl" -D "$root/data" status > /dev/null 2>&1 || return 0
    as_postgres "$PG_BIN/pg_ctl" -D "$root/data" -m fast -w -t 30 stop > /dev/null
}

# The postmaster and every process it started (backends, checkpointer, ...).
pg_pids() {
    local root pid; root=$(pg_root)
    [ -s "$root/data/postmaster.pid" ] || return 0
    pid=$(head -n 1 "$root/data/postmaster.pid")
    kill -0 "$pid" 2>/dev/null || return 0
    printf '%s\n' "$pid"
    pgrep -P "$pid" || true
}

# pg_signal STOP|CONT: the postmaster first on STOP (it forks no new backend
# meanwhile), last on CONT.
pg_signal() {
    local pids; pids=$(pg_pids)
    [ -n "$pids" ] || die "PostgreSQL is not running"
    if [ "$1" = STOP ]; then
        kill -STOP $pids
        kill -STOP $(pg_pids) # children forked between the listing and the stop
    else
        kill -CONT $(printf '%s\n' $pids | tac)
    fi
}

redis_signal() { # redis_signal STOP|CONT
    pid_alive "$PIDS/redis.pid" || die "Redis is not running"
    kill "-$1" "$(cat "$PIDS/redis.pid")"
}

redis_start() {
    mkdir -p "$VAR/redis"
    pid_alive "$PIDS/redis.pid" && return 0
    cat > "$VAR/redis/redis.conf" <<CONF
bind 127.0.0.1
port $REDIS_PORT
unixsocket $VAR/redis/redis.sock
unixsocketperm 700
protected-mode yes
daemonize yes
pidfile $PIDS/redis.pid
logfile $LOG/redis.log
dir $VAR/redis
appendonly yes
appendfsync everysec
save ""
CONF
    redis-server "$VAR/redis/redis.conf"
    wait_for 10 redis redis-cli -p "$REDIS_PORT" ping || { show_log "$LOG/redis.log"; die "Redis did not start"; }
}

redis_stop() {
    local pid
    pid_alive "$PIDS/redis.pid" || return 0
    pid=$(cat "$PIDS/redis.pid")
    redis-cli -p "$REDIS_PORT" shutdown nosave > /dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    wait_for 10 redis-exit bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PIDS/redis.pid"
}

# start_bg NAME LOGFILE COMMAND... : run in the background, record the pid.
start_bg() {
    local name=$1 log=$2
    shift 2
    pid_alive "$PIDS/$name.pid" && return 0
    nohup "$@" >> "$log" 2>&1 < /dev/null &
    echo $! > "$PIDS/$name.pid"
}

# stop_pidfile FILE NAME SIGNAL: the process of FILE asked to stop with SIGNAL,
# killed if it has not within 15 s; FILE removed.
stop_pidfile() {
    local pid
    pid_alive "$1" || { rm -f "$1"; return 0; }
    pid=$(cat "$1")
    kill "-$3" "$pid" 2>/dev/null || true
    wait_for 15 "$2-exit" bash -c "! kill -0 $pid 2>/dev/null" || { kill -KILL "$pid" 2>/dev/null || true; }
    rm -f "$1"
}

stop_pid() { stop_pidfile "$PIDS/$1.pid" "$1" "${2:-TERM}"; } # stop_pid NAME [SIGNAL]

api_start() { # api_start NAME ENVFILE
    local name=$1 env=$2 sock
    sock=$(grep '^FCGI_SOCKET=' "$env" | cut -d= -f2-)
    pid_alive "$PIDS/$name.pid" && return 0
    start_bg "$name" "$LOG/$name.log" "$API_BIN" --env-file "$env" serve
    wait_for 15 "$name" test -S "$sock" || { show_log "$LOG/$name.log"; die "$name did not start"; }
}

gateway_start() { # gateway_start N (1-based)
    local n=$1 port=${GW_PORTS[$(($1 - 1))]}
    pid_alive "$PIDS/gateway$n.pid" && return 0
    WS_PORT=$port GATEWAY_ID=gw$n start_bg "gateway$n" "$LOG/gateway$n.log" "$GW_BIN" --env-file "$ENV_FILE"
    wait_for 15 "gateway$n" curl -sf "http://127.0.0.1:$port/health" || { show_log "$LOG/gateway$n.log"; die "gateway $n did not start"; }
}

# A gateway with the strict instance's low limits, for the flood tests.
strict_gateway_start() {
    pid_alive "$PIDS/gateway-strict.pid" && return 0
    WS_PORT=$STRICT_GW_PORT GATEWAY_ID=gw-strict start_bg gateway-strict "$LOG/gateway-strict.log" \
        "$GW_BIN" --env-file "$STRICT_ENV_FILE"
    wait_for 15 gateway-strict curl -sf "http://127.0.0.1:$STRICT_GW_PORT/health" ||
        { show_log "$LOG/gateway-strict.log"; die "strict gateway did not start"; }
}

nginx_start() {
    local gws="" p extra="" listen6=""
    pid_alive "$VAR/nginx/nginx.pid" && return 0
    mkdir -p "$VAR/nginx/tmp"
    for p in "${GW_PORTS[@]}"; do gws="$gws        server 127.0.0.1:$p;"$'\n'; done
    if [ -n "$(ip -6 addr show lo 2>/dev/null | grep '::1')" ]; then
        listen6="        listen [::1]:$HTTP_PORT;"
    fi
    if [ -n "$STRICT_PORT" ]; then
        extra="    upstream chat_api_strict { server unix:$RUN/chat-api-strict.sock; keepalive 4; }
    server {
        listen 127.0.0.1:$STRICT_PORT;
        error_page 400 413 414 429 502 504 /.chat-nginx-error;
        location = /.chat-nginx-error {
            internal;
            default_type application/json;
            return 200 '{\"error\":{\"code\":\"\$chat_nginx_error_code\",\"message\":\"\$chat_nginx_error_message\"}}';
        }
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_param REQUEST_URI \$request_uri;
            fastcgi_pass chat_api_strict;
            fastcgi_keep_conn on;
        }
    }"
    fi
    # Per-address limits as a production site would have them for `make run`;
    # the other profiles' clients all come from 127.0.0.1.
    local conn=300 rate=2r/s burst=60
    [ "$PROFILE" = run ] || { conn=60000; rate=100000r/s; burst=100000; }
    GWS="$gws" EXTRA="$extra" LISTEN6="$listen6" awk -v var="$VAR" -v port="$HTTP_PORT" \
        -v sock="$RUN/chat-api.sock" -v user="$(id -un)" -v web="$ROOT/web" -v conn="$conn" -v rate="$rate" -v burst="$burst" '
        { gsub(/@VAR@/, var); gsub(/@HTTP_PORT@/, port); gsub(/@FCGI_SOCKET@/, sock); gsub(/@USER@/, user)
          gsub(/@WEB_ROOT@/, web)
          gsub(/@CONN_PER_ADDR@/, conn); gsub(/@WS_HANDSHAKE_RATE@/, rate); gsub(/@WS_HANDSHAKE_BURST@/, burst) }
        /^@GATEWAYS@$/ { printf "%s", ENVIRON["GWS"]; next }
        /^@EXTRA_SERVERS@$/ { print ENVIRON["EXTRA"]; next }
        /^@LISTEN6@$/ { print ENVIRON["LISTEN6"]; next }
        { print }' "$ROOT/conf/nginx.conf.in" > "$VAR/nginx/nginx.conf"
    nginx -t -q -c "$VAR/nginx/nginx.conf" -p "$VAR/nginx" -g "error_log $LOG/nginx-error.log;" 2>> "$LOG/nginx-error.log" ||
        { show_log "$LOG/nginx-error.log"; die "nginx configuration is invalid"; }
    nginx -c "$VAR/nginx/nginx.conf" -p "$VAR/nginx" -g "error_log $LOG/nginx-error.log;" 2>> "$LOG/nginx-error.log" ||
        { show_log "$LOG/nginx-error.log"; die "nginx did not start"; }
    wait_for 10 nginx curl -sf "http://127.0.0.1:$HTTP_PORT/health" || { show_log "$LOG/nginx-error.log"; show_log "$LOG/chat-api.log"; die "http://127.0.0.1:$HTTP_PORT/health does not answer"; }
}

nginx_stop() { stop_pidfile "$VAR/nginx/nginx.pid" nginx QUIT; }

apache_start() {
    local gws="" p listen6="" user group
    pid_alive "$VAR/apache/apache.pid" && return 0
    command -v apache2 > /dev/null || die "apache2 is not installed (apt-get install apache2, or scripts/deps.sh test)"
    mkdir -p "$VAR/apache/run"
    for p in "${GW_PORTS[@]}"; do
        gws="$gws    BalancerMember http://127.0.0.1:$p upgrade=websocket retry=1 timeout=3600"$'\n'
    done
    if [ -n "$(ip -6 addr show lo 2>/dev/null | grep '::1')" ]; then listen6="Listen [::1]:$APACHE_PORT"; fi
    # Apache's children never run as root: as root, run them as nobody in the
    # group of chat-api's socket (mode 0660).
    user=$(id -un); group=$(id -gn)
    # their error documents beside chat-api's sockets, where they can read them
    rm -rf "$RUN/apache-errors"
    cp -r "$ROOT/conf/apache-errors" "$RUN/apache-errors"
    chmod -R a+rX "$RUN/apache-errors"
    if [ "$(id -u)" = 0 ]; then
        user=nobody
        runuser -u nobody -g "$group" -- test -r "$RUN/apache-errors/404.json" ||
            die "Apache's children (nobody) cannot read $RUN/apache-errors"
    fi
    GWS="$gws" LISTEN6="$listen6" awk -v var="$VAR" -v port="$APACHE_PORT" -v sock="$RUN/chat-api.sock" \
        -v user="$user" -v group="$group" -v errors="$RUN/apache-errors" '
        { gsub(/@VAR@/, var); gsub(/@APACHE_PORT@/, port); gsub(/@FCGI_SOCKET@/, sock)
          gsub(/@USER@/, user); gsub(/@GROUP@/, group); gsub(/@ERRORS_DIR@/, errors) }
        /^@GATEWAYS@$/ { printf "%s", ENVIRON["GWS"]; next }
        /^@LISTEN6@$/ { print ENVIRON["LISTEN6"]; next }
        { print }' "$ROOT/conf/apache.conf.in" > "$VAR/apache/apache.conf"
    apache2 -t -f "$VAR/apache/apache.conf" > /dev/null 2>> "$LOG/apache-error.log" ||
        { show_log "$LOG/apache-error.log"; die "Apache configuration is invalid"; }
    apache2 -f "$VAR/apache/apache.conf" -k start 2>> "$LOG/apache-error.log" ||
        { show_log "$LOG/apache-error.log"; die "Apache did not start"; }
    wait_for 10 apache curl -sf "http://127.0.0.1:$APACHE_PORT/health" || { show_log "$LOG/apache-error.log"; show_log "$LOG/chat-api.log"; die "http://127.0.0.1:$APACHE_PORT/health (Apache) does not answer"; }
}

apache_stop() { stop_pidfile "$VAR/apache/apache.pid" apache TERM; }

migrate() {
    "$API_BIN" --env-file "$ENV_FILE" migrate >> "$LOG/migrate.log" 2>&1 || { show_log "$LOG/migrate.log"; die "migrations failed"; }
}

start() {
    [ -x "$API_BIN" ] || die "$API_BIN is not built (run make build)"
    [ -x "$GW_BIN" ] || die "$GW_BIN is not built (run make build)"
    mkdir -p "$LOG" "$PIDS"
    mkdir -p -m 0755 "$RUN"
    write_env
    "$ROOT/scripts/docs-assets.sh" "$ROOT/var/docs-assets" || say "warning: /docs renderer not installed (npm unreachable?)"
    pg_start
    redis_start
    migrate
    api_start chat-api "$ENV_FILE"
    [ -z "$STRICT_PORT" ] || api_start chat-api-strict "$STRICT_ENV_FILE"
    local n
    for n in $(seq 1 ${#GW_PORTS[@]}); do gateway_start "$n"; done
    [ -z "$STRICT_PORT" ] || strict_gateway_start
    [ "$WEB" = apache ] || nginx_start
    [ -z "$APACHE_PORT" ] || apache_start
    if [ "$PROFILE" = run ]; then
        say "chat backend is up:"
        say "  API        http://localhost:$HTTP_PORT/api/v1"
        say "  health     http://localhost:$HTTP_PORT/health"
        say "  docs       http://localhost:$HTTP_PORT/docs"
        say "  websocket  ws://localhost:$HTTP_PORT/api/v1/ws/conversations/{id}?token=..."
        say "  logs       $LOG/   stop with: make stop"
    fi
}

stop() {
    local n
    nginx_stop
    apache_stop
    for n in $(seq 1 ${#GW_PORTS[@]}); do stop_pid "gateway$n"; done
    stop_pid gateway-strict
    stop_pid chat-api-strict
    stop_pid chat-api
    redis_stop
    pg_stop
}

status() {
    local n root; root=$(pg_root)
    st() { if "$@" > /dev/null 2>&1; then echo running; else echo stopped; fi; }
    printf '%-16s %s\n' postgresql "$(st as_postgres "$PG_BIN/pg_ctl" -D "$root/data" status)"
    printf '%-16s %s\n' redis "$(st pid_alive "$PIDS/redis.pid")"
    printf '%-16s %s\n' chat-api "$(st pid_alive "$PIDS/chat-api.pid")"
    [ -z "$STRICT_PORT" ] || printf '%-16s %s\n' chat-api-strict "$(st pid_alive "$PIDS/chat-api-strict.pid")"
    for n in $(seq 1 ${#GW_PORTS[@]}); do printf '%-16s %s\n' "gateway$n" "$(st pid_alive "$PIDS/gateway$n.pid")"; done
    printf '%-16s %s\n' nginx "$(st pid_alive "$VAR/nginx/nginx.pid")"
    [ -z "$APACHE_PORT" ] || printf '%-16s %s\n' apache "$(st pid_alive "$VAR/apache/apache.pid")"
}

env_exports() {
    local ports
    ports=$(IFS=,; echo "${GW_PORTS[*]}")
    printf 'export CHAT_BASE_URL=%q\n' "http://127.0.0.1:$HTTP_PORT"
    printf 'export CHAT_WS_URL=%q\n' "ws://127.0.0.1:$HTTP_PORT"
    [ -z "$APACHE_PORT" ] || printf 'export CHAT_APACHE_URL=%q\n' "http://127.0.0.1:$APACHE_PORT"
    [ -z "$STRICT_PORT" ] || printf 'export CHAT_STRICT_BASE_URL=%q\n' "http://127.0.0.1:$STRICT_PORT"
    [ -z "$STRICT_PORT" ] || printf 'export CHAT_STRICT_WS_URL=%q\n' "ws://127.0.0.1:$STRICT_GW_PORT"
    printf 'export CHAT_ENV_FILE=%q\n' "$ENV_FILE"
    printf 'export CHAT_STACK=%q\n' "$ROOT/scripts/stack.sh --profile $PROFILE --build-dir $BUILD"
    printf 'export CHAT_VAR_DIR=%q\n' "$VAR"
    printf 'export CHAT_API_BIN=%q\n' "$API_BIN"
    printf 'export CHAT_GATEWAY_BIN=%q\n' "$GW_BIN"
    printf 'export CHAT_GATEWAY_PORTS=%q\n' "$ports"
    printf 'export DATABASE_URL=%q\n' "$(grep '^DATABASE_URL=' "$ENV_FILE" | cut -d= -f2-)"
    printf 'export REDIS_URL=%q\n' "$(grep '^REDIS_URL=' "$ENV_FILE" | cut -d= -f2-)"
}

# ---- faults (tests/faults): one small function each ----

# A paused Redis is resumed first, so that it can shut down.
redis_restart() {
    mkdir -p "$LOG" "$PIDS"
    ! pid_alive "$PIDS/redis.pid" || kill -CONT "$(cat "$PIDS/redis.pid")"
    redis_stop
    redis_start
}

# pg_ctl -m immediate restart (no shutdown checkpoint: crash recovery at start), until it accepts.
pg_restart_immediate() {
    local root pids; root=$(pg_root)
    pids=$(pg_pids)
    [ -z "$pids" ] || kill -CONT $pids 2>/dev/null || true
    as_postgres "$PG_BIN/pg_ctl" -D "$root/data" -m immediate -w -t 60 -l "$(pg_log)" \
        restart > /dev/null || { show_log "$(pg_log)"; die "PostgreSQL did not restart"; }
    wait_for 60 pg "$PG_BIN/psql" -h "$root/sock" -p "$PG_PORT" -U postgres -XAtq -c "SELECT 1" ||
        die "PostgreSQL does not accept connections after the restart"
}

api_kill() { stop_pid chat-api KILL; }

# The killed process leaves its socket file: remove it, so the wait below sees the new one.
api_start_cmd() {
    mkdir -p "$LOG" "$PIDS"
    pid_alive "$PIDS/chat-api.pid" && return 0
    rm -f "$(grep '^FCGI_SOCKET=' "$ENV_FILE" | cut -d= -f2-)"
    api_start chat-api "$ENV_FILE"
}

case "$CMD" in
start) start ;;
stop) stop ;;
status) status ;;
env) env_exports ;;
migrate) migrate ;;
redis-stop) redis_stop ;;
redis-start) mkdir -p "$LOG" "$PIDS"; redis_start ;;
pg-stop) pg_stop ;;
pg-start) pg_start ;;
pg-pause) pg_signal STOP ;;
pg-resume) pg_signal CONT ;;
redis-pause) redis_signal STOP ;;
redis-resume) redis_signal CONT ;;
gateway-kill) [ -n "$ARG" ] || die "gateway-kill N"; stop_pid "gateway$ARG" KILL ;;
gateway-stop) [ -n "$ARG" ] || die "gateway-stop N"; stop_pid "gateway$ARG" ;;
gateway-start) [ -n "$ARG" ] || die "gateway-start N"; gateway_start "$ARG" ;;
redis-restart) redis_restart ;;
pg-restart-immediate) pg_restart_immediate ;;
api-kill) api_kill ;;
api-start) api_start_cmd ;;
*) die "unknown command $CMD" ;;
esac
