#!/usr/bin/env bash
# Durable ingest. A generated stream of agent-state events over 1000 DNs is sent by PRODUCERS
# concurrent `tally replay` clients (batches of BATCH events, one DN range each), to a release
# server whose journal is a SQLite file with synchronous=FULL, and — side by side, as the
# baseline without durability cost — to the same server with an in-memory journal. Each round
# starts a fresh server. (Recovery: bench/recovery_bench.sh.)
# Usage: bench/ingest_bench.sh [ROUNDS] [EVENTS_PER_ROUND]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-5}
events=${2:-200000}
producers=${PRODUCERS:-4}
batch=${BATCH:-1000}
bin=${BUILD:-build/release}/src/tally
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT

# Server config: 1000 agents in event clock mode, an ingest client.
config() {  # $1 = journal path ("" = in memory)
  cat <<TOML
[log]
level = "info"
[statistics]
catalog = "$PWD/config/statistics.toml"
[engine]
clock = "event"
[storage]
path = "$1"
durability = "full"
snapshot_on_shutdown = false
[ingest]
events_per_batch = 100000
[server]
max_body_bytes = 67108864
[auth]
secret = "bench-signing-key-0123456789abcdef0123"
TOML
  client_toml feeder events:write
  "$bin" simulate --print-config --agents 1000 --queues 10
}

start() {  # $1 = config file; waits for readiness, sets pid and port
  "$bin" serve --config "$1" --listen 127.0.0.1:18090 2> "$work/server.log" &
  pid=$!
  for _ in $(seq 600); do curl -sf http://127.0.0.1:18090/readyz >/dev/null && return 0; sleep 0.05; done
  echo "server did not become ready" >&2; cat "$work/server.log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

ingest() {  # sends every file concurrently, prints events/s
  local t0 t1
  t0=$(date +%s.%N)
  replay_files http://127.0.0.1:18090 "$batch"
  t1=$(date +%s.%N)
  awk -v n="$1" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}'
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $producers producers, batches of $batch"
gen_state_events "$events" "$producers"
durable=(); memory=()
for r in $(seq "$rounds"); do
  rm -f "$work"/j.db*
  config "$work/j.db" > "$work/durable.toml"
  start "$work/durable.toml"; durable+=("$(ingest "$events")"); stop
  config "" > "$work/memory.toml"
  start "$work/memory.toml"; memory+=("$(ingest "$events")"); stop
  echo "round $r: durable ${durable[-1]} events/s, in-memory journal ${memory[-1]} events/s"
done
md=$(median "${durable[@]}"); mm=$(median "${memory[@]}")
ratio=$(awk -v a="$md" -v b="$mm" 'BEGIN {printf "%.2f", a/b}')
echo "median durable ingest: $md events/s; in-memory journal: $mm events/s; ratio $ratio"
size=$(du -b "$work/j.db" | cut -f1)
report "| measure ($rounds rounds of $(fmt "$events") events, medians) | result | goal |" "|---|---|---|" \
  "| durable ingest, \`synchronous=FULL\`, group commit | **$(fmt "$md") events/s** | ≥ 200 000 |" \
  "| same load, in-memory journal (baseline) | $(fmt "$mm") events/s (durable / in-memory $ratio) | — |" \
  "| journal size | $(( size / events )) bytes per event | — |"

