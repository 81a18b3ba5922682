#!/usr/bin/env bash
# CI: every benchmark script once in a tiny configuration so none rots. Nothing about timing is
# asserted; each script must run to its end and exit 0. BUILD names the build directory with
# src/tally and bench/tally-load (ctest passes its own).
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILD=${BUILD:?set BUILD to the build directory}
export SMOKE=1
bench/peek_bench.sh 1 1
bench/ingest_bench.sh 1 4000
UNIT=4000 bench/recovery_bench.sh 1 2
bench/compare.sh 1 20 5
bench/idle_bench.sh 1 20 40
STALLED=2 bench/stats_bench.sh 1 20 "100 200" 1
bench/history_bench.sh 2 1
bench/cluster_bench.sh 1 4000 8000
TALLY_BIN=$BUILD/src/tally node bench/failover_bench.mjs 1
SOAK_SECONDS=20 SAMPLE_S=5 SESSIONS=20 RATE=20 WARMUP=1 SIM_AGENTS=20 bench/soak.sh
echo "bench smoke: every script ran"
