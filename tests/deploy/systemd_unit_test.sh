#!/usr/bin/env bash
# The systemd unit (deploy/systemd/tally.service): `systemd-analyze verify` says nothing about
# it, and `systemd-analyze security --offline=true` rates its exposure at most 2.0.
# Usage: systemd_unit_test.sh UNIT TALLY_BIN. The unit is checked as a copy whose ExecStart names
# TALLY_BIN (verify checks that the command exists; /usr/bin/tally exists only once the package
# is installed, where package_test.sh verifies the installed unit as it is).
set -euo pipefail
unit=$1
bin=$2
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing (make deps)"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

grep -qx 'Type=notify' "$unit" || { echo "FAIL: the unit is not Type=notify"; exit 1; }
grep -q '^WatchdogSec=' "$unit" || { echo "FAIL: the unit sets no WatchdogSec"; exit 1; }
grep -q '^ExecReload=.*-HUP' "$unit" || { echo "FAIL: ExecReload does not send SIGHUP"; exit 1; }

sed "s#^ExecStart=/usr/bin/tally #ExecStart=$bin #" "$unit" >"$dir/tally.service"
grep -q "^ExecStart=$bin " "$dir/tally.service" || { echo "FAIL: no ExecStart=/usr/bin/tally"; exit 1; }
# --man=no: Documentation=man:tally(1) is checked where the package installed the page.
out=$(timeout 60 systemd-analyze verify --man=no "$dir/tally.service" 2>&1) || {
  echo "FAIL: systemd-analyze verify:"; echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "FAIL: systemd-analyze verify warns:"; echo "$out"; exit 1; fi
echo "ok: systemd-analyze verify is clean"

report=$(timeout 60 systemd-analyze security --offline=true --no-pager "$dir/tally.service" 2>&1)
level=$(sed -n 's/.*Overall exposure level for tally.service: \([0-9.]*\).*/\1/p' <<<"$report")
[ -n "$level" ] || { echo "FAIL: no exposure level in:"; echo "$report"; exit 1; }
echo "exposure level: $level"
awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || {
  echo "FAIL: exposure $level > 2.0:"; grep '✗' <<<"$report"; exit 1; }
echo "ok: exposure $level <= 2.0"
