#!/usr/bin/env bash
# Replaces each generated block of BENCHMARKS.md — the lines between `<!-- bench:NAME -->` and
# `<!-- /bench:NAME -->` — with DIR/NAME.md, when that file exists and is not empty (a benchmark
# that failed leaves its previous figures, and the run says so). Prose outside the blocks is
# kept. Usage: bench/update_benchmarks.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
tmp=$(mktemp)
awk -v dir="$dir" '
  /^<!-- bench:[a-z-]+ -->$/ {
    print
    name = $0; sub(/^<!-- bench:/, "", name); sub(/ -->$/, "", name)
    file = dir "/" name ".md"; n = 0
    while ((getline line < file) > 0) { print line; n++ }
    close(file)
    skip = n > 0
    if (!skip) printf "bench: no new figures for %s (kept the previous ones)\n", name > "/dev/stderr"
    next
  }
  /^<!-- \/bench:[a-z-]+ -->$/ { skip = 0; print; next }
  !skip { print }
' BENCHMARKS.md > "$tmp"
mv "$tmp" BENCHMARKS.md
echo "bench: BENCHMARKS.md updated from $dir"
