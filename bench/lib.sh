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
