// Statistic history (issue 16): POST /statistics/v3/operations/get-statistic-history replays the
// journal into an engine of the same code. Checked against real time: a client opens each
// statistic at every bucket start and reads it at the bucket's end while the events arrive; the
// history of the same definitions afterwards gives exactly those values — for numbers, times,
// averages, a current category (its value at the bucket's end) and a catalog statistic by name;
// as CSV too; and again after a restart; on a cluster, read from the JetStream stream by every
// node. Bad requests answer 400 naming the field.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startTally, tempDir, SOURCE_DIR } from './lib/tally.mjs';
import { authToml, getToken, ingest, stats } from './lib/api.mjs';
import { STREAM_TENANT } from './lib/stream.mjs';
import { startNats, clusterToml, startNode } from './lib/cluster.mjs';

const B0 = Date.UTC(2027, 0, 15, 9, 0, 0);
const BUCKET = 15 * 60_000;
const BUCKETS = 4;

function configToml(db) {
  return `
[statistics]
catalog = "${path.join(SOURCE_DIR, 'config/statistics.toml')}"
[engine]
clock = "event"
[storage]
path = "${db}"
[auth]
secret = "history-test-signing-key-0123456789abcdef"
${authToml({ users: [['sup', 'acme', ['statistics:read']]], clients: [['board', 'acme', ['statistics:read']], ['feeder', 'acme', ['events:write']]] })}
${STREAM_TENANT}
`;
}

// Four agents taking calls from queue 8001 through an hour: 20 s between events.
function dayEvents() {
  const events = [];
  let t = B0 - 60_000;
  const at = (e) => events.push({ ...e, time: (t += 20_000) });
  for (let a = 1; a <= 4; a++) {
    at({ type: 'EventAgentLogin', agentId: `a${a}`, thisDN: `700${a}`, placeId: `p${a}` });
    at({ type: 'EventAgentReady', agentId: `a${a}`, thisDN: `700${a}` });
  }
  for (let c = 1; t < B0 + BUCKETS * BUCKET - 200_000; c++) {
    const conn = `c${c}`;
    const dn = `700${1 + ((c * 7) % 4)}`;
    at({ type: 'EventQueued', thisDN: '8001', connId: conn, callType: 'Inbound' });
    if (c % 5 === 0) { at({ type: 'EventAbandoned', thisDN: '8001', connId: conn }); continue; }
    at({ type: 'EventDiverted', thisDN: '8001', connId: conn, otherDN: dn });
    at({ type: 'EventRinging', thisDN: dn, connId: conn, callType: 'Inbound', thisQueue: '8001' });
    at({ type: 'EventEstablished', thisDN: dn, connId: conn, callType: 'Inbound' });
    if (c % 3 === 0) { at({ type: 'EventHeld', thisDN: dn, connId: conn }); at({ type: 'EventRetrieved', thisDN: dn, connId: conn }); }
    at({ type: 'EventReleased', thisDN: dn, connId: conn, callType: 'Inbound' });
    at({ type: 'EventAgentNotReady', thisDN: dn, workMode: 'AfterCallWork' });
    at({ type: 'EventAgentReady', thisDN: dn });
  }
  return events;
}

// The statistics, each as history asks for it and as a live client opens it at a bucket start.
const ASKED = [
  { statisticId: 'answered', objectType: 'GroupAgents', objectId: 'sales',
    definition: { category: 'TotalNumber', subject: 'DNAction', mainMask: 'CallInbound' } },
  { statisticId: 'ready-time', objectType: 'Agent', objectId: 'a1',
    definition: { category: 'TotalTime', subject: 'AgentStatus', mainMask: 'WaitForNextCall' } },
  { statisticId: 'talk-avg', objectType: 'GroupAgents', objectId: 'sales',
    definition: { category: 'AverageTime', subject: 'DNAction', mainMask: 'CallInbound' } },
  { statisticId: 'wait-count', objectType: 'Queue', objectId: '8001',
    definition: { category: 'TotalNumber', subject: 'DNAction', mainMask: 'CallAbandoned' } },
  { statisticId: 'ready-now', objectType: 'GroupAgents', objectId: 'sales',
    definition: { category: 'CurrentNumber', subject: 'AgentStatus', mainMask: 'WaitForNextCall' } },
  { statisticId: 'inbound-by-name', objectType: 'Agent', objectId: 'a2', name: 'InboundCalls' },
];
// The catalog's fields of InboundCalls (config/statistics.toml), for the live client.
const INBOUND_CALLS = { category: 'TotalNumber', subject: 'DNAction', mainMask: 'CallInbound', intervalType: 'GrowingWindow' };

const historyBody = (extra = {}) => ({ data: {
  from: B0, to: B0 + BUCKETS * BUCKET, bucket: '15m',
  statistics: ASKED.map(({ statisticId, objectType, objectId, definition, name }) => (
    name ? { statisticId, objectType, objectId, name } : { statisticId, objectType, objectId, definition })),
  ...extra,
} });

// Ingests the hour through `url` while a client opens every statistic at each bucket start and
// reads it at the bucket's end: `live` gets statisticId → [value per bucket].
async function recordLive(url, sup, live) {
  const feeder = await getToken(url, { client: 'feeder', secret: 'feeder-secret' });
  const events = dayEvents();
  const send = async (batch) => {
    if (batch.length === 0) return;
    const r = await ingest(url, feeder, batch);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  await send(events.filter((e) => e.time < B0));
  for (let k = 0; k < BUCKETS; k++) {
    const start = B0 + k * BUCKET;
    const end = start + BUCKET;
    await send([{ type: 'EventTick', time: start }]);
    const created = await stats(url, sup, 'POST', '/subscriptions', { operationId: `live-${k}`, data: { statistics:
      ASKED.map(({ statisticId, objectType, objectId, definition, name }) => ({
        statisticId, objectType, objectId,
        // Stat Server's semantics: counting from the open, at the bucket's start
        definition: { ...(name ? INBOUND_CALLS : definition), accumulateFrom: 'open' } })) } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal(created.body.data.statistics.length, ASKED.length, JSON.stringify(created.body));
    await send(events.filter((e) => e.time >= start && e.time < end));
    await send([{ type: 'EventTick', time: end }]);
    const values = await stats(url, sup, 'GET', `/subscriptions/live-${k}/statistic-values`);
    assert.equal(values.status, 200, JSON.stringify(values.body));
    for (const s of values.body.data.statistics) {
      if (!live.has(s.statisticId)) live.set(s.statisticId, []);
      live.get(s.statisticId).push(s.value.stringValue);
    }
    assert.equal((await stats(url, sup, 'DELETE', `/subscriptions/live-${k}`)).status, 200);
  }
  // The day did something in every bucket (else equality would be cheap).
  assert.ok(live.get('answered').every((v) => Number(v) > 0), JSON.stringify([...live]));
}

// The buckets of a history answer against what the live client read.
function checkAgainst(body, live) {
  assert.equal(body.data.bucket, '15m');
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  for (const s of body.data.statistics) {
    assert.deepEqual(s.buckets.map((b) => b.start), [0, 1, 2, 3].map((k) => B0 + k * BUCKET), s.statisticId);
    assert.ok(s.buckets.every((b) => b.complete), s.statisticId);
    assert.deepEqual(s.buckets.map((b) => b.value.stringValue), live.get(s.statisticId), s.statisticId);
  }
  assert.equal(body.data.statistics.length, ASKED.length);
}

describe('statistic history', () => {
  let tally;
  let sup;
  const db = path.join(tempDir('tally-history-'), 'journal.db');
  const live = new Map();  // statisticId → [value per bucket]

  before(async () => {
    tally = await startTally({ config: configToml(db) });
    sup = await getToken(tally.url, { client: 'board', secret: 'board-secret', username: 'sup', password: 'sup-pw' });
    await recordLive(tally.url, sup, live);
  });
  after(async () => { await tally?.stop(); });

  const check = (body) => checkAgainst(body, live);

  test('every bucket equals what a client opening the statistic at its start read at its end', async () => {
    const r = await stats(tally.url, sup, 'POST', '/operations/get-statistic-history', historyBody());
    assert.equal(r.status, 200, JSON.stringify(r.body));
    check(r.body);
  });

  test('Accept: text/csv gives the same, one line per statistic and bucket', async () => {
    const res = await fetch(`${tally.url}/statistics/v3/operations/get-statistic-history`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sup}`, 'content-type': 'application/json', accept: 'text/csv' },
      body: JSON.stringify(historyBody()),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/csv/);
    const lines = (await res.text()).trim().split('\r\n');
    assert.equal(lines[0], 'statisticId,name,objectType,objectId,bucketStart,bucketEnd,complete,value,intervalLengthSeconds');
    assert.equal(lines.length, 1 + ASKED.length * BUCKETS);
    const answered = lines.filter((l) => l.startsWith('answered,')).map((l) => l.split(',')[7]);
    assert.deepEqual(answered, live.get('answered'));
    assert.equal(lines.find((l) => l.startsWith('answered,')).split(',')[4], new Date(B0).toISOString());
  });

  test('bad requests answer 400 naming the field; no token 401', async () => {
    const cases = [
      [historyBody({ bucket: '7m' }), /data\.bucket/],
      [historyBody({ to: B0 - 1 }), /data\.to/],
      [historyBody({ from: 'yesterday' }), /data\.from/],
      [historyBody({ to: B0 + 365 * 86_400_000 }), /data\.to: more than \d+ buckets/],
      [{ data: { ...historyBody().data, statistics: [{ objectType: 'Agent', objectId: 'a1' }] } }, /data\.statistics\[0\]: give either a catalog name or a definition/],
      [{ data: { ...historyBody().data, statistics: [{ objectType: 'Nope', objectId: 'a1', name: 'InboundCalls' }] } }, /data\.statistics\[0\]\.objectType/],
    ];
    for (const [body, message] of cases) {
      const r = await stats(tally.url, sup, 'POST', '/operations/get-statistic-history', body);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.status.message, message);
    }
    const unknown = await stats(tally.url, sup, 'POST', '/operations/get-statistic-history', { data: {
      ...historyBody().data, statistics: [{ statisticId: 'x', objectType: 'Agent', objectId: 'a1', name: 'NoSuchStatistic' },
        { statisticId: 'y', objectType: 'Agent', objectId: 'nobody', name: 'InboundCalls' }] } });
    assert.equal(unknown.status, 200, JSON.stringify(unknown.body));
    assert.deepEqual(unknown.body.errors.map((e) => e.statisticId), ['x', 'y']);
    assert.match(unknown.body.errors[0].status.message, /not in the catalog/);
    assert.match(unknown.body.errors[1].status.message, /Agent 'nobody' does not exist/);
    const anonymous = await fetch(`${tally.url}/statistics/v3/operations/get-statistic-history`, { method: 'POST', body: '{}' });
    assert.equal(anonymous.status, 401);
  });

  test('after a restart, the same history', async () => {
    await tally.stop();
    tally = await startTally({ configFile: tally.configFile });
    sup = await getToken(tally.url, { client: 'board', secret: 'board-secret', username: 'sup', password: 'sup-pw' });
    const r = await stats(tally.url, sup, 'POST', '/operations/get-statistic-history', historyBody());
    assert.equal(r.status, 200, JSON.stringify(r.body));
    check(r.body);
  });
});

// A cluster (JetStream journal): history reads the stream, on any node, with the same answer.
describe('statistic history on a 2-node cluster', () => {
  let nats;
  const nodes = [];
  let sup;
  const live = new Map();
  const clusterConfig = (node) => `${configToml('unused').replace(/\[storage\]\npath = "unused"\n/, '')}
${clusterToml({ urls: nats.urls, node, replicas: 1, stream: 'HISTORY' })}`;

  before(async () => {
    nats = await startNats(1);
    for (const name of ['h1', 'h2']) nodes.push(await startNode({ name, config: clusterConfig }));
    sup = await getToken(nodes[0].url, { client: 'board', secret: 'board-secret', username: 'sup', password: 'sup-pw' });
    await recordLive(nodes[0].url, sup, live);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await nats?.stop();
  });

  test('each node answers from the stream exactly what the live client read', async () => {
    for (const node of nodes) {
      const token = await getToken(node.url, { client: 'board', secret: 'board-secret', username: 'sup', password: 'sup-pw' });
      const r = await stats(node.url, token, 'POST', '/operations/get-statistic-history', historyBody());
      assert.equal(r.status, 200, `${node.name}: ${JSON.stringify(r.body)}`);
      checkAgainst(r.body, live);
    }
  });
});
