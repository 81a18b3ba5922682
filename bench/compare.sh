#!/usr/bin/env bash
# Side by side: the same CometD chat load (bench/load.cc, long-polling) against Tally (release
# build, /bench/** channels on) and against a Faye 1.4.3 server (npm) on loopback, alternating
# ROUNDS times; prints each run, the medians and the ratios. Then the memory of idle sessions.
# Usage: bench/compare.sh [ROUNDS] [CLIENTS] [BATCHES]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
clients=${2:-1000}
batches=${3:-1000}
bin=build/release/src/tally
load=build/release/bench/tally-load
export NODE_PATH=$PWD/tests/integration/node_modules
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

cat > "$work/tally.toml" <<TOML
[log]
level = "warn"
[server]
max_connections = 100000
[statistics]
catalog = "$PWD/config/statistics.toml"
[notifications]
bench_channels = true
max_queue = 100000
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
for _ in $(seq 100); do curl -sf http://127.0.0.1:18100/readyz >/dev/null && grep -q listening "$work/faye.log" && break; sleep 0.1; done
token=$(curl -s -u loader:loader-secret -d grant_type=client_credentials \
  http://127.0.0.1:18100/auth/v3/oauth/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')

args=(--clients "$clients" --rooms 100 --rooms-per-client 10 --batches "$batches" --batch-size 10 --pause-ms 10)
field() { sed -n "s/.*$1 \([0-9.]*\).*/\1/p"; }
t_out=(); t_p99=(); f_out=(); f_p99=()
echo "machine: $(nproc) cores; chat: $clients clients, 100 rooms, 10 rooms each, $batches batches of 10"
for r in $(seq "$rounds"); do
  t=$("$load" chat --url http://127.0.0.1:18100/statistics/v3/notifications --token "$token" "${args[@]}")
  f=$("$load" chat --url http://127.0.0.1:18101/faye "${args[@]}")
  t_out+=("$(echo "$t" | field 'out')"); t_p99+=("$(echo "$t" | field 'p99')")
  f_out+=("$(echo "$f" | field 'out')"); f_p99+=("$(echo "$f" | field 'p99')")
  echo "round $r: tally  $t"
  echo "round $r: faye   $f"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mto=$(median "${t_out[@]}"); mtp=$(median "${t_p99[@]}"); mfo=$(median "${f_out[@]}"); mfp=$(median "${f_p99[@]}")
echo "median out msg/s: tally $mto, faye $mfo (ratio $(awk -v a="$mto" -v b="$mfo" 'BEGIN {printf "%.2f", a/b}'))"
echo "median p99 ms:    tally $mtp, faye $mfp (ratio $(awk -v a="$mtp" -v b="$mfp" 'BEGIN {printf "%.2f", a/b}'))"

idle=${IDLE_SESSIONS:-5000}
echo "idle sessions ($idle each):"
echo "  tally: $("$load" idle --url http://127.0.0.1:18100/statistics/v3/notifications --token "$token" --clients "$idle" --pid "$tally_pid")"
echo "  faye:  $("$load" idle --url http://127.0.0.1:18101/faye --clients "$idle" --pid "$faye_pid")"
