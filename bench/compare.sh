#!/usr/bin/env bash
# Side by side: the same CometD chat load (bench/load.cc) against Tally (release build, /bench/**
# channels on), a Faye 1.4.3 server and the official cometd-nodejs-server 1.2.1 (npm) on
# loopback — Tally and Faye over long-polling and WebSocket, cometd-nodejs-server over
# long-polling (it has no WebSocket) — alternating ROUNDS times; prints each run, the medians and
# the ratios. The memory of idle sessions is bench/idle_bench.sh (fresh processes).
# IO_THREADS=N sets Tally's [server] io_threads (1: one I/O thread, as each Node server has one).
# Usage: [IO_THREADS=N] bench/compare.sh [ROUNDS] [CLIENTS] [BATCHES]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-5}
clients=${2:-1000}
batches=${3:-1000}
bin=${BUILD:-build/release}/src/tally
load=${BUILD:-build/release}/bench/tally-load
export NODE_PATH=$PWD/tests/integration/node_modules
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

cat > "$work/tally.toml" <<TOML
[log]
level = "warn"
[server]
max_connections = 100000
${IO_THREADS:+io_threads = $IO_THREADS}
[statistics]
catalog = "$PWD/config/statistics.toml"
[notifications]
bench_channels = true
max_queue = 100000
# every load client is the one OAuth client "loader"; the default (1000) refuses the next
# transport's sessions while the last run's are still expiring
max_sessions_per_principal = 200000
[auth]
secret = "bench-signing-key-0123456789abcdef0123"
[[auth.client]]
id = "loader"
secret_hash = "$($bin hash-password --iterations 1000 <<< loader-secret)"
tenant = "acme"
roles = ["statistics:read"]
[[tenant]]
name = "acme"
agents = ["a1"]
TOML
ulimit -n 65536 2>/dev/null || true
"$bin" serve --config "$work/tally.toml" --listen 127.0.0.1:18100 2> "$work/tally.log" &
tally_pid=$!; pids+=("$tally_pid")
node bench/faye_server.cjs 18101 > "$work/faye.log" 2>&1 &
faye_pid=$!; pids+=("$faye_pid")
node bench/cometd_server.cjs 18102 > "$work/cometd.log" 2>&1 &
cometd_pid=$!; pids+=("$cometd_pid")
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:18100/readyz >/dev/null && grep -q listening "$work/faye.log" &&
    grep -q listening "$work/cometd.log" && break
  sleep 0.1
done
token=$(curl -s -u loader:loader-secret -d grant_type=client_credentials \
  http://127.0.0.1:18100/auth/v3/oauth/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')

args=(--clients "$clients" --rooms 100 --rooms-per-client 10 --batches "$batches" --batch-size 10 --pause-ms 10)
field() { sed -n "s/.*$1 \([0-9.]*\).*/\1/p"; }
targets=(tally-lp tally-ws faye-lp faye-ws cometd-lp)
declare -A url=([tally]=http://127.0.0.1:18100/statistics/v3/notifications
  [faye]=http://127.0.0.1:18101/faye [cometd]=http://127.0.0.1:18102/cometd)
declare -A out p50 p99
echo "machine: $(nproc) cores; Tally io_threads ${IO_THREADS:-default}; chat: $clients clients, 100 rooms, 10 rooms each, $batches batches of 10"
for r in $(seq "$rounds"); do
  for t in "${targets[@]}"; do
    server=${t%-*}; transport=long-polling; [ "${t#*-}" = ws ] && transport=websocket
    auth=(); [ "$server" = tally ] && auth=(--token "$token")
    line=$("$load" chat --url "${url[$server]}" --transport "$transport" "${auth[@]}" "${args[@]}")
    echo "round $r: $t  $line"
    out[$t]+="$(echo "$line" | field 'out') "; p50[$t]+="$(echo "$line" | field 'p50') "
    p99[$t]+="$(echo "$line" | field 'p99') "
  done
done
declare -A m_out m_p50 m_p99
for t in "${targets[@]}"; do
  # shellcheck disable=SC2086
  m_out[$t]=$(median ${out[$t]}); m_p50[$t]=$(median ${p50[$t]}); m_p99[$t]=$(median ${p99[$t]})
  echo "median $t: out ${m_out[$t]} msg/s, p50 ${m_p50[$t]} ms, p99 ${m_p99[$t]} ms"
done
echo "ratios: tally/faye long-polling $(ratio "${m_out[tally-lp]}" "${m_out[faye-lp]}"), websocket $(ratio "${m_out[tally-ws]}" "${m_out[faye-ws]}"); tally/cometd-nodejs-server $(ratio "${m_out[tally-lp]}" "${m_out[cometd-lp]}"); tally websocket/long-polling $(ratio "${m_out[tally-ws]}" "${m_out[tally-lp]}")"
declare -A label=([tally-lp]="Tally, long-polling" [tally-ws]="Tally, WebSocket"
  [faye-lp]="Faye 1.4.3, long-polling" [faye-ws]="Faye 1.4.3, WebSocket"
  [cometd-lp]="cometd-nodejs-server 1.2.1, long-polling")
report "| server, transport ($rounds rounds, medians${IO_THREADS:+; Tally with io_threads = $IO_THREADS}) | messages out/s | p50 ms | p99 ms | Tally's throughput relative to it |" \
  "|---|---|---|---|---|"
for t in "${targets[@]}"; do
  rel="—"
  case $t in
    faye-lp|cometd-lp) rel="**$(ratio "${m_out[tally-lp]}" "${m_out[$t]}")×**" ;;
    faye-ws) rel="**$(ratio "${m_out[tally-ws]}" "${m_out[$t]}")×**" ;;
    tally-ws) rel="WebSocket / long-polling: **$(ratio "${m_out[tally-ws]}" "${m_out[tally-lp]}")×**" ;;
  esac
  report "| ${label[$t]} | $(fmt "${m_out[$t]}") | ${m_p50[$t]} | ${m_p99[$t]} | $rel |"
done

