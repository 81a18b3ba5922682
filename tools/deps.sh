#!/usr/bin/env bash
# Installs what Tally needs on Debian 12, and nothing else (plus the packages named as arguments,
# e.g. `tools/deps.sh lintian` for make package). Idempotent and quick when everything
# is present: it asks dpkg first and runs apt-get only for what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config git make clang-format clang-tidy
  # make fuzz: clang with libFuzzer and the sanitizer runtimes
  clang-14 libclang-rt-14-dev
  # libraries (Boost 1.81 explicitly: Debian's default is 1.74)
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libtomlplusplus-dev libspdlog-dev libfmt-dev libcli11-dev
  libhowardhinnant-date-dev tzdata
  # systemd's sd_notify (Type=notify, watchdog)
  libsystemd-dev
  # the replicated journal (NATS JetStream) and the load balancer of the cluster
  libnats-dev nats-server haproxy
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev curl wrk openssl
  # promtool (checks /metrics and deploy/prometheus), systemd-analyze for the unit, python3 for
  # the sd_notify test's socket, dpkg-shlibdeps for the package (make package, package test)
  prometheus systemd python3 dpkg-dev
  # the wallboard end-to-end test drives Debian's Chromium (playwright-core, no browser download)
  chromium
)
# Extra packages a target needs (make package: lintian).
packages+=("$@")
# Node.js: keep an existing installation (e.g. from NodeSource, which bundles npm); otherwise
# take Debian's.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: Debian packages present"
fi

# Node packages for the test suites and the web page, exactly as locked.
for dir in tests/integration tests/e2e web; do
  [ -f "$dir/package-lock.json" ] || continue
  stamp="$dir/node_modules/.tally-lock-stamp"
  if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    echo "deps: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    mkdir -p "$dir/node_modules"
    cp "$dir/package-lock.json" "$stamp"
  fi
done
