#!/usr/bin/env bash
# The Debian package end to end: built by CPack from this build's binary, installed with
# `dpkg -i`, the installed /usr/bin/tally started as the `tally` user with /etc/tally/tally.toml
# on a loopback port (CI has no systemd as PID 1: run directly), /healthz and a peek answer, an
# agent added to the configuration answers after SIGHUP (live reload), the installed unit verified, then `dpkg --purge` must leave no user, group, file or process.
# Usage: package_test.sh BUILD_DIR. Needs root (dpkg); exits 77 (skipped) otherwise.
set -euo pipefail
build=$(cd "$1" && pwd)

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the package test installs a .deb with dpkg and needs root (CI runs as root)"
  exit 77
fi
if dpkg-query -W -f='${Status}' tally 2>/dev/null | grep -q installed; then
  echo "FAIL: a tally package is already installed on this machine; purge it first (dpkg --purge tally)"
  exit 1
fi

work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  if dpkg-query -W -f='${Status}' tally 2>/dev/null | grep -q installed; then
    timeout 120 dpkg --purge tally >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$work/server.log" ] && sed 's/^/  server: /' "$work/server.log"; exit 1; }

echo "== build the package (cpack, from $build)"
timeout 300 cpack -G DEB -B "$work/out" --config "$build/CPackConfig.cmake" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/out/tally_*.deb)
echo "$deb"

echo "== its contents"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\./#/#' >"$work/files"
for f in /usr/bin/tally /etc/tally/tally.toml /usr/share/tally/statistics.toml \
         /lib/systemd/system/tally.service /usr/share/man/man1/tally.1.gz \
         /usr/share/doc/tally/copyright /usr/share/doc/tally/changelog.Debian.gz; do
  grep -qx "$f" "$work/files" || fail "$f is not in the package"
done
if grep -Eq '\.key$|signing' "$work/files"; then fail "the package ships a key: $(grep -E '\.key$|signing' "$work/files")"; fi
dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/tally/tally.toml "$work/control/conffiles" || fail "/etc/tally/tally.toml is not a conffile"
for s in postinst prerm postrm; do [ -x "$work/control/$s" ] || fail "no executable $s"; done

echo "== the man page names every subcommand of tally --help"
dpkg-deb -x "$deb" "$work/unpacked"
bin="$work/unpacked/usr/bin/tally"
zcat "$work/unpacked/usr/share/man/man1/tally.1.gz" >"$work/tally.1"
subs() { "$bin" "$@" --help | awk '/^Subcommands:/ {on=1; next} on && /^  [a-z]/ {print $1}'; }
commands=$(subs)
[ -n "$commands" ] || fail "tally --help lists no subcommands"
for c in $commands; do
  nested=$(subs "$c" || true)
  if [ -n "$nested" ]; then
    for n in $nested; do grep -q "^\.SS \"$c $n" "$work/tally.1" || fail "tally(1) has no section for '$c $n'"; done
  else
    grep -q "^\.SS \"$c\b" "$work/tally.1" || fail "tally(1) has no section for '$c'"
  fi
done
echo "subcommands: $(echo $commands)"

echo "== dpkg -i"
timeout 120 dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
uid=$(id -u tally) || fail "postinst created no user tally"
[ "$uid" -lt 1000 ] || fail "tally (uid $uid) is not a system user"
[ "$(stat -c %U /var/lib/tally)" = tally ] || fail "/var/lib/tally is not owned by tally"
[ -x /usr/bin/tally ] || fail "no /usr/bin/tally"
timeout 60 /usr/bin/tally check-config /etc/tally/tally.toml || fail "the shipped configuration does not check"
out=$(timeout 60 systemd-analyze verify /lib/systemd/system/tally.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify on the installed unit: $out"

echo "== an operator adds users and objects to /etc/tally/tally.toml"
hash() { printf '%s\n' "$1" | timeout 30 /usr/bin/tally hash-password --iterations 1000; }
cat >>/etc/tally/tally.toml <<TOML

[[auth.user]]
name = "sup"
tenant = "acme"
password_hash = "$(hash sup-pw)"
roles = ["statistics:read"]

[[auth.client]]
id = "board"
secret_hash = "$(hash board-secret)"
tenant = "acme"
roles = ["statistics:read"]

[[tenant]]
name = "acme"
timezone = "Europe/Paris"
agents = ["a1"]
queues = ["8001"]
[[tenant.place]]
id = "p1"
dns = ["7001"]
TOML
timeout 60 /usr/bin/tally check-config /etc/tally/tally.toml || fail "the edited configuration does not check"

echo "== start /usr/bin/tally as tally (setpriv: exec, so \$! is the server)"
setpriv --reuid=tally --regid=tally --clear-groups \
  /usr/bin/tally serve --config /etc/tally/tally.toml --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 300); do  # at most 30 s
  kill -0 "$pid" 2>/dev/null || fail "the server exited"
  port=$(sed -n 's#.*listening on http://127\.0\.0\.1:\([0-9]*\).*#\1#p' "$work/server.log")
  if [ -n "$port" ] && grep -q '\bready$' "$work/server.log"; then break; fi
  sleep 0.1
done
grep -q '\bready$' "$work/server.log" || fail "not ready within 30 s"
[ "$(ps -o user= -p "$pid")" = tally ] || fail "the server does not run as tally"
url="http://127.0.0.1:$port"
[ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$url/healthz")" = 200 ] || fail "/healthz"
[ "$(stat -c '%U %a' /var/lib/tally/signing.key)" = "tally 600" ] || fail "no signing key generated (tally, 0600)"
[ "$(stat -c %U /var/lib/tally/tally.db)" = tally ] || fail "no journal in /var/lib/tally"
token=$(curl -s -m 10 -u board:board-secret \
  -d 'grant_type=password&username=sup&password=sup-pw&scope=*' "$url/auth/v3/oauth/token" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') || fail "no token"
peek=$(curl -s -m 10 -w '\n%{http_code}' -H "authorization: Bearer $token" \
  "$url/statistics/v3/statistic-values/CurrentAgentState?objectId=a1&objectType=Agent")
[ "$(tail -1 <<<"$peek")" = 200 ] || fail "peek: $peek"
head -1 <<<"$peek" | python3 -c 'import json,sys; v=json.load(sys.stdin)["data"]["statistic"]["value"]; assert "stringValue" in v or v, v' ||
  fail "peek answer: $peek"
echo "peek: $(head -1 <<<"$peek" | cut -c1-160)"

echo "== SIGHUP reload: an agent added to /etc/tally/tally.toml answers, no restart"
a2="$url/statistics/v3/statistic-values/CurrentAgentState?objectId=a2&objectType=Agent"
[ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "authorization: Bearer $token" "$a2")" = 404 ] ||
  fail "a2 answers before it is configured"
sed -i 's/^agents = \["a1"\]$/agents = ["a1", "a2"]/' /etc/tally/tally.toml
grep -q '^agents = \["a1", "a2"\]$' /etc/tally/tally.toml || fail "could not add a2 to the configuration"
kill -HUP "$pid"
for _ in $(seq 1 300); do grep -q 'reload done' "$work/server.log" && break; sleep 0.1; done
grep -q 'reload done' "$work/server.log" || fail "no 'reload done' within 30 s of SIGHUP"
kill -0 "$pid" 2>/dev/null || fail "the server exited on SIGHUP"
reloaded=$(curl -s -m 10 -w '\n%{http_code}' -H "authorization: Bearer $token" "$a2")
[ "$(tail -1 <<<"$reloaded")" = 200 ] || fail "a2 after the reload: $reloaded"
echo "a2 after the reload: $(head -1 <<<"$reloaded" | cut -c1-120)"

echo "== SIGTERM"
kill -TERM "$pid"
for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "still running 30 s after SIGTERM"
wait "$pid" && code=0 || code=$?
pid=""
[ "$code" = 0 ] || fail "exit status $code after SIGTERM"

echo "== dpkg --purge"
timeout 120 dpkg --purge tally >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg --purge"; }
getent passwd tally >/dev/null && fail "user tally remains"
getent group tally >/dev/null && fail "group tally remains"
for f in /etc/tally /var/lib/tally /usr/bin/tally /usr/share/tally /usr/share/doc/tally \
         /lib/systemd/system/tally.service /usr/share/man/man1/tally.1.gz; do
  [ -e "$f" ] && fail "$f remains after purge"
done
if ps -eo uid= | grep -qx " *$uid"; then fail "processes of uid $uid remain"; fi
echo "ok: built, installed, served as tally, purged without a trace"
