#!/usr/bin/env bash
# Memory of idle CometD sessions, side by side: each round starts a fresh Tally (release build)
# and a fresh Faye 1.4.3 per transport, opens SESSIONS idle sessions against it (handshake,
# subscribe to one channel, a held connect; `tally-load idle`) and reads the server's RSS growth
# from /proc/PID/status. Medians over the rounds, so no reading follows other load. Then one
# fresh Tally with LARGE idle WebSocket sessions (RSS and the time to open them).
# Usage: bench/idle_bench.sh [ROUNDS] [SESSIONS] [LARGE]
# LARGE is capped 1000 below the open-file limit (each session is a socket in the server and in the
# load tool, one process each); more than ~28 000 spread over several 127.0.0.x sources.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-3}
sessions=${2:-5000}
large=${3:-100000}
bin=${BUILD:-build/release}/src/tally
load=${BUILD:-build/release}/bench/tally-load
export NODE_PATH=$PWD/tests/integration/node_modules
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
limit=$(ulimit -n)
if [ "$large" -gt $((limit - 1000)) ]; then
  echo "LARGE $large capped at $((limit - 1000)): the open-file limit here is $limit"
  large=$((limit - 1000))
fi
sources=$(( large / 20000 + 1 ))

cat > "$work/tally.toml" <<TOML
[log]
level = "warn"
[server]
max_connections = 200000
[notifications]
max_sessions_per_principal = 200000
[statistics]
catalog = "$PWD/config/statistics.toml"
[auth]
secret = "bench-signing-key-0123456789abcdef0123"
$(client_toml loader statistics:read)
[[tenant]]
name = "acme"
agents = ["a1"]
TOML

server_pid=
start_tally() {
  "$bin" serve --config "$work/tally.toml" --listen 127.0.0.1:18112 2> "$work/tally.log" &
  server_pid=$!; pids+=("$server_pid")
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18112/readyz >/dev/null && return; sleep 0.1; done
  echo "tally did not start:"; cat "$work/tally.log"; exit 1
}
start_faye() {
  node bench/faye_server.cjs 18113 > "$work/faye.log" 2>&1 &
  server_pid=$!; pids+=("$server_pid")
  for _ in $(seq 100); do grep -q listening "$work/faye.log" && sleep 0.5 && return; sleep 0.1; done
  echo "faye did not start:"; cat "$work/faye.log"; exit 1
}
stop_server() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
token=
idle_run() {  # SERVER TRANSPORT N [SOURCES] → the load tool's line
  local auth=() url=http://127.0.0.1:18113/faye channel=/idle/room
  if [ "$1" = tally ]; then
    start_tally
    token=$(curl -s -u loader:loader-secret -d grant_type=client_credentials \
      http://127.0.0.1:18112/auth/v3/oauth/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
    auth=(--token "$token"); url=http://127.0.0.1:18112/statistics/v3/notifications
    channel=/statistics/v3/updates
  else
    start_faye
  fi
  "$load" idle --url "$url" "${auth[@]}" --transport "$2" --clients "$3" --channel "$channel" \
    --sources "${4:-1}" --pid "$server_pid"
  stop_server
}
per() { sed -n 's/.*: \(-*[0-9]*\) bytes\/session.*/\1/p'; }
secs() { sed -n 's/.* in \([0-9.]*\) s;.*/\1/p'; }

echo "machine: $(nproc) cores; $sessions idle sessions per run, $rounds rounds, a fresh server each"
targets=(tally-lp tally-ws faye-lp faye-ws)
declare -A bytes
for r in $(seq "$rounds"); do
  for t in "${targets[@]}"; do
    transport=long-polling; [ "${t#*-}" = ws ] && transport=websocket
    line=$(idle_run "${t%-*}" "$transport" "$sessions")
    echo "round $r: $t  $line"
    bytes[$t]+="$(echo "$line" | per) "
  done
done
declare -A m
for t in "${targets[@]}"; do
  # shellcheck disable=SC2086
  m[$t]=$(median ${bytes[$t]})
  echo "median $t: ${m[$t]} bytes/session"
done
line=$(idle_run tally websocket "$large" "$sources")
echo "large: tally-ws  $line"
large_open=$(echo "$line" | sed -n 's/idle: \([0-9]*\) sessions.*/\1/p')
large_rss=$(echo "$line" | sed -n 's/.*-> \([0-9]*\) bytes.*/\1/p')
report "| RSS per idle session ($sessions sessions, median of $rounds fresh processes) | Tally | Faye 1.4.3 | goal |" \
  "|---|---|---|---|" \
  "| long-polling (two connections per session: the held connect and one keep-alive) | **$(fmt "${m[tally-lp]}") B** | $(fmt "${m[faye-lp]}") B | ≤ 4 096 |" \
  "| WebSocket | **$(fmt "${m[tally-ws]}") B** | $(fmt "${m[faye-ws]}") B | ≤ 4 096 |" \
  "" "| $(fmt "$large_open") idle WebSocket sessions, one fresh Tally | figure |" "|---|---|" \
  "| sessions asked for / open / refused or failed | $(fmt "$large") / $(fmt "$large_open") / $(echo "$line" | sed -n 's/.*(\([0-9]*\) errors).*/\1/p') |" \
  "| server RSS with them open | $(awk -v b="$large_rss" 'BEGIN {printf "%.0f MiB", b / 1048576}') |" \
  "| time to open them all (one load process) | $(echo "$line" | secs) s |"
