// A cluster for the client-failover tests (issue 13): 3 nats-server nodes (R3), 3 Tally nodes on
// the wall clock with the notification settings of the CometD suites, HAProxy in front. The
// tests connect real clients through HAProxy, kill -9 the node that serves them and check that
// they carry on with another node.
import assert from 'node:assert/strict';
import { metricsText, metricValue } from './tally.mjs';
import { stats } from './api.mjs';
import { notifyConfig, feederToken, feed, waitFor } from './notify.mjs';
import { startNats, clusterToml, startNode, startHaproxy, freePort } from './cluster.mjs';

// `notify`: notification settings (notifyConfig's; the tests' short timeouts by default).
export async function startFailoverCluster(stream, notify = {}) {
  const nats = await startNats(3);
  const ports = [await freePort(), await freePort(), await freePort()];
  const config = (name) => notifyConfig(notify) + clusterToml({ urls: nats.urls, node: name, stream });
  const nodes = await Promise.all(ports.map((port, i) => startNode({ name: `t${i + 1}`, config, port })));
  const haproxy = await startHaproxy(ports);
  const cluster = {
    nats,
    nodes,
    haproxy,
    url: haproxy.url,
    feeder: await feederToken(haproxy.url),
    async feed(events) {
      // Through HAProxy, retried while it has not yet seen a node go.
      await waitFor(async () => {
        try {
          await feed(haproxy.url, cluster.feeder, events);
          return true;
        } catch {
          return false;
        }
      }, 20_000, 'an acknowledged batch');
    },
    // The node a client's CometD session lives on (the only one counting it).
    async holder() {
      const counts = await Promise.all(cluster.nodes.map(async (n) => {
        if (n.proc.exitCode !== null || n.proc.signalCode !== null) return 0;
        return metricValue(await metricsText(n.url), 'tally_cometd_sessions') ?? 0;
      }));
      const holding = cluster.nodes.filter((_, i) => counts[i] > 0);
      return holding.length === 1 ? holding[0] : undefined;
    },
    alive() {
      return cluster.nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
    },
    // A killed node started again on its port: it catches up before it is ready.
    async restart(node) {
      const i = cluster.nodes.indexOf(node);
      cluster.nodes[i] = await startNode({ name: node.name, config, port: ports[i] });
      return cluster.nodes[i];
    },
    async stop() {
      await haproxy.stop();
      await Promise.all(cluster.nodes.map((n) => n.kill9()));
      await nats.stop();
    },
  };
  return cluster;
}

// A value without what depends on the moment it was read: a peek is stamped with its own time,
// and a growing window's length is counted up to it (docs/cluster.md, what may differ).
const valueOf = (v) => (v ? JSON.stringify({ ...v, timestamp: undefined, intervalLength: undefined }) : undefined);

// Every live node answers the same values for the subscription (and the client saw them last).
export async function assertSameValues(cluster, token, operationId, clientLatest) {
  const answers = [];
  for (const node of cluster.alive()) {
    const r = await stats(node.url, token, 'GET', `/subscriptions/${operationId}/statistic-values`);
    assert.equal(r.status, 200, `${node.name}: ${JSON.stringify(r.body)}`);
    answers.push(r.body.data.statistics.map((s) => [s.statisticId, valueOf(s.value)]).sort());
  }
  for (const a of answers.slice(1)) assert.deepEqual(a, answers[0]);
  for (const [id, value] of answers[0]) {
    assert.equal(valueOf(clientLatest(id)?.value), value, `the client's last value of ${id}`);
  }
}

export async function waitHolder(cluster) {
  return waitFor(() => cluster.holder(), 10_000, 'the node holding the session');
}

// CometD handshakes the live nodes but `except` answered.
export const handshakes = async (cluster, except = undefined) => {
  let total = 0;
  for (const n of cluster.alive()) {
    if (n !== except) total += metricValue(await metricsText(n.url), 'tally_cometd_handshakes_total') ?? 0;
  }
  return total;
};

// The same, retried while replicas and the client catch up; the last difference when it times out.
export async function eventuallySameValues(cluster, token, operationId, clientLatest, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await assertSameValues(cluster, token, operationId, clientLatest);
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
