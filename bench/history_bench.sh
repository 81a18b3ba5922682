#!/usr/bin/env bash
# Statistic history (issue 16 item 6) on a simulated 1000-agent contact center: `tally simulate
# --fast` feeds a release server on the event clock for SIM_SECONDS real seconds (hours of
# simulated day); then
#   - the time of one get-statistic-history request at the per-request limit: the 20 catalog
#     statistics that apply to agents × 10 agents × the day's 15-minute buckets (median of RUNS),
#     and what 1000 agents take at that rate (100 such requests: each replays the journal);
#   - the latency of other requests (get-statistic-ex, 200 in a row) idle and while history
#     requests run back to back: p50/p99 and the ratio;
#   - exact on open at the day's end: the time of a subscription to one ad-hoc statistic, and to
#     100 (10 definitions × 10 agents, one replay), each answered with its value since midnight
#     (median of RUNS), and get-statistic-ex's p99 while such opens run back to back.
# Usage: [PROFILE=perf.data] [PROFILE_OPEN=open.data] bench/history_bench.sh [SIM_SECONDS] [RUNS]   (default 60 3;
# release build, loopback)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
sim_seconds=${1:-60}
runs=${2:-3}
bin=${BUILD:-build/release}/src/tally
work=$(mktemp -d)
pid=""
loop=""
trap '[ -n "$loop" ] && kill $loop 2>/dev/null; [ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
url=http://127.0.0.1:18093

{
  cat <<TOML
[log]
level = "warn"
[statistics]
catalog = "$PWD/config/statistics.toml"
exact_open_wait_ms = 600000
[engine]
clock = "event"
[storage]
path = "$work/journal.db"
durability = "normal"
[limits]
requests_per_second = 10000000
[auth]
secret = "bench-signing-key-0123456789abcdef0123"
TOML
  client_toml feeder events:write
  client_toml reader statistics:read
  "$bin" simulate --print-config --agents 1000 --queues 10
} > "$work/history.toml"
"$bin" serve --config "$work/history.toml" --listen 127.0.0.1:18093 2> "$work/server.log" &
pid=$!
for _ in $(seq 300); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$url/readyz" >/dev/null || { echo "server did not become ready" >&2; cat "$work/server.log" >&2; exit 1; }

echo "simulating 1000 agents, 10 queues for ${sim_seconds} s (--fast)…"
"$bin" simulate --url "$url" --client feeder:feeder-secret --agents 1000 --queues 10 --rate 30 \
  --seed 1 --fast --duration "$sim_seconds" > "$work/simulate.log" 2>&1
stats=$("$bin" journal stats --db "$work/journal.db")
field() { sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" <<< "$stats" | head -1; }
events=$(field events)
# The simulated span: the event times (not the records' stamps) of the first and last events.
event_time() {
  node -e 'const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
    for (const l of lines) { const r = JSON.parse(l); const b = typeof r.body === "string" ? JSON.parse(r.body) : r.body;
      if (r.kind === "event" && b.time) { console.log(b.time); break; } }'
}
first=$({ "$bin" journal export --db "$work/journal.db" || true; } | head -20 | event_time)
last=$("$bin" journal export --db "$work/journal.db" --after $(($(field last_seq) - 1)) | event_time)
hours=$(awk -v a="$first" -v b="$last" 'BEGIN {printf "%.1f", (b - a) / 3600000}')
echo "journal: $events events over $hours simulated hours"

token=$(curl -s -u reader:reader-secret -d 'grant_type=client_credentials' "$url/auth/v3/oauth/token" |
  sed 's/.*"access_token":"\([^"]*\)".*/\1/')
names=(CurrentAgentState CurrentAgentStateReasons TimeInCurrentState TimeInCurrentStateVoice
  LoginDuration ReadyDuration NotReadyDuration TalkDuration HoldDuration WrapDuration
  AverageHandlingTime Productivity InboundCalls OutboundCalls InternalCalls ConsultCalls
  InteractionTransferred MissedCalls RefusedCalls Total_Answered)
body() {  # the 20 statistics × agents $1..$1+9
  local out="" a n
  for a in $(seq "$1" $(($1 + 9))); do
    for n in "${names[@]}"; do
      out+="{\"statisticId\":\"$n-$a\",\"name\":\"$n\",\"objectType\":\"Agent\",\"objectId\":\"$(printf 'agent%03d' "$a")\"},"
    done
  done
  printf '{"data":{"from":%s,"to":%s,"bucket":"15m","statistics":[%s]}}' "$first" "$last" "${out%,}"
}
body 1 > "$work/history.json"
buckets=$(( (last - first) / 900000 + 2 ))
history() {
  curl -s -o "$work/answer.json" -w '%{http_code} %{time_total}\n' -X POST \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data-binary "@$work/history.json" "$url/statistics/v3/operations/get-statistic-history"
}
# PROFILE=FILE: one more request under `perf record` (the server's threads), written to FILE.
if [ -n "${PROFILE:-}" ]; then
  perf record -F 499 -g -p "$pid" -o "$PROFILE" 2> /dev/null &
  prec=$!
  sleep 0.5
  history > /dev/null
  kill -INT "$prec"
  wait "$prec" 2>/dev/null || true
  echo "profile of one request: perf report -i $PROFILE --no-children"
fi
times=()
for r in $(seq "$runs"); do
  read -r code t < <(history)
  [ "$code" = 200 ] || { echo "history answered $code: $(head -c 300 "$work/answer.json")" >&2; exit 1; }
  times+=("$t")
  echo "run $r: ${t} s for 200 statistics × about $buckets buckets"
done
per=$(awk -v t="$(median "${times[@]}")" 'BEGIN {printf "%.1f", t}')
all=$(awk -v t="$(median "${times[@]}")" 'BEGIN {printf "%.0f", t * 100}')

# Exact on open: a subscription created at the day's end answers values since midnight.
defs=('{"category":"TotalNumber","subject":"DNAction","mainMask":"CallInbound"}'
  '{"category":"TotalTime","subject":"AgentStatus","mainMask":"WaitForNextCall"}'
  '{"category":"AverageTime","subject":"DNAction","mainMask":"CallInbound"}'
  '{"category":"MaxTime","subject":"DNAction","mainMask":"CallInbound"}'
  '{"category":"TotalNumber","subject":"DNAction","mainMask":"CallInbound","intervalType":"SlidingWindow","intervalLength":"1800"}'
  '{"category":"AverageTime","subject":"DNAction","mainMask":"CallInbound","intervalType":"Selection","intervalLength":"10"}'
  '{"category":"TotalNumber","subject":"DNAction","mainMask":"CallInbound","intervalType":"SinceLogin"}'
  '{"category":"TotalTime","subject":"AgentStatus","mainMask":"NotReadyForNextCall"}'
  '{"category":"TotalNumber","subject":"DNAction","mainMask":"CallOutbound"}'
  '{"category":"TotalTime","subject":"DNAction","mainMask":"CallInbound"}')
subscription() {  # $1 id, $2 definitions, $3 agents
  local out="" a d
  for a in $(seq 1 "$3"); do
    for d in $(seq 0 $(($2 - 1))); do
      out+="{\"statisticId\":\"s$d-$a\",\"objectType\":\"Agent\",\"objectId\":\"$(printf 'agent%03d' "$a")\",\"definition\":${defs[$d]}},"
    done
  done
  printf '{"operationId":"%s","data":{"statistics":[%s]}}' "$1" "${out%,}"
}
exact_open() {  # $1 definitions, $2 agents: prints the answer's time (s); the answer must be exact
  local id="open-$RANDOM$RANDOM"
  subscription "$id" "$1" "$2" > "$work/open.json"
  read -r code t < <(curl -s -o "$work/opened.json" -w '%{http_code} %{time_total}\n' -X POST \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data-binary "@$work/open.json" "$url/statistics/v3/subscriptions")
  [ "$code" = 200 ] || { echo "subscription answered $code: $(head -c 300 "$work/opened.json")" >&2; exit 1; }
  local exact
  exact=$(grep -o '"exact":true' "$work/opened.json" | wc -l)
  [ "$exact" = $(($1 * $2)) ] || { echo "not exact: $(grep -o '"exactNote":"[^"]*"' "$work/opened.json" | head -1)" >&2; exit 1; }
  curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $token" "$url/statistics/v3/subscriptions/$id"
  echo "$t"
}
# PROFILE_OPEN=FILE: one exact open under `perf record` (the server's threads), written to FILE.
if [ -n "${PROFILE_OPEN:-}" ]; then
  perf record -F 499 -g -p "$pid" -o "$PROFILE_OPEN" 2> /dev/null &
  prec=$!
  sleep 0.5
  exact_open 1 1 > /dev/null
  kill -INT "$prec"
  wait "$prec" 2>/dev/null || true
  echo "profile of one exact open: perf report -i $PROFILE_OPEN --no-children"
fi
one=() hundred=()
for r in $(seq "$runs"); do
  one+=("$(exact_open 1 1)")
  hundred+=("$(exact_open 10 10)")
  echo "run $r: exact open of 1 statistic ${one[-1]} s, of 100 statistics ${hundred[-1]} s"
done
open1=$(awk -v t="$(median "${one[@]}")" 'BEGIN {printf "%.2f", t}')
open100=$(awk -v t="$(median "${hundred[@]}")" 'BEGIN {printf "%.2f", t}')

# Latency of get-statistic-ex: 200 in a row, idle, then with history requests back to back.
peek='{"data":{"statistics":[{"name":"CurrentAgentState","objectType":"Agent","objectId":"agent001"},{"name":"CurrentNumberWaitingCalls","objectType":"Queue","objectId":"8001"}]}}'
latencies() {
  for _ in $(seq 200); do
    curl -s -o /dev/null -w '%{time_total}\n' -X POST -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d "$peek" "$url/statistics/v3/operations/get-statistic-ex"
  done | sort -g | awk '{a[NR] = $1 * 1000} END {printf "%.1f %.1f\n", a[int(NR * 0.5)], a[int(NR * 0.99)]}'
}
read -r idle50 idle99 < <(latencies)
(while true; do history > /dev/null; done) &
loop=$!
sleep 0.5
read -r busy50 busy99 < <(latencies)
kill "$loop" 2>/dev/null || true
wait "$loop" 2>/dev/null || true
loop=""
ratio99=$(ratio "$busy99" "$idle99")
(while true; do exact_open 1 1 > /dev/null; done) &
loop=$!
sleep 0.5
read -r open50 open99 < <(latencies)
kill "$loop" 2>/dev/null || true
wait "$loop" 2>/dev/null || true
loop=""
open_ratio99=$(ratio "$open99" "$idle99")
echo "get-statistic-ex during exact opens p50 ${open50} ms p99 ${open99} ms (p99 ratio $open_ratio99)"
echo "get-statistic-ex idle p50 ${idle50} ms p99 ${idle99} ms; during history p50 ${busy50} ms p99 ${busy99} ms (p99 ratio $ratio99)"
echo "one request (200 statistics × $buckets buckets): median ${per} s; 1000 agents (100 requests): ${all} s"
report "| measure | figure | goal |" "|---|---|---|" \
  "| journal | $(fmt "$events") events, $hours simulated hours, 1000 agents | — |" \
  "| one request: 20 agent statistics × 10 agents × $buckets buckets (median of $runs) | **${per} s** | — |" \
  "| a day of 15-minute buckets, 20 statistics × 1000 agents (100 requests at that rate) | **${all} s** | ≤ 5 s |" \
  "| get-statistic-ex p99 idle → during history | ${idle99} ms → ${busy99} ms (**${ratio99}×**) | ≤ 2× |" \
  "| exact on open at the day's end: a subscription to 1 ad-hoc statistic (median of $runs) | **${open1} s** | ≤ 1 s |" \
  "| … to 100 ad-hoc statistics (10 definitions × 10 agents, one replay) | **${open100} s** | — |" \
  "| get-statistic-ex p99 idle → during exact opens back to back | ${idle99} ms → ${open99} ms (**${open_ratio99}×**) | ≤ 2× |"
