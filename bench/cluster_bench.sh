#!/usr/bin/env bash
# The cluster (docs/cluster.md), side by side with the single node, all on this machine:
#   ingest   — the stream of bench/ingest_bench.sh (PRODUCERS concurrent `tally replay`, batches
#              of BATCH) acknowledged by: one node on the SQLite journal (synchronous=FULL);
#              one node on a JetStream stream with 3 replicas (3 nats-server); three nodes on that
#              stream, the batches sent to one of them (every node applies every record). Each
#              round starts fresh processes and stores.
#   replicas — RSS and CPU seconds of each Tally node and each nats-server after the 3-node run.
#   catch-up — CATCHUP events ingested into a 3-node cluster taking no snapshot, then a fourth
#              node started empty: the time until its /readyz says 200, and records (events)/s.
# Failover time is measured by bench/failover_bench.mjs (real clients, HAProxy).
# Usage: bench/cluster_bench.sh [ROUNDS] [EVENTS_PER_ROUND] [CATCHUP_EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-3}
events=${2:-200000}
catchup=${3:-10000000}
producers=${PRODUCERS:-4}
batch=${BATCH:-1000}
bin=${BUILD:-build/release}/src/tally
work=$(mktemp -d)
pids=()
nats_pids=()
stop_all() {
  local p
  for p in "${pids[@]}" "${nats_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}" "${nats_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=(); nats_pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
command -v nats-server >/dev/null || { echo "nats-server is missing (make deps)" >&2; exit 1; }

# Ports: a block of 30 from a random base, none of them listening (two runs on one machine, e.g.
# two worktrees' test suites, must not meet), below Linux's ephemeral range (32768…): a port
# there can be taken meanwhile by any outgoing connection (a test next to this one), which made
# a node's listen fail. NATS clients base+1…3, routes base+11…13, Tally nodes base+21…24.
pick_base() {
  local b p busy
  for _ in $(seq 50); do
    b=$((10000 + RANDOM % 22000)); busy=""
    for p in $(seq $((b + 1)) $((b + 30))); do (echo > "/dev/tcp/127.0.0.1/$p") 2>/dev/null && busy=1 && break; done
    [ -z "$busy" ] && echo "$b" && return 0
  done
  echo "cluster_bench: no free block of ports" >&2; return 1
}
base=$(pick_base)
node1=$((base + 21))
nats_url() { echo "nats://127.0.0.1:$((base + $1))"; }
start_nats() {  # three nats-server (JetStream, one cluster), fresh stores
  rm -rf "$work/nats"; mkdir -p "$work/nats"
  local i j routes
  for i in 1 2 3; do
    routes=""
    for j in 1 2 3; do [ "$j" = "$i" ] || routes="$routes${routes:+, }nats-route://127.0.0.1:$((base + 10 + j))"; done
    mkdir -p "$work/nats/n$i"
    cat > "$work/nats/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$((base + i))
jetstream { store_dir: "$work/nats/n$i" }
cluster { name: bench, listen: 127.0.0.1:$((base + 10 + i)), routes: [$routes] }
CONF
    nats-server -c "$work/nats/n$i.conf" -l "$work/nats/n$i.log" &
    nats_pids+=($!)
  done
  for i in 1 2 3; do
    for _ in $(seq 200); do (echo > /dev/tcp/127.0.0.1/$((base + i))) 2>/dev/null && break; sleep 0.05; done
  done
}

config() {  # $1 = "sqlite" PATH | "jetstream" NODE
  cat <<TOML
[log]
level = "info"
[statistics]
catalog = "$PWD/config/statistics.toml"
[engine]
clock = "event"
[ingest]
events_per_batch = 100000
[server]
max_body_bytes = 67108864
[auth]
secret = "bench-signing-key-0123456789abcdef0123"
TOML
  if [ "$1" = sqlite ]; then
    printf '[storage]\npath = "%s"\ndurability = "full"\nsnapshot_on_shutdown = false\n' "$2"
  else
    cat <<TOML
[storage]
backend = "jetstream"
snapshot_on_shutdown = false
snapshot_interval_s = ${SNAPSHOT_INTERVAL_S:-60}
snapshot_every_events = ${SNAPSHOT_EVERY:-1000000}
[jetstream]
servers = ["$(nats_url 1)", "$(nats_url 2)", "$(nats_url 3)"]
stream = "BENCH"
subject_prefix = "bench"
replicas = 3
[cluster]
node = "$2"
TOML
  fi
  client_toml feeder events:write
  "$bin" simulate --print-config --agents 1000 --queues 10
}

start() {  # $1 = config file, $2 = port; waits for readiness, appends the pid to pids
  "$bin" serve --config "$1" --listen "127.0.0.1:$2" 2> "$work/server.$2.log" &
  pids+=($!)
  for _ in $(seq 2400); do curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return 0; sleep 0.05; done
  echo "server on $2 did not become ready" >&2; cat "$work/server.$2.log" >&2; exit 1
}

ingest() {  # $1 = events, $2 = URL: sends every file concurrently, prints events/s
  local t0 t1
  t0=$(date +%s.%N)
  replay_files "$2" "$batch"
  t1=$(date +%s.%N)
  awk -v n="$1" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}'
}

applied() { curl -sf "http://127.0.0.1:$1/metrics" | awk '/^tally_stream_applied_seq / {print $2}'; }
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $producers producers, batches of $batch"
gen_state_events "$events" "$producers"
sqlite=(); js1=(); js3=(); lag=(); sqlite_cpu=(); js1_cpu=(); js1_nats=()
for r in $(seq "$rounds"); do
  rm -f "$work"/j.db*
  config sqlite "$work/j.db" > "$work/sqlite.toml"
  start "$work/sqlite.toml" $node1
  sqlite+=("$(ingest "$events" http://127.0.0.1:$node1)"); sqlite_cpu+=("$(cpu_s "${pids[0]}")"); stop_all

  start_nats
  config jetstream t1 > "$work/t1.toml"
  start "$work/t1.toml" $node1
  js1+=("$(ingest "$events" http://127.0.0.1:$node1)"); js1_cpu+=("$(cpu_s "${pids[0]}")")
  nats_cpu=0; for p in "${nats_pids[@]}"; do nats_cpu=$(awk -v a="$nats_cpu" -v b="$(cpu_s "$p")" 'BEGIN {print a + b}'); done
  js1_nats+=("$nats_cpu"); stop_all

  start_nats
  for n in 1 2 3; do config jetstream "t$n" > "$work/t$n.toml"; start "$work/t$n.toml" $((base + 20 + n)); done
  t0=$(date +%s.%N)
  js3+=("$(ingest "$events" http://127.0.0.1:$node1)")
  # The other replicas: how long after the last acknowledgment they had applied the same.
  want=$(applied $node1)
  for port in $((base + 22)) $((base + 23)); do
    for _ in $(seq 6000); do [ "$(applied "$port")" = "$want" ] && break; sleep 0.01; done
  done
  t1=$(date +%s.%N)
  total=$(awk -v n="$events" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
  lag+=("$total")
  if [ "$r" = "$rounds" ]; then
    replica_lines=()
    for i in 0 1 2; do
      replica_lines+=("| Tally t$((i + 1)) | $(rss_mib "${pids[$i]}") MiB | $(cpu_s "${pids[$i]}") s |")
    done
    for i in 0 1 2; do
      replica_lines+=("| nats-server n$((i + 1)) | $(rss_mib "${nats_pids[$i]}") MiB | $(cpu_s "${nats_pids[$i]}") s |")
    done
  fi
  stop_all
  echo "round $r: SQLite ${sqlite[-1]} events/s; JetStream R3, 1 node ${js1[-1]}; 3 nodes ${js3[-1]} (all replicas applied: ${lag[-1]})"
done
ms=$(median "${sqlite[@]}"); m1=$(median "${js1[@]}"); m3=$(median "${js3[@]}"); ml=$(median "${lag[@]}")
mcs=$(median "${sqlite_cpu[@]}"); mc1=$(median "${js1_cpu[@]}"); mcn=$(median "${js1_nats[@]}")
echo "CPU seconds for $events events: the SQLite node $mcs; the JetStream node $mc1, its three nats-server $mcn"
echo "median: SQLite $ms events/s; JetStream R3 one node $m1 ($(ratio "$m1" "$ms")x); three nodes $m3 ($(ratio "$m3" "$ms")x), all applied $ml"
printf '%s\n' "${replica_lines[@]}"

# Catch-up: no snapshot, so the fourth node replays every record from the stream.
start_nats
export SNAPSHOT_INTERVAL_S=86400 SNAPSHOT_EVERY=1000000000
gen_state_events "$catchup" "$producers"
for n in 1 2 3; do config jetstream "t$n" > "$work/t$n.toml"; start "$work/t$n.toml" $((base + 20 + n)); done
echo "catch-up: ingesting $(fmt "$catchup") events into the 3-node cluster…"
fill=$(ingest "$catchup" http://127.0.0.1:$node1)
rm -f "$work"/events.*.ndjson
config jetstream t4 > "$work/t4.toml"
t0=$(date +%s.%N)
start "$work/t4.toml" $((base + 24))
t1=$(date +%s.%N)
ready_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
rate=$(awk -v n="$catchup" -v s="$ready_s" 'BEGIN {printf "%.0f", n / s}')
t4_rss=$(rss_mib "${pids[3]}")
grep -E "recovery: " "$work/server.$((base + 24)).log" | tail -3 || true
caught=$(grep -oE "caught up with the stream \([0-9]+ records\) in [0-9.]+ s" "$work/server.$((base + 24)).log" | tail -1 || true)
stop_all
echo "catch-up of an empty node: $(fmt "$catchup") events in $ready_s s ($rate events/s), RSS $t4_rss MiB (filled at $fill events/s)"

report "| measure ($rounds rounds of $(fmt "$events") events, medians; 3 nats-server, R3, on this machine) | result | goal |" "|---|---|---|" \
  "| durable ingest, one node, SQLite \`synchronous=FULL\` (baseline) | $(fmt "$ms") events/s | — |" \
  "| durable ingest, one node on JetStream R3 | **$(fmt "$m1") events/s ($(ratio "$m1" "$ms")× SQLite)** | ≥ 0.8× |" \
  "| CPU for those events (user+sys, medians) | SQLite node $mcs s; JetStream node $mc1 s + its three nats-server $mcn s, all on these $(nproc) cores | — |" \
  "| durable ingest, three nodes on JetStream R3 (sent to one; all apply) | $(fmt "$m3") events/s ($(ratio "$m3" "$ms")×); every replica applied at $(fmt "$ml") events/s | — |" \
  "| catch-up of an empty fourth node, no snapshot, $(fmt "$catchup") events | **$ready_s s to ready** ($(fmt "$rate") events/s; the log: ${caught:-?}), RSS $t4_rss MiB | ≤ 10 s |" \
  "" "| after the 3-node run (last round) | RSS | CPU (user+sys) |" "|---|---|---|" "${replica_lines[@]}"
