#!/usr/bin/env bash
# smoke.sh CHAT_BENCH - every chat-bench scenario, briefly, against the stack
# that `make test` runs (CHAT_BASE_URL, CHAT_WS_URL). No timing asserts:
# it fails when a scenario errs or completes nothing.
set -euo pipefail
BENCH=${1:?usage: smoke.sh path/to/chat-bench}
: "${CHAT_BASE_URL:?run under make test (CHAT_BASE_URL)}" "${CHAT_WS_URL:?}"
A=(--base-url "$CHAT_BASE_URL" --ws-url "$CHAT_WS_URL" --duration 1 --threads 2)
"$BENCH" "${A[@]}" --scenario rest-send --connections 8 --users 4 --conversations 2
"$BENCH" "${A[@]}" --scenario rest-history --connections 8 --users 2 --conversations 1 --history 110
"$BENCH" "${A[@]}" --scenario rest-mixed --connections 8 --users 4 --conversations 2 --history 40
"$BENCH" "${A[@]}" --scenario login --connections 2 --users 2
"$BENCH" "${A[@]}" --scenario ws-fanout --connections 40 --group-size 10 --rate 100
"$BENCH" "${A[@]}" --scenario ws-fanout --connections 20 --group-size 10 --rate 0
"$BENCH" "${A[@]}" --scenario ws-ingest --connections 8 --users 4 --conversations 2
"$BENCH" "${A[@]}" --scenario ws-idle --connections 100 --users 10
echo "chat-bench smoke: every scenario ran"
