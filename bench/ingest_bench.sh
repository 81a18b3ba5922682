#!/usr/bin/env bash
# Durable ingest and recovery. A generated stream of agent-state events over 1000 DNs is sent by
# PRODUCERS concurrent `tally replay` clients (batches of BATCH events, one DN range each), to a
# release server whose journal is a SQLite file with synchronous=FULL, and — side by side, as the
# baseline without durability cost — to the same server with an in-memory journal. Each round
# starts a fresh server. Then the server is restarted on the durable journal and the time to
# replay it is read from its log.
# Usage: bench/ingest_bench.sh [ROUNDS] [EVENTS_PER_ROUND] [RECOVERY_EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
events=${2:-200000}
recovery_events=${3:-1000000}
producers=${PRODUCERS:-4}
batch=${BATCH:-1000}
bin=build/release/src/tally
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
[ingest]
events_per_batch = 100000
[server]
max_body_bytes = 67108864
[auth]
secret = "bench-signing-key-0123456789abcdef0123"
[[auth.client]]
id = "feeder"
secret_hash = "$($bin hash-password --iterations 1000 <<< feeder-secret)"
tenant = "acme"
roles = ["events:write"]
TOML
  "$bin" simulate --print-config --agents 1000 --queues 10
}

# One NDJSON file per producer: producer p owns DNs 7001+p, 7001+p+P, …; logins, then
# ready/not-ready alternating, times increasing.
gen() {  # $1 = events in total
  for p in $(seq 0 $((producers - 1))); do
    awk -v p="$p" -v P="$producers" -v n="$(( $1 / producers ))" 'BEGIN {
      t = 1800000000000; k = 0
      for (i = p; i < 1000 && k < n; i += P) {
        printf "{\"type\":\"EventAgentLogin\",\"agentId\":\"agent%03d\",\"thisDN\":\"%d\",\"placeId\":\"place%03d\",\"time\":%d}\n", i + 1, 7001 + i, i + 1, t; k++
      }
      while (k < n) {
        for (i = p; i < 1000 && k < n; i += P) {
          printf "{\"type\":\"%s\",\"thisDN\":\"%d\",\"time\":%d}\n", (k % 2 ? "EventAgentReady" : "EventAgentNotReady"), 7001 + i, t + k; k++
        }
      }
    }' > "$work/events.$p.ndjson"
  done
}

start() {  # $1 = config file; waits for readiness, sets pid and port
  "$bin" serve --config "$1" --listen 127.0.0.1:18090 2> "$work/server.log" &
  pid=$!
  for _ in $(seq 600); do curl -sf http://127.0.0.1:18090/readyz >/dev/null && return 0; sleep 0.05; done
  echo "server did not become ready" >&2; cat "$work/server.log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

ingest() {  # sends every file concurrently, prints events/s
  local t0 t1 pids=()
  t0=$(date +%s.%N)
  for p in $(seq 0 $((producers - 1))); do
    "$bin" replay "$work/events.$p.ndjson" --url http://127.0.0.1:18090 \
      --client feeder:feeder-secret --batch "$batch" --no-progress > /dev/null &
    pids+=($!)
  done
  wait "${pids[@]}"
  t1=$(date +%s.%N)
  awk -v n="$2" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}'
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $producers producers, batches of $batch"
gen "$events"
durable=(); memory=()
for r in $(seq "$rounds"); do
  rm -f "$work"/j.db*
  config "$work/j.db" > "$work/durable.toml"
  start "$work/durable.toml"; durable+=("$(ingest x "$events")"); stop
  config "" > "$work/memory.toml"
  start "$work/memory.toml"; memory+=("$(ingest x "$events")"); stop
  echo "round $r: durable ${durable[-1]} events/s, in-memory journal ${memory[-1]} events/s"
done
md=$(median "${durable[@]}"); mm=$(median "${memory[@]}")
echo "median durable ingest: $md events/s; in-memory journal: $mm events/s; ratio $(awk -v a="$md" -v b="$mm" 'BEGIN {printf "%.2f", a/b}')"

# Recovery: journal RECOVERY_EVENTS events, restart, read the replay time (median of 3 starts).
gen "$recovery_events"
rm -f "$work"/j.db*
start "$work/durable.toml"; rate=$(ingest x "$recovery_events"); stop
size=$(du -b "$work/j.db" | cut -f1)
times=()
for r in 1 2 3; do
  t0=$(date +%s.%N); start "$work/durable.toml"; t1=$(date +%s.%N); stop
  times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')")
  echo "recovery $r: ready after ${times[-1]} s ($(grep -o 'recovery: done.*' "$work/server.log"))"
done
echo "journal: $recovery_events events ($size bytes, $(( size / recovery_events )) bytes/event), ingested at $rate events/s"
echo "median time to ready: $(median "${times[@]}") s"
