#!/usr/bin/env bash
# Peek throughput: wrk against POST /statistics/v3/operations/get-statistic-ex (3 catalog
# statistics per request, a real token), against GET /healthz of the same binary (the HTTP
# stack alone), and against bench/hello_server.cc (a minimal Beast coroutine server, as many
# threads as Tally's io_threads), alternating, ROUNDS times; prints medians and the ratios.
# Usage: bench/peek_bench.sh [ROUNDS] [SECONDS]   (release build, loopback)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-5}
secs=${2:-5}
bin=${BUILD:-build/release}/src/tally
work=$(mktemp -d)
hello_bin=${BUILD:-build/release}/bench/hello-server
trap 'kill $pid $hpid 2>/dev/null || true; rm -rf "$work"' EXIT
hpid=

sed -e 's/^requests_per_second = .*/requests_per_second = 10000000/' \
    -e 's|^catalog = .*|catalog = "'"$PWD"'/config/statistics.toml"|' \
    -e 's/^level = .*/level = "warn"/' -e 's/^enabled = true/enabled = false/' \
    -e 's|^path = .*|path = ""|' config/demo.toml > "$work/peek.toml"
"$bin" serve --config "$work/peek.toml" --listen 127.0.0.1:18080 2> "$work/server.log" &
pid=$!
threads=$(sed -n 's/^io_threads = \([0-9]*\)/\1/p' "$work/peek.toml")
"$hello_bin" 18081 "${threads:-2}" 2> "$work/hello.log" &
hpid=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.1; done
for _ in $(seq 50); do curl -sf http://127.0.0.1:18081/ >/dev/null && break; sleep 0.1; done
token=$(curl -s -u wallboard:wallboard-secret \
  -d 'grant_type=password&username=supervisor&password=tally-demo' \
  http://127.0.0.1:18080/auth/v3/oauth/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
cat > "$work/peek.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"data":{"statistics":[{"name":"CurrentAgentState","objectType":"Agent","objectId":"agent001"},{"name":"Current_In_Queue","objectType":"Queue","objectId":"8001"},{"name":"ServiceLevel","objectType":"Queue","objectId":"8002"}]}}'
LUA
curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$work/peek.lua")" \
  http://127.0.0.1:18080/statistics/v3/operations/get-statistic-ex | grep -q '"code":0'

run() { wrk -t1 -c32 -d"${secs}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
peek=(); hello=(); beast=()
for r in $(seq "$rounds"); do
  beast+=("$(run http://127.0.0.1:18081/)")
  hello+=("$(run http://127.0.0.1:18080/healthz)")
  peek+=("$(run -s "$work/peek.lua" http://127.0.0.1:18080/statistics/v3/operations/get-statistic-ex)")
  echo "round $r: Beast hello ${beast[-1]} req/s, healthz ${hello[-1]} req/s, get-statistic-ex ${peek[-1]} req/s"
done
mb=$(median "${beast[@]}"); mh=$(median "${hello[@]}"); mp=$(median "${peek[@]}")
ratio=$(awk -v a="$mp" -v b="$mh" 'BEGIN {printf "%.2f", a/b}')
hratio=$(awk -v a="$mh" -v b="$mb" 'BEGIN {printf "%.2f", a/b}')
echo "median Beast hello: $mb req/s; healthz: $mh req/s ($hratio of hello); get-statistic-ex: $mp req/s ($ratio of healthz)"
report "| target | median req/s ($rounds runs of ${secs} s) | ratio | goal |" "|---|---|---|---|" \
  "| minimal Beast coroutine server (\`bench/hello_server.cc\`, ${threads:-2} threads) | $(fmt "$mb") | — | — |" \
  "| \`GET /healthz\` (Tally's HTTP stack alone) | $(fmt "$mh") | $hratio of hello | ≥ 0.8 |" \
  "| \`POST …/get-statistic-ex\` (3 statistics) | **$(fmt "$mp")** | $ratio of /healthz | ≥ 0.9 |"
