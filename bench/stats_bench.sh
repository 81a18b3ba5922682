#!/usr/bin/env bash
# Tally's own load: ingest → notification latency with N CometD sessions, each subscribed (REST,
# bound to its session) to K agents' CurrentAgentState, while an ingest driver sends agent-state
# events at R events/s (bench/load.cc `stats`): N×K/agents = 10 notifications per event at the
# defaults. RATES is a list ("1000 5000 15000": 10 000, 50 000 and 150 000 notifications/s
# offered). With STALLED=M, each round also runs at STALLED_RATE (the second rate) with M of the
# sessions stalled at the start (WebSocket: stops reading; long-polling: never connects again),
# so the latency of the others can be set beside the run without them. Long-polling and WebSocket
# alternate, ROUNDS times each, on a fresh release server per run (wall clock, synchronous=FULL).
# ONE_CONNECTION=1: each session closes its second connection once subscribed (one socket per
# session, for more sessions than half the open-file limit). SOURCES=K spreads the sessions over
# K loopback source addresses (more ports than one address's ~28 000, TIME_WAIT included).
# Usage: [STATS_PER_SESSION=K (10)] [STALLED=M] [ONE_CONNECTION=1] [SOURCES=K] bench/stats_bench.sh [ROUNDS] [SESSIONS] [RATES] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-5}
sessions=${2:-1000}
rates=(${3:-1000})
stalled=${STALLED:-0}
stalled_rate=${STALLED_RATE:-${rates[1]:-${rates[0]}}}
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
# every session is the one OAuth client "reader" (the default allows 1000 per principal)
max_sessions_per_principal = 200000
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
run() {  # $1 = transport, $2 = events/s, $3 = stalled sessions
  local status=0
  # run is a subshell (called in $(…)): its own trap stops its server if the script is stopped
  trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null' EXIT
  rm -f "$work"/j.db*
  "$bin" serve --config "$work/tally.toml" --listen 127.0.0.1:18110 2> "$work/tally.log" &
  pid=$!
  for _ in $(seq 200); do curl -sf http://127.0.0.1:18110/readyz >/dev/null && break; sleep 0.05; done
  "$load" stats --url http://127.0.0.1:18110/statistics/v3/notifications --transport "$1" \
    --token "$(token reader:reader-secret)" --ingest-token "$(token feeder:feeder-secret)" \
    --clients "$sessions" --stats-per-client "${STATS_PER_SESSION:-10}" --agents 1000 --rate "$2" \
    --duration "$seconds" --stalled "$3" $([ "${ONE_CONNECTION:-0}" = 1 ] && echo --one-connection) \
    --sources "${SOURCES:-1}" || status=$?
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  # A failed run shows in the figures; in the smoke run (CI) it fails the script.
  if [ -n "${SMOKE:-}" ]; then return "$status"; fi
}
field() { sed -n "s/.*$1 \([0-9.]*\).*/\1/p"; }
if [ "$stalled" -gt 0 ] && [[ " ${rates[*]} " != *" $stalled_rate "* ]]; then
  echo "stats_bench: STALLED_RATE=$stalled_rate is not one of the rates (${rates[*]})" >&2; exit 2
fi
echo "machine: $(nproc) cores; $sessions sessions x ${STATS_PER_SESSION:-10} statistics, ${rates[*]} events/s for $seconds s; $stalled stalled at $stalled_rate"
# One case = transport:rate:stalled; the figures of each case are collected over the rounds.
cases=()
for r in "${rates[@]}"; do
  cases+=("long-polling:$r:0" "websocket:$r:0")
  if [ "$stalled" -gt 0 ] && [ "$r" = "$stalled_rate" ]; then
    cases+=("long-polling:$r:$stalled" "websocket:$r:$stalled")
  fi
done
declare -A p50 p99 got acc
for round in $(seq "$rounds"); do
  for c in "${cases[@]}"; do
    IFS=: read -r transport r m <<< "$c"
    line=$(run "$transport" "$r" "$m")
    echo "round $round: $line"
    p50[$c]+=" $(echo "$line" | field p50)"; p99[$c]+=" $(echo "$line" | field p99)"
    got[$c]+=" $(echo "$line" | sed -n 's/.*received, \([0-9]*\)\/s.*/\1/p')"
    # events the server accepted per second of the driver's run (below the rate past capacity)
    acc[$c]+=" $(echo "$line" | sed -n 's/.* for \([0-9.]*\) s: \([0-9]*\) accepted.*/\2 \1/p' | awk '{printf "%.0f", $1 / $2}')"
  done
done
goal() {  # $1 = transport, $2 = notifications/s offered, $3 = stalled
  if [ "$3" -gt 0 ]; then echo "p99 as without them"
  elif [ "$2" -gt 50000 ]; then [ "$1" = websocket ] && echo "p99 ≤ 50 ms" || echo "p99 ≤ 100 ms"
  else echo "p99 ≤ 20 ms"; fi
}
rows=()
for c in "${cases[@]}"; do
  IFS=: read -r transport r m <<< "$c"
  name=$([ "$transport" = websocket ] && echo WebSocket || echo long-polling)
  offered=$(( r * sessions * ${STATS_PER_SESSION:-10} / 1000 ))  # 1000 agents
  # shellcheck disable=SC2086
  a=$(median ${p50[$c]}); b=$(median ${p99[$c]}); n=$(median ${got[$c]}); e=$(median ${acc[$c]})
  echo "median $transport at $offered/s offered, $m stalled: p50 $a ms, p99 $b ms, $n notifications/s"
  rows+=("| $(fmt "$offered") | $name | $([ "$m" -gt 0 ] && echo "$m of $sessions" || echo —) | $(fmt "$e") | $(fmt "$n") | $a | **$b** | $(goal "$transport" "$offered" "$m") |")
done
report "| offered notifications/s ($rounds runs each, medians; $sessions sessions × ${STATS_PER_SESSION:-10} statistics, $seconds s) | transport | stalled sessions | events accepted/s | notifications delivered/s | p50 ms | p99 ms | goal |" \
  "|---|---|---|---|---|---|---|---|" "${rows[@]}"
