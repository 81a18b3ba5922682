// The replicated Tally of issue 13 with real processes on loopback: 3 nats-server nodes
// (JetStream, R3), Tally nodes on the JetStream journal, HAProxy in front. A recorded event
// stream ingested through HAProxy while a node is killed; NATS nodes failing; an empty node
// catching up from a snapshot; two nodes writing one tenant at once; tenants split over two
// groups of nodes. Every comparison is exact, against a single-node SQLite run of the same events.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startTally, tempDir, metricsText, metricValue } from './lib/tally.mjs';
import { authToml, getToken, ingest, stats, catalogNames } from './lib/api.mjs';
import { makeStream, batches, everyStatistic, SUBSCRIPTION, STREAM_TENANT } from './lib/stream.mjs';
import { startNats, clusterToml, startNode, startHaproxy, shippedHaproxy, freePort, CATALOG_PATH } from './lib/cluster.mjs';

const NAMES = catalogNames(readFileSync(CATALOG_PATH, 'utf8'));

const GLOBEX = `
[[tenant]]
name = "globex"
agents = ["g1"]
queues = ["9001"]
[[tenant.place]]
id = "gp1"
dns = ["7101"]
`;

function baseToml() {
  return `
[statistics]
catalog = "${CATALOG_PATH}"
[engine]
clock = "event"
[auth]
secret = "cluster-test-signing-key-0123456789abcdef"
${authToml({
    clients: [['feeder', 'acme', ['events:write']], ['reader', 'acme', ['statistics:read']],
      ['gfeeder', 'globex', ['events:write']], ['greader', 'globex', ['statistics:read']]],
  })}
${STREAM_TENANT}
${GLOBEX}
`;
}

const token = (url, client) => getToken(url, { client, secret: `${client}-secret` });

// Posts a batch until it is acknowledged (a node may die under it): the same key every time, so
// a batch stored before its answer was lost is not stored twice.
async function ingestUntilAcknowledged(url, tok, events, key, ms = 60_000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await ingest(url, tok, events, { key });
      if (last.status === 200) return last.body;
    } catch (e) {
      last = { status: 0, body: String(e) };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`batch ${key} never acknowledged: ${JSON.stringify(last)}`);
}

// The values of every catalog statistic and of the test subscription on one server.
async function valuesOf(url, reader) {
  const values = await stats(url, reader, 'POST', '/operations/get-statistic-ex', everyStatistic(NAMES));
  const sub = await stats(url, reader, 'GET', `/subscriptions/${SUBSCRIPTION.operationId}/statistic-values`);
  const strip = (body) => JSON.stringify(body?.data ?? body);
  return { values: strip(values.body), sub: strip(sub.body), status: [values.status, sub.status] };
}

async function eventually(fn, ms = 30_000, what = 'condition') {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last.ok) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last).slice(0, 400)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// The reference: one node, SQLite, the same stream and the same subscription at the same place.
async function referenceRun(events) {
  const tally = await startTally({ config: `${baseToml()}\n[storage]\npath = "${path.join(tempDir(), 'ref.db')}"\n` });
  const feeder = await token(tally.url, 'feeder');
  const reader = await token(tally.url, 'reader');
  for (const [i, b] of batches(events, 10).entries()) {
    await ingestUntilAcknowledged(tally.url, feeder, b, `b${i}`);
    if (i === 1) assert.equal((await stats(tally.url, reader, 'POST', '/subscriptions', SUBSCRIPTION)).status, 200);
  }
  const values = await valuesOf(tally.url, reader);
  await tally.stop();
  return values;
}

describe('a 3-node cluster behind HAProxy', () => {
  let nats;
  let reference;
  const events = makeStream(30);
  before(async () => {
    nats = await startNats(3);
    reference = await referenceRun(events);
  });
  after(async () => { await nats?.stop(); });

  async function startCluster(stream, n = 3, extra = {}) {
    const ports = [];
    for (let i = 0; i < n; i++) ports.push(await freePort());
    const config = (name) => baseToml() + clusterToml({ urls: nats.urls, node: name, stream, ...extra });
    // A port found free can be taken (as a source port) before the node binds it: such a node
    // starts again on another one.
    const nodes = await Promise.all(ports.map(async (_, i) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await startNode({ name: `t${i + 1}`, config, port: ports[i] });
        } catch (e) {
          if (attempt >= 3 || !/Address already in use/.test(e.message)) throw e;
          ports[i] = await freePort();
        }
      }
    }));
    return { nodes, ports, config };
  }

  for (const seed of [7, 19]) {
    test(`seed ${seed}: a node killed while a stream is ingested through HAProxy; survivors equal a single-node run`, async () => {
      let x = seed;
      const rand = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
      const { nodes, ports } = await startCluster(`S${seed}`, 3, { snapshotEvery: 40 });
      const lb = await startHaproxy(ports);
      try {
        const feeder = await token(lb.url, 'feeder');
        const reader = await token(lb.url, 'reader');
        const all = batches(events, 10);
        const killAt = 2 + Math.floor(rand() * (all.length - 4));
        const victim = nodes[Math.floor(rand() * nodes.length)];
        for (const [i, b] of all.entries()) {
          if (i === killAt) await victim.kill9();
          await ingestUntilAcknowledged(lb.url, feeder, b, `b${i}`);
          if (i === 1) {
            const created = await stats(lb.url, reader, 'POST', '/subscriptions', SUBSCRIPTION);
            assert.equal(created.status, 200, JSON.stringify(created.body));
          }
        }
        for (const node of nodes.filter((n) => n !== victim)) {
          await eventually(async () => {
            const v = await valuesOf(node.url, reader);
            return { ok: v.values === reference.values && v.sub === reference.sub, node: node.name, v };
          }, 30_000, `node ${node.name} to equal the reference (killed ${victim.name} at batch ${killAt})`);
          const m = await metricsText(node.url);
          assert.equal(metricValue(m, 'tally_engine_apply_failures_total'), 0, node.name);
        }
        // Caught up, the survivors have applied the stream to the same sequence.
        const survivors = nodes.filter((n) => n !== victim);
        await eventually(async () => {
          const seqs = [];
          for (const n of survivors) seqs.push(metricValue(await metricsText(n.url), 'tally_stream_applied_seq'));
          return { ok: seqs[0] > 0 && seqs.every((q) => q === seqs[0]), seqs };
        }, 10_000, 'the survivors to have applied the same stream sequence');
      } finally {
        await lb.stop();
        await Promise.all(nodes.map((n) => n.kill9()));
      }
    });
  }

  test('one NATS node down: ingest goes on; two down: 503 naming the cause, nothing lost; back: it resumes', async () => {
    const { nodes, ports } = await startCluster('NATSFAIL', 2);
    const lb = await startHaproxy(ports);
    try {
      const feeder = await token(lb.url, 'feeder');
      const reader = await token(lb.url, 'reader');
      const all = batches(events, 10);
      await ingestUntilAcknowledged(lb.url, feeder, all[0], 'b0');
      await nats.nodes[2].kill();
      // Quorum (2 of 3) holds: acknowledged as before (once the nodes whose NATS server died
      // have reconnected and their consumers resumed: a few seconds, more on a loaded machine).
      await ingestUntilAcknowledged(lb.url, feeder, all[1], 'b1', 60_000);
      await nats.nodes[1].kill();
      const refused = await ingest(lb.url, feeder, all[2], { key: 'b2' });
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      // Tally answers (the journal cannot store it), or HAProxy when no node is ready meanwhile.
      assert.match(refused.body.status.message, /journal cannot store events|short of its quorum|no Tally node is ready/);
      await nats.nodes[1].start();
      await ingestUntilAcknowledged(lb.url, feeder, all[2], 'b2', 60_000);
      await nats.nodes[2].start();
      for (const [i, b] of all.entries()) if (i > 2) await ingestUntilAcknowledged(lb.url, feeder, b, `b${i}`);
      // Everything acknowledged is there, once: the totals equal a run of the same stream (no
      // subscription here, so only the catalog values are compared).
      for (const node of nodes) {
        await eventually(async () => {
          const v = await valuesOf(node.url, reader);
          return { ok: v.values === reference.values };
        }, 30_000, `node ${node.name} after the NATS outage`);
      }
    } finally {
      await lb.stop();
      await Promise.all(nodes.map((n) => n.kill9()));
      for (const n of nats.nodes) if (n.proc.exitCode !== null || n.proc.signalCode !== null) await n.start();
    }
  });

  test('a fourth node started empty catches up from a snapshot plus the tail and serves identical values', async () => {
    const { nodes, config } = await startCluster('CATCHUP', 3, { snapshotEvery: 30 });
    try {
      const feeder = await token(nodes[0].url, 'feeder');
      const reader = await token(nodes[0].url, 'reader');
      for (const [i, b] of batches(events, 10).entries()) {
        await ingestUntilAcknowledged(nodes[i % 3].url, feeder, b, `b${i}`);
        if (i === 1) assert.equal((await stats(nodes[0].url, reader, 'POST', '/subscriptions', SUBSCRIPTION)).status, 200);
      }
      const fourth = await startNode({ name: 't4', config });
      try {
        assert.match(fourth.output(), /recovery: loaded the snapshot /);
        assert.match(fourth.output(), /recovery: caught up with the stream/);
        const v = await valuesOf(fourth.url, reader);
        assert.equal(v.values, reference.values);
        assert.equal(v.sub, reference.sub);
      } finally {
        await fourth.kill9();
      }
    } finally {
      await Promise.all(nodes.map((n) => n.kill9()));
    }
  });

  test('two nodes ingesting one tenant and DN range at once: the stream order decides, the same on every replica', async () => {
    const { nodes } = await startCluster('CONCURRENT', 2);
    try {
      const feeder = await token(nodes[0].url, 'feeder');
      const reader = await token(nodes[0].url, 'reader');
      const t0 = 1_900_000_000_000;
      await ingestUntilAcknowledged(nodes[0].url, feeder, [1, 2, 3, 4].map((a) => (
        { type: 'EventAgentLogin', agentId: `a${a}`, thisDN: `700${a}`, placeId: `p${a}`, time: t0 })), 'login');
      // Two writers, one per node, on the same four DNs, their events interleaved in time: a
      // batch that loses the race to a later event of its DN is refused (400) — before it is
      // stored, or, when both appends got into the stream at once, as it comes back — the others
      // are acknowledged, and every acknowledged one applies on every node.
      const writer = async (node, k) => {
        const answers = [];
        for (let i = 0; i < 40; i++) {
          const dn = `700${1 + (i % 4)}`;
          const type = (i >> 2) % 2 === 0 ? 'EventAgentNotReady' : 'EventAgentReady';
          const r = await ingest(node.url, feeder, [{ type, thisDN: dn, time: t0 + 10 + 2 * i + k }], { key: `w${k}-${i}` });
          answers.push(r);
        }
        return answers;
      };
      const [w0, w1] = await Promise.all([writer(nodes[0], 0), writer(nodes[1], 1)]);
      let acknowledged = 0;
      for (const a of [...w0, ...w1]) {
        assert.ok([200, 400].includes(a.status), JSON.stringify(a.body));
        if (a.status === 200) acknowledged++;
        if (a.status === 400) assert.match(a.body.status.message, /goes back in time/);
      }
      assert.ok(acknowledged >= 40, `${acknowledged} of 80 acknowledged`);
      const first = await valuesOf(nodes[0].url, reader);
      const skipped = [];
      for (const node of nodes) {
        await eventually(async () => ({ ok: (await valuesOf(node.url, reader)).values === first.values }), 20_000, 'replicas equal');
        const m = await metricsText(node.url);
        assert.equal(metricValue(m, 'tally_engine_apply_failures_total'), 0,
          `${node.name}: an acknowledged event was refused at apply:\n${node.output().split('\n').filter((l) => /quarantin|refus|fail/i.test(l)).join('\n')}`);
        skipped.push(metricValue(m, 'tally_journal_skipped_records_total'));
      }
      // A record another node's newer event overtook in the stream is skipped whole by every
      // replica, and its client was told so (400) — one answer per skipped record.
      const overtaken = [...w0, ...w1].filter((a) => a.status === 400 && /stored it first/.test(a.body.status.message)).length;
      assert.deepEqual(skipped, [overtaken, overtaken]);
    } finally {
      await Promise.all(nodes.map((n) => n.kill9()));
    }
  });

  test('a live reload on one node reaches every replica at the same stream point', async () => {
    const { nodes } = await startCluster('RELOAD', 3);
    try {
      const feeder = await token(nodes[0].url, 'feeder');
      const reader = await token(nodes[0].url, 'reader');
      const a9 = '/statistic-values/CurrentAgentState?objectId=a9&objectType=Agent';
      for (const n of nodes) assert.equal((await stats(n.url, reader, 'GET', a9)).status, 404, n.name);
      await ingestUntilAcknowledged(nodes[1].url, feeder, batches(events, 10)[0], 'before');
      // Only t1's file changes: the record goes through the stream, every node applies it.
      const file = nodes[0].configFile;
      const text = readFileSync(file, 'utf8');
      assert.match(text, /agents = \["a1", "a2", "a3", "a4"\]/);
      writeFileSync(file, text.replace('agents = ["a1", "a2", "a3", "a4"]', 'agents = ["a1", "a2", "a3", "a4", "a9"]'));
      const mark = nodes[0].output().length;
      nodes[0].proc.kill('SIGHUP');
      await eventually(async () => ({ ok: /reload done: /.test(nodes[0].output().slice(mark)) }), 20_000, 'the reload on t1');
      for (const n of nodes) {
        await eventually(async () => {
          const r = await stats(n.url, reader, 'GET', a9);
          return { ok: r.status === 200 && r.body.data.statistic.value.stringValue === 'LoggedOut', node: n.name, status: r.status };
        }, 20_000, `a9 on ${n.name}`);
      }
      await ingestUntilAcknowledged(nodes[2].url, feeder, batches(events, 10)[1], 'after');
      await eventually(async () => {
        const seqs = [];
        for (const n of nodes) seqs.push(metricValue(await metricsText(n.url), 'tally_stream_applied_seq'));
        return { ok: seqs[0] > 0 && seqs.every((q) => q === seqs[0]), seqs };
      }, 10_000, 'every node at the same stream sequence');
      for (const n of nodes) assert.equal(metricValue(await metricsText(n.url), 'tally_engine_apply_failures_total'), 0, n.name);
    } finally {
      await Promise.all(nodes.map((n) => n.kill9()));
    }
  });

  test('two groups: each carries its tenants, refuses the others (421), HAProxy routes by the token tenant', async () => {
    const groupA = [await freePort(), await freePort()];
    const groupB = [await freePort()];
    const cfg = (tenants) => (name) => baseToml() + clusterToml({ urls: nats.urls, node: name, stream: 'GROUPS', tenants });
    const a = await Promise.all(groupA.map((port, i) => startNode({ name: `a${i + 1}`, config: cfg(['acme']), port })));
    const b = await Promise.all(groupB.map((port, i) => startNode({ name: `b${i + 1}`, config: cfg(['globex']), port })));
    const lb = await startHaproxyByTenant({ acme: groupA, globex: groupB });
    try {
      const feeder = await token(a[0].url, 'feeder');
      const gfeeder = await token(a[0].url, 'gfeeder');
      const greader = await token(a[0].url, 'greader');
      const wrong = await ingest(a[0].url, gfeeder, [{ type: 'EventAgentLogin', agentId: 'g1', thisDN: '7101', placeId: 'gp1' }]);
      assert.equal(wrong.status, 421, JSON.stringify(wrong.body));
      assert.match(wrong.body.status.message, /not carried by this node/);
      const peek = await stats(a[0].url, greader, 'GET', '/statistic-values/Total_Entered?objectId=9001&objectType=Queue');
      assert.equal(peek.status, 421);
      // Through HAProxy each tenant reaches its group.
      await ingestUntilAcknowledged(lb.url, feeder, batches(events, 10)[0], 'x');
      await ingestUntilAcknowledged(lb.url, gfeeder, [{ type: 'EventQueued', thisDN: '9001', connId: 'g', time: 1 }], 'y');
      const entered = await stats(lb.url, greader, 'GET', '/statistic-values/Total_Entered?objectId=9001&objectType=Queue');
      assert.equal(entered.status, 200, JSON.stringify(entered.body));
      assert.equal(entered.body.data.statistic.value.intValue, 1);
      // Group A's nodes never loaded globex.
      assert.doesNotMatch(a[0].output(), /in 2 tenants/);
    } finally {
      await lb.stop();
      await Promise.all([...a, ...b].map((n) => n.kill9()));
    }
  });
});

// HAProxy routing on the tenant claim of the bearer token: deploy/haproxy/tally-groups.cfg.
function startHaproxyByTenant(groups) {
  const backends = {};
  const route = {};
  for (const [tenant, ports] of Object.entries(groups)) {
    backends[`group_${tenant}`] = ports.map((p, i) => [`${tenant}${i + 1}`, p]);
    route[tenant] = `group_${tenant}`;
  }
  return startHaproxy([], { config: (port) => shippedHaproxy('tally-groups.cfg', port, backends, route) });
}

describe('a node cut off from NATS', () => {
  test('/readyz says 503 naming NATS while the connection is down, 200 once it is back; ingest resumes', async () => {
    const nats = await startNats(1);
    const config = (name) => baseToml() + clusterToml({ urls: nats.urls, node: name, replicas: 1, stream: 'CUTOFF' });
    const node = await startNode({ name: 't1', config });
    try {
      const ready = async () => {
        const r = await fetch(`${node.url}/readyz`);
        return { status: r.status, text: await r.text() };
      };
      assert.equal((await ready()).status, 200);
      const feeder = await token(node.url, 'feeder');
      await ingestUntilAcknowledged(node.url, feeder, batches(events30(), 10)[0], 'b0');
      await nats.nodes[0].kill();
      const down = await eventually(async () => {
        const r = await ready();
        return { ok: r.status === 503, ...r };
      }, 15_000, '/readyz to say 503');
      assert.match(down.text, /not ready: the connection to NATS is down/);
      assert.equal((await fetch(`${node.url}/healthz`)).status, 200, 'alive all the same');
      await nats.nodes[0].start();
      await eventually(async () => {
        const r = await ready();
        return { ok: r.status === 200, ...r };
      }, 30_000, '/readyz to say 200 again');
      await ingestUntilAcknowledged(node.url, feeder, batches(events30(), 10)[1], 'b1', 30_000);
    } finally {
      await node.kill9();
      await nats.stop();
    }
  });
});

function events30() { return makeStream(30); }
