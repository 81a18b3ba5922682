#!/usr/bin/env bash
# Tally's own load: ingest → notification latency with N CometD sessions, each subscribed (REST,
# bound to its session) to K agents' CurrentAgentState, while an ingest driver sends agent-state
# events at R events/s (bench/load.cc `stats`). Long-polling and WebSocket alternate, ROUNDS
# times each, on a fresh release server per run (wall clock, synchronous=FULL journal).
# Usage: [STATS_PER_SESSION=K (10)] bench/stats_bench.sh [ROUNDS] [SESSIONS] [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-5}
sessions=${2:-1000}
rate=${3:-1000}
seconds=${4:-10}
bin=${BUILD:-build/release}/src/tally
load=${BUILD:-build/release}/bench/tally-load
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT

{
  cat <<TOML
[log]
level = "warn"
[server]
max_connections = 100000
[statistics]
catalog = "$PWD/config/statistics.toml"
[storage]
path = "$work/j.db"
[notifications]
max_queue = 100000
[limits]
subscriptions_per_principal = 1000000
requests_per_second = 1000000
statistics_per_subscription = 1000
[auth]
secret = "bench-signing-key-0123456789abcdef0123"
TOML
  client_toml reader statistics:read
  client_toml feeder events:write
  "$bin" simulate --print-config --agents 1000 --queues 10
} > "$work/tally.toml"
ulimit -n 65536 2>/dev/null || true

token() { curl -s -u "$1" -d grant_type=client_credentials http://127.0.0.1:18110/auth/v3/oauth/token |
  sed 's/.*"access_token":"\([^"]*\)".*/\1/'; }
run() {  # $1 = transport
  rm -f "$work"/j.db*
  "$bin" serve --config "$work/tally.toml" --listen 127.0.0.1:18110 2> "$work/tally.log" &
  pid=$!
  for _ in $(seq 200); do curl -sf http://127.0.0.1:18110/readyz >/dev/null && break; sleep 0.05; done
  "$load" stats --url http://127.0.0.1:18110/statistics/v3/notifications --transport "$1" \
    --token "$(token reader:reader-secret)" --ingest-token "$(token feeder:feeder-secret)" \
    --clients "$sessions" --stats-per-client "${STATS_PER_SESSION:-10}" --agents 1000 --rate "$rate" --duration "$seconds" \
    || [ -z "${SMOKE:-}" ]  # a failed run shows in the figures; the smoke run must not fail
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}
field() { sed -n "s/.*$1 \([0-9.]*\).*/\1/p"; }
echo "machine: $(nproc) cores; $sessions sessions x ${STATS_PER_SESSION:-10} statistics, $rate events/s for $seconds s"
lp_p99=(); lp_p50=(); ws_p99=(); ws_p50=(); lp_n=(); ws_n=()
for r in $(seq "$rounds"); do
  a=$(run long-polling); b=$(run websocket)
  echo "round $r: $a"; echo "round $r: $b"
  lp_p50+=("$(echo "$a" | field p50)"); lp_p99+=("$(echo "$a" | field p99)"); lp_n+=("$(echo "$a" | sed -n 's/.*received, \([0-9]*\)\/s.*/\1/p')")
  ws_p50+=("$(echo "$b" | field p50)"); ws_p99+=("$(echo "$b" | field p99)"); ws_n+=("$(echo "$b" | sed -n 's/.*received, \([0-9]*\)\/s.*/\1/p')")
done
echo "median long-polling: p50 $(median "${lp_p50[@]}") ms, p99 $(median "${lp_p99[@]}") ms, $(median "${lp_n[@]}") notifications/s"
echo "median websocket:    p50 $(median "${ws_p50[@]}") ms, p99 $(median "${ws_p99[@]}") ms, $(median "${ws_n[@]}") notifications/s"
report "| transport ($rounds runs each, medians; $sessions sessions × ${STATS_PER_SESSION:-10} statistics, $rate events/s for $seconds s) | notifications/s | p50 ms | p99 ms | goal |" \
  "|---|---|---|---|---|" \
  "| long-polling | $(fmt "$(median "${lp_n[@]}")") | $(median "${lp_p50[@]}") | **$(median "${lp_p99[@]}")** | p99 ≤ 20 ms |" \
  "| WebSocket | $(fmt "$(median "${ws_n[@]}")") | $(median "${ws_p50[@]}") | **$(median "${ws_p99[@]}")** | p99 ≤ 20 ms |"
