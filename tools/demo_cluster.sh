#!/usr/bin/env bash
# make demo-cluster: the replicated Tally on this machine (docs/cluster.md) — a 3-node NATS
# JetStream cluster, 3 Tally nodes on it, HAProxy in front (deploy/haproxy/tally.cfg as
# shipped) and the simulated contact center of `make demo` feeding it through HAProxy. Prints
# the wallboard URL and the commands to kill any one process; Ctrl-C stops everything.
# Arguments: the tally binary. State lives in data/cluster (removed at each start: a fresh day).
set -euo pipefail
cd "$(dirname "$0")/.."
TALLY=${1:-build/release/src/tally}
ROOT=$(pwd)
DIR="$ROOT/data/cluster"

for tool in nats-server haproxy; do
  command -v "$tool" >/dev/null || { echo "demo-cluster: $tool is missing (make deps installs it)"; exit 1; }
done
for port in 8080 8081 8082 8083 4222 4223 4224 6222 6223 6224; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo-cluster: port $port is in use (another demo running?)"
    exit 1
  fi
done

rm -rf "$DIR"
mkdir -p "$DIR"
natsd=()
nodes=()
front=()
waiting=()
wait_all() {
  for pid in "${waiting[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  done
  waiting=()
}
stop() {
  trap - INT TERM EXIT
  echo
  echo "demo-cluster: stopping"
  # The simulator and HAProxy, then the Tally nodes (each stores a last snapshot while NATS is
  # still there), then NATS.
  for group in "${front[@]}" / "${nodes[@]}" / "${natsd[@]}"; do
    if [ "$group" = / ]; then
      wait_all
    else
      kill "$group" 2>/dev/null || true
      waiting+=("$group")
    fi
  done
  wait_all
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

# NATS: three servers with JetStream, routes between them.
for i in 1 2 3; do
  mkdir -p "$DIR/n$i"
  routes=""
  for j in 1 2 3; do
    [ "$j" = "$i" ] || routes="$routes${routes:+, }nats-route://127.0.0.1:$((6221 + j))"
  done
  cat >"$DIR/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:$((4221 + i))
jetstream { store_dir: "$DIR/n$i" }
cluster { name: tally-demo, listen: 127.0.0.1:$((6221 + i)), routes: [$routes] }
EOF
  nats-server -c "$DIR/n$i.conf" -l "$DIR/n$i.log" &
  natsd+=($!)
  echo $! >"$DIR/n$i.pid"
done

# Tally: the demo's configuration with the JetStream journal instead of SQLite and without the
# in-process simulator (it runs once, outside, through HAProxy). Node names: t1, t2, t3.
for i in 1 2 3; do
  sed -e '/^\[storage\]/,/^$/d' -e 's/^enabled = true/enabled = false/' \
    -e "s|^catalog = \"statistics.toml\".*|catalog = \"$ROOT/config/statistics.toml\"|" \
    config/demo.toml >"$DIR/t$i.toml"
  cat >>"$DIR/t$i.toml" <<EOF

[storage]
backend = "jetstream"

[jetstream]
servers = ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223", "nats://127.0.0.1:4224"]
stream = "TALLY_DEMO"
replicas = 3

[cluster]
node = "t$i"
EOF
  "$TALLY" serve --config "$DIR/t$i.toml" --listen "127.0.0.1:$((8080 + i))" >"$DIR/t$i.log" 2>&1 &
  nodes+=($!)
  echo $! >"$DIR/t$i.pid"
done

echo "demo-cluster: waiting for the three nodes to be ready"
for i in 1 2 3; do
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$((8080 + i))/readyz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -sf "http://127.0.0.1:$((8080 + i))/readyz" >/dev/null || {
    echo "demo-cluster: node t$i is not ready; its log:"
    tail -20 "$DIR/t$i.log"
    exit 1
  }
done

haproxy -f deploy/haproxy/tally.cfg -db >"$DIR/haproxy.log" 2>&1 &
front+=($!)
echo $! >"$DIR/haproxy.pid"
sleep 0.5

"$TALLY" simulate --url http://127.0.0.1:8080 --client simulator:ingest-secret 2>"$DIR/simulator.log" &
front+=($!)

cat <<EOF

Tally cluster demo: 3 NATS servers (JetStream, 3 replicas), 3 Tally nodes, HAProxy, and the
simulated contact center of make demo (50 agents, 3 queues, 10x real time). Ctrl-C stops it.
  wallboard (through HAProxy) : http://127.0.0.1:8080/wallboard/
  supervisor login            : supervisor / tally-demo
  nodes                       : http://127.0.0.1:8081  :8082  :8083  (X-Tally-Node names the one that answered)
  logs and state              : data/cluster/

Kill any one process — the wallboard carries on:
  kill -9 $(cat "$DIR/t1.pid")     # Tally node t1 (t2: $(cat "$DIR/t2.pid"), t3: $(cat "$DIR/t3.pid"))
  kill -9 $(cat "$DIR/n1.pid")     # NATS server n1 (n2: $(cat "$DIR/n2.pid"), n3: $(cat "$DIR/n3.pid"))
Bring a killed Tally node back (it catches up from a snapshot and the stream):
  $TALLY serve --config $DIR/t1.toml --listen 127.0.0.1:8081
Bring a killed NATS server back:
  nats-server -c $DIR/n1.conf -l $DIR/n1.log

EOF
wait
