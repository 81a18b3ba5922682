#!/usr/bin/env bash
# `make bench`: every benchmark on the release build, then the generated tables of BENCHMARKS.md
# rewritten with the new figures (bench/update_benchmarks.sh). About 30 minutes on 2 cores.
# Each script's full output is in build/bench/NAME.log.
set -uo pipefail
cd "$(dirname "$0")/.."
out=build/bench
rm -rf "$out"; mkdir -p "$out"
export TALLY_SOURCE_DIR=$PWD
export NODE_PATH=$PWD/tests/integration/node_modules
started=$(date +%s)
step() {  # NAME COMMAND...: runs it with its report going to $out/NAME.md
  local name=$1; shift
  echo "== $name: $*"
  local t0; t0=$(date +%s)
  if BENCH_REPORT=$PWD/$out/$name.md "$@" 2>&1 | tee "$out/$name.log"; then :; fi
  echo "== $name: $(( $(date +%s) - t0 )) s"
}
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
{
  echo "Measured $(date -u +%Y-%m-%d) at commit \`$(git rev-parse --short HEAD)\`: $(nproc) vCPU ($cpu),"
  echo "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), $(g++ --version | head -1 | sed 's/ (.*)//'),"
  echo "\`release\` preset. Every figure below comes from \`make bench\` (\`bench/run.sh\`)."
} > "$out/machine.md"

eb=build/release/bench/engine_bench
step engine-run "$eb" --benchmark_filter='Events|Snapshot' --benchmark_min_time=2 \
  --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/engine.json" --benchmark_out_format=json
for i in 1 2 3 4 5; do  # a fresh process each, so RSS is honest
  "$eb" --benchmark_filter=Memory --benchmark_out="$out/memory$i.json" --benchmark_out_format=json \
    > /dev/null
done
node bench/engine_report.mjs "$out/engine.json" "$out"/memory*.json > "$out/engine.md"
cat "$out/engine.md"
step peek bench/peek_bench.sh 5 5
step ingest bench/ingest_bench.sh 5 200000
step recovery bench/recovery_bench.sh 1 10
step chat bench/compare.sh 5 1000 80
IO_THREADS=1 step chat-single bench/compare.sh 3 1000 80
step idle bench/idle_bench.sh 3 5000 100000
STALLED=100 STALLED_RATE=1000 step stats bench/stats_bench.sh 3 1000 "1000 5000 15000" 10
STATS_PER_SESSION=1 ONE_CONNECTION=1 SOURCES=8 step stats-large bench/stats_bench.sh 3 10000 1000 10
step history bench/history_bench.sh 60 3
step cluster bench/cluster_bench.sh 3 200000 10000000
TALLY_BIN=$PWD/build/release/src/tally step failover node bench/failover_bench.mjs 20
rm -f "$out/engine-run.md"
bench/update_benchmarks.sh "$out"
echo "bench: done in $(( $(date +%s) - started )) s"
