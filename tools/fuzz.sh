#!/usr/bin/env bash
# make fuzz: runs each fuzz target (build/fuzz/tests/fuzz/fuzz_<target>) for SECONDS, one after
# the other in one process each (no -jobs: libFuzzer would fork a child), over a working corpus
# seeded from the committed one, and prints executions and executions per second per target. Exit 1 when any target found a crash, a
# leak, undefined behaviour or a timeout (the input is in build/fuzz/crashes/).
# Usage: tools/fuzz.sh SECONDS TARGET...
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?seconds}
shift
bin=build/fuzz/tests/fuzz
mkdir -p build/fuzz/crashes
max_len() {
  case "$1" in
    filter|definition) echo 1024 ;;
    codec|config|jwt) echo 4096 ;;
    bayeux|http) echo 8192 ;;
    *) echo 65536 ;;  # snapshot, journal: the seeds are whole snapshots and journals
  esac
}
failed=0
summary=""
for t in "$@"; do
  [ -x "$bin/fuzz_$t" ] || { echo "fuzz: no binary $bin/fuzz_$t (make fuzz builds it)"; exit 2; }
  work=build/fuzz/corpus/$t
  mkdir -p "$work"
  log=build/fuzz/$t.log
  echo "fuzz: $t for ${seconds}s (log: $log)"
  "$bin/fuzz_$t" "$work" "tests/fuzz/corpus/$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
    -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="build/fuzz/crashes/$t-" >"$log" 2>&1
  rc=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  result=ok
  if [ $rc -ne 0 ]; then
    result="FAILED (exit $rc): $(grep -m1 -E 'ERROR|runtime error|fuzz: check failed' "$log" | cut -c1-160)"
    failed=1
  fi
  summary+=$(printf '%-11s %12s runs %8s exec/s  %s' "$t" "${runs:-?}" "${rate:-?}" "$result")$'\n'
done
echo
printf '%s' "$summary"
exit $failed
