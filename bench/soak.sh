#!/usr/bin/env bash
# Soak: a release server for MINUTES (60) with the in-process simulator at 10× (tenant "sim",
# SIM_AGENTS agents, wall clock) and SESSIONS CometD sessions of tenant "acme" — half
# long-polling, half WebSocket, each subscribed to 10 agents' CurrentAgentState — while
# `tally-load stats` changes those agents' states at RATE events/s; a SQLite journal with
# synchronous=FULL and a snapshot every minute. Every SAMPLE_S seconds (60): the server's RSS,
# open descriptors, CometD sessions, and the interval's p99 ingest→notification latency of each
# transport. At the end: each series after the warm-up (the first WARMUP samples) as min/max and
# its spread (max/min − 1; "flat" is ≤ 5 %), and a plot of RSS.
# Usage: [MINUTES=60] [SAMPLE_S=60] [SESSIONS=1000] [RATE=200] bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
minutes=${MINUTES:-60}
sample_s=${SAMPLE_S:-60}
sessions=${SESSIONS:-1000}
rate=${RATE:-200}
sim_agents=${SIM_AGENTS:-300}
warmup=${WARMUP:-5}
seconds=${SOAK_SECONDS:-$((minutes * 60))}
bin=${BUILD:-build/release}/src/tally
load=${BUILD:-build/release}/bench/tally-load
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] && echo "soak: kept $work" || rm -rf "$work"' EXIT
port=18120

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
snapshot_interval_s = 60
[notifications]
max_queue = 100000
[limits]
subscriptions_per_principal = 1000000
requests_per_second = 1000000
statistics_per_subscription = 1000
[simulator]
enabled = true
tenant = "sim"
agents = $sim_agents
queues = 5
speed = 10
[auth]
secret = "bench-signing-key-0123456789abcdef0123"
token_ttl_s = 172800
TOML
  client_toml reader statistics:read
  client_toml feeder events:write
  "$bin" simulate --print-config --agents 1000 --queues 10
  "$bin" simulate --print-config --agents "$sim_agents" --queues 5 | sed 's/^name = "acme"/name = "sim"/'
} > "$work/tally.toml"
grep -q '^name = "sim"' "$work/tally.toml" || { echo "soak: could not name the simulator's tenant" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || true

"$bin" serve --config "$work/tally.toml" --listen "127.0.0.1:$port" 2> "$work/tally.log" &
server=$!
pids+=("$server")
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/tally.log" >&2; exit 1; }
token() { curl -s -u "$1" -d grant_type=client_credentials "http://127.0.0.1:$port/auth/v3/oauth/token" |
  sed 's/.*"access_token":"\([^"]*\)".*/\1/'; }
# Tokens outlive the run (token_ttl_s above: the load tool does not renew them).
half=$((sessions / 2))
offset=0
for t in long-polling websocket; do
  "$load" stats --url "http://127.0.0.1:$port/statistics/v3/notifications" --transport "$t" \
    --token "$(token reader:reader-secret)" --ingest-token "$(token feeder:feeder-secret)" \
    --clients "$half" --stats-per-client 10 --agents 500 --agent-offset "$offset" --rate $((rate / 2)) \
    --duration $((seconds + 2 * sample_s)) --report-every "$sample_s" > "$work/load.$t.log" 2>&1 &
  pids+=($!)
  offset=500
done

metric() { curl -sf "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
last_p99() { awk '/^interval:/ {v = $0} END {sub(/.*p99 /, "", v); sub(/ .*/, "", v); print v + 0}' "$1"; }
echo "soak: $seconds s, $sessions sessions (half long-polling, half WebSocket), $rate events/s, simulator $sim_agents agents at 10x; a sample every $sample_s s"
printf '%6s %9s %5s %8s %10s %10s %8s\n' minute rss_mib fds sessions lp_p99_ms ws_p99_ms snaps
: > "$work/samples"
elapsed=0
while [ "$elapsed" -lt "$seconds" ]; do
  sleep "$sample_s"; elapsed=$((elapsed + sample_s))
  kill -0 "$server" 2>/dev/null || { echo "soak: the server died" >&2; tail -20 "$work/tally.log" >&2; exit 1; }
  rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status")
  fds=$(ls "/proc/$server/fd" | wc -l)
  sess=$(metric tally_cometd_sessions); snaps=$(metric tally_snapshots_total)
  lp=$(last_p99 "$work/load.long-polling.log"); ws=$(last_p99 "$work/load.websocket.log")
  echo "$((elapsed / 60)) $rss $fds ${sess:-0} $lp $ws ${snaps:-0}" >> "$work/samples"
  printf '%6s %9s %5s %8s %10s %10s %8s\n' "$(awk -v e="$elapsed" 'BEGIN {printf "%.1f", e / 60}')" "$rss" "$fds" "${sess:-0}" "$lp" "$ws" "${snaps:-0}"
done
# The load tools run on past the last sample; their errors so far (failed ingests or subscribes):
for t in long-polling websocket; do
  echo "$t load: $(grep -c '^interval:' "$work/load.$t.log") intervals, errors $(awk '/^interval:/ {e = $NF} END {print e + 0}' "$work/load.$t.log")"
done

# The series after the warm-up: min, max, spread.
summary=$(awk -v w="$warmup" '
  NR > w { n++
    for (i = 2; i <= 6; i++) { v = $i + 0; if (n == 1 || v < lo[i]) lo[i] = v; if (n == 1 || v > hi[i]) hi[i] = v } }
  END {
    split("rss_MiB fds sessions lp_p99_ms ws_p99_ms", name, " ")
    if (n == 0) { print "no samples after the warm-up"; exit }
    for (i = 2; i <= 6; i++) printf "%s %.1f %.1f %.1f\n", name[i - 1], lo[i], hi[i], (lo[i] > 0 ? (hi[i] / lo[i] - 1) * 100 : 0)
  }' "$work/samples")
echo "after the first $warmup samples (min max spread%):"; echo "$summary"
# The trend, which a single min/max hides: the median of the last third of the samples after the
# warm-up against the median of the first third (a leak grows it; snapshot buffers come and go).
trend() {  # column
  awk -v w="$warmup" -v c="$1" 'function median(x, k,   i, j, t) {
      for (i = 2; i <= k; i++) { t = x[i]; for (j = i - 1; j >= 1 && x[j] > t; j--) x[j + 1] = x[j]; x[j + 1] = t }
      return x[int((k + 1) / 2)] }
    NR > w {v[++n] = $c + 0}
    END { k = int(n / 3); if (k < 1) { print 0; exit }
      for (i = 1; i <= k; i++) a[i] = v[i]; for (i = 1; i <= k; i++) b[i] = v[n - k + i]
      ma = median(a, k); mb = median(b, k)
      printf "%.1f %.1f %.1f\n", ma, mb, (ma > 0 ? (mb / ma - 1) * 100 : 0) }' "$work/samples"
}
rss_trend=$(trend 2); fds_trend=$(trend 3)
echo "RSS first third / last third median (MiB) and change %: $rss_trend; descriptors: $fds_trend"
plot=$(awk '{ r[NR] = $2 + 0; if (NR == 1 || r[NR] > hi) hi = r[NR]; if (NR == 1 || r[NR] < lo) lo = r[NR] }
  END { span = hi - lo; if (span < 1) span = 1
    for (row = 8; row >= 0; row--) {
      level = lo + span * row / 8; line = sprintf("%7.1f |", level)
      for (i = 1; i <= NR; i++) line = line ((r[i] - lo) * 8 / span >= row - 0.5 && (r[i] - lo) * 8 / span < row + 0.5 ? "*" : " ")
      print line }
    line = "        +"; for (i = 1; i <= NR; i++) line = line "-"; print line
    print "         sample (every '"$sample_s"' s) →" }' "$work/samples")
echo "RSS (MiB) per sample:"; echo "$plot"
row() { echo "$summary" | awk -v k="$1" -v u="$2" '$1 == k {printf "| %s | %s%s | %s%s | %.1f %% |\n", k, $2, u, $3, u, $4}'; }
report "| series after warm-up ($(( $(wc -l < "$work/samples") - warmup )) samples of $sample_s s; $sessions sessions, $rate events/s, simulator at 10×) | min | max | spread |" "|---|---|---|---|" \
  "$(row rss_MiB " MiB")" "$(row fds "")" "$(row sessions "")" "$(row lp_p99_ms " ms")" "$(row ws_p99_ms " ms")" \
  "" "| trend after warm-up: median of the first third → last third | change |" "|---|---|" \
  "$(echo "$rss_trend" | awk '{printf "| RSS %s → %s MiB | %+.1f %% |", $1, $2, $3}')" \
  "$(echo "$fds_trend" | awk '{printf "| descriptors %s → %s | %+.1f %% |", $1, $2, $3}')" \
  "" '```' "RSS (MiB), one column per sample:" "$plot" '```'
