# Shared helpers of the benchmark scripts (sourced).

# Median of the arguments (numbers).
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# With BENCH_REPORT=FILE, report lines are appended there: `make bench` puts each script's
# summary table into BENCHMARKS.md (bench/update_benchmarks.sh).
report() { if [ -n "${BENCH_REPORT:-}" ]; then printf '%s\n' "$@" >> "$BENCH_REPORT"; fi; }

# 1234567.8 → "1 234 568" (the thousands separator of BENCHMARKS.md).
fmt() {
  awk -v v="$1" 'BEGIN {
    s = sprintf("%.0f", v); n = length(s); o = ""
    for (i = 1; i <= n; i++) { o = o substr(s, i, 1); if ((n - i) % 3 == 0 && i < n) o = o " " }
    print o
  }'
}

# a / b with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b == 0 ? 0 : a / b)}'; }

# The scripts below use the caller's $bin (the tally binary) and $work (a scratch folder).

# A [[auth.client]] of tenant acme: client_toml ID ROLE (its secret is "ID-secret").
client_toml() {
  cat <<TOML
[[auth.client]]
id = "$1"
secret_hash = "$("$bin" hash-password --iterations 1000 <<< "$1-secret")"
tenant = "acme"
roles = ["$2"]
TOML
}

# Agent-state events over the 1000 agents of `tally simulate --print-config --agents 1000`, in
# $work/events.P.ndjson, one file per producer (P = 0..PRODUCERS-1): producer p owns DNs 7001+p,
# 7001+p+PRODUCERS, …; logins, then ready/not-ready alternating, times increasing.
# Usage: gen_state_events TOTAL PRODUCERS
gen_state_events() {
  rm -f "$work"/events.*.ndjson
  for p in $(seq 0 $(($2 - 1))); do
    awk -v p="$p" -v P="$2" -v n="$(( $1 / $2 ))" 'BEGIN {
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

# Sends every $work/events.*.ndjson concurrently with `tally replay` (client feeder).
# Usage: replay_files URL BATCH
replay_files() {
  local pids=() f
  for f in "$work"/events.*.ndjson; do
    "$bin" replay "$f" --url "$1" --client feeder:feeder-secret --batch "$2" --no-progress \
      > /dev/null &
    pids+=($!)
  done
  wait "${pids[@]}"
}
