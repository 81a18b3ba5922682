#!/usr/bin/env bash
# Recovery time to ready, with snapshots, on journals of 1M and 10M events (agent-state events
# over 1000 agents, ingested by 4 concurrent `tally replay` clients into a release server with
# synchronous=FULL), side by side with the full replay that recovery was before snapshots:
#   - clean stop (SIGTERM: a last snapshot, nothing to replay),
#   - kill -9 at the worst moment: the last snapshot is 999 000 records old (snapshots every
#     1 000 000 records), so recovery = snapshot + 999 000-record tail,
#   - no snapshot at all (full replay; snapshots disabled by policy).
# Each figure is the median of 5 starts. Usage: bench/recovery_bench.sh [MILLIONS...] (default 1 10)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
sizes=("$@")
[ $# -eq 0 ] && sizes=(1 10)
producers=4
bin=${BUILD:-build/release}/src/tally
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT

config() {  # $1 = journal, $2 = snapshot_every_events, $3 = snapshot_interval_s, $4 = on shutdown
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
snapshot_every_events = $2
snapshot_interval_s = $3
snapshot_on_shutdown = $4
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

start() {  # $1 = config; sets pid; returns after /readyz
  "$bin" serve --config "$1" --listen 127.0.0.1:18091 2> "$work/server.log" &
  pid=$!
  for _ in $(seq 6000); do curl -sf http://127.0.0.1:18091/readyz >/dev/null && return 0; sleep 0.02; done
  echo "server did not become ready" >&2; cat "$work/server.log" >&2; exit 1
}
stop() { kill "-$1" "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

ingest() { replay_files http://127.0.0.1:18091 1000; }

time_to_ready() {  # $1 = config, $2 = signal to stop with; prints the median of 5 starts
  local times=() t0 t1
  for r in 1 2 3 4 5; do
    t0=$(date +%s.%N); start "$1"; t1=$(date +%s.%N)
    echo "    start $r: $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s: $(grep -o 'loaded the snapshot.*' "$work/server.log" || echo 'no snapshot'); $(grep -o 'recovery: done.*' "$work/server.log")" >&2
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')")
    stop "$2"
  done
  median "${times[@]}"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
report "| journal | restart after | what recovery does | time to ready (median of 5 starts) | goal |" \
  "|---|---|---|---|---|"
unit=${UNIT:-1000000}  # events per size unit (the CI smoke run uses a tiny one)
for m in "${sizes[@]}"; do
  n=$(( m * unit ))
  echo "== journal of $m M events"
  # Worst crash: snapshots every 1M records; the journal ends 1000 short of the next one.
  gen_state_events $(( n - 1000 )) "$producers"
  rm -f "$work"/j.db*
  config "$work/j.db" 1000000 86400 false > "$work/crash.toml"
  start "$work/crash.toml"; ingest; stop 9
  crash=$(time_to_ready "$work/crash.toml" 9)
  echo "  kill -9, tail 999 000 records (median of 5): $crash s"
  what="newest snapshot + 999 000-record tail"
  [ "$m" -le 1 ] && what="no snapshot yet: all 999 000 records"
  report "| $m M events | kill -9 just before the next snapshot | $what | **$crash s** | ≤ 5 s for 10 M |"
  config "$work/j.db" 1000000 86400 true > "$work/clean.toml"
  start "$work/clean.toml"; stop TERM  # recovers, then stores the shutdown snapshot
  clean=$(time_to_ready "$work/clean.toml" TERM)
  echo "  clean stop, snapshot at the end (median of 5): $clean s"
  stats=$($bin journal stats --db "$work/j.db")
  echo "  journal file: $(du -b "$work/j.db" | cut -f1) bytes; $stats"
  snap=$(echo "$stats" | sed -n 's/.*"snapshot_bytes":\([0-9]*\).*/\1/p')
  report "| $m M events | SIGTERM (a snapshot at shutdown) | load the snapshot ($(fmt "$snap") bytes in the file), replay nothing | **$clean s** | ≤ 5 s for 10 M |"
  if [ "$m" -le 1 ]; then
    # The baseline: no snapshot at all, every record replayed.
    rm -f "$work"/j.db*
    config "$work/j.db" 1000000000 86400 false > "$work/none.toml"
    start "$work/none.toml"; ingest; stop TERM
    none=$(time_to_ready "$work/none.toml" TERM)
    echo "  no snapshot, full replay (median of 5): $none s"
    report "| $m M events | any (snapshots disabled: the baseline) | replay every record | $none s | — |"
  fi
done
