// Regression tests for the defects of issue 18 (a black-box probe of the server), each named
// after the bug it pins (LevelDB's issues/ habit). Real server, real clients.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { startTally, metricsText, metricValue, tempDir, SOURCE_DIR } from './lib/tally.mjs';
import { stats, authToml, getToken, ingest } from './lib/api.mjs';
import { notifyConfig, userToken, feederToken, feed, waitFor, sleep } from './lib/notify.mjs';
import { callFor, descriptors } from './lib/issue18.mjs';

const require = createRequire(import.meta.url);
const Statistics = require('genesys-statistics-client-js');
const { WebSocket } = require('ws');


describe('issue 18 defect 0: no update lost right after a client connects', () => {
  let tally;
  let feeder;
  before(async () => {
    tally = await startTally({ config: notifyConfig() });
    feeder = await feederToken(tally.url);
  });
  after(async () => { await tally.stop(); });

  test('50 fresh official clients: each subscribes right after initialize() and gets the call', async () => {
    const token = await userToken(tally.url);
    let misses = 0;
    for (let i = 0; i < 50; i++) {
      const agent = `off${i}`;
      const dn = String(71000 + i);
      await feed(tally.url, feeder, [
        { type: 'EventAgentLogin', agentId: agent, thisDN: dn, placeId: `poff${i}` },
        { type: 'EventAgentReady', thisDN: dn },
      ]);
      const client = new Statistics('no-api-key', tally.url);
      const got = [];
      client.on('Updates', (d) => got.push(...d.data.statistics));
      await client.initialize(token);  // resolves at the handshake, before the subscribes
      await client.createSubscription(`run-${i}`, descriptors(agent));
      await feed(tally.url, feeder, callFor(dn, `c-off-${i}`));
      try {
        await waitFor(() => got.some((s) => s.statisticId === 'answered' && s.value.intValue === 1), 5_000, 'answered');
      } catch {
        misses++;
      }
      client.destroy();
    }
    assert.equal(misses, 0, `${misses} of 50 clients received no StatisticUpdate`);
  });
});

describe('issue 18 defect 4: CometD sessions are bound to their principal', () => {
  let tally;
  let feeder;
  before(async () => {
    tally = await startTally({ config: notifyConfig() });
    feeder = await feederToken(tally.url);
  });
  after(async () => { await tally.stop(); });

  test("a fresh WebSocket with a victim's clientId and no token gets 402 and none of the victim's updates", async () => {
    const token = await userToken(tally.url);
    const victim = new Statistics('no-api-key', tally.url);
    const victimGot = [];
    victim.on('Updates', (d) => victimGot.push(...d.data.statistics));
    await victim.initialize(token);
    await feed(tally.url, feeder, [{ type: 'EventAgentLogin', agentId: 'v1', thisDN: '79001', placeId: 'pv1' }]);
    await victim.createSubscription('victim-sub', [{ statisticId: 'state', objectId: 'v1', objectType: 'Agent', name: 'CurrentAgentState' }]);
    const clientId = victim.notifications.cometd.getClientId();
    assert.match(clientId, /^[0-9a-f]{32}$/);

    const ws = new WebSocket(`${tally.url.replace('http', 'ws')}/statistics/v3/notifications`);
    const frames = [];
    ws.on('message', (data) => frames.push(...JSON.parse(String(data))));
    await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
    ws.send(JSON.stringify([{ id: '1', channel: '/meta/connect', clientId, connectionType: 'websocket', advice: { timeout: 0 } }]));
    await waitFor(() => frames.length > 0, 5_000, 'reply');
    assert.equal(frames[0].successful, false);
    assert.equal(frames[0].error, '402::session_unknown');
    await feed(tally.url, feeder, [{ type: 'EventAgentReady', thisDN: '79001' }]);
    await waitFor(() => victimGot.some((s) => s.value.stringValue === 'WaitForNextCall'), 5_000, 'victim update');
    await sleep(200);
    assert.ok(!frames.some((f) => f.channel === '/statistics/v3/updates'), JSON.stringify(frames));
    ws.close();
    victim.destroy();
  });

  test('long-polling with the clientId and its cookies but no token, or a forged one, is refused', async () => {
    const token = await userToken(tally.url);
    const post = async (body, headers) => {
      const r = await fetch(`${tally.url}/statistics/v3/notifications`, {
        method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
      });
      return { cookies: r.headers.getSetCookie(), body: await r.json() };
    };
    const hs = await post([{ id: '1', channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }],
      { authorization: `Bearer ${token}` });
    const clientId = hs.body[0].clientId;
    const cookie = hs.cookies.map((c) => c.split(';')[0]).join('; ');
    for (const headers of [{ cookie }, { cookie, authorization: 'Bearer forged.token.here' }]) {
      const r = await post([{ id: '2', channel: '/meta/connect', clientId, connectionType: 'long-polling' }], headers);
      assert.equal(r.body[0].error, '402::session_unknown', JSON.stringify(r.body));
    }
    const ok = await post([{ id: '3', channel: '/meta/connect', clientId, connectionType: 'long-polling' }],
      { cookie, authorization: `Bearer ${token}` });
    assert.equal(ok.body[0].successful, true);
  });
});

describe('issue 18: REST and auth defects', () => {
  let tally;
  before(async () => { tally = await startTally({ config: notifyConfig() }); });
  after(async () => { await tally.stop(); });

  test('defect 6: an operationId with "/" can be read and deleted; DELETE always answers 200', async () => {
    const token = await userToken(tally.url);
    const created = await stats(tally.url, token, 'POST', '/subscriptions', {
      operationId: 'team/a', data: { statistics: [{ statisticId: 's', objectId: '8001', objectType: 'Queue', name: 'Total_Entered' }] },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = encodeURIComponent('team/a');
    const peek = await stats(tally.url, token, 'GET', `/subscriptions/${id}/statistic-values`);
    assert.equal(peek.status, 200, JSON.stringify(peek.body));
    assert.equal(peek.body.data.subscriptionId, 'team/a');
    assert.equal((await stats(tally.url, token, 'DELETE', `/subscriptions/${id}`)).status, 200);
    assert.equal((await stats(tally.url, token, 'GET', `/subscriptions/${id}/statistic-values`)).status, 404);
    assert.equal((await stats(tally.url, token, 'DELETE', '/subscriptions/never-was')).status, 200);
    const control = await stats(tally.url, token, 'POST', '/subscriptions', {
      operationId: 'bad\u0001id', data: { statistics: [{ statisticId: 's', objectId: '8001', objectType: 'Queue', name: 'Total_Entered' }] },
    });
    assert.equal(control.status, 400);
    assert.match(control.body.status.message, /operationId/);
  });

  test('weak spot 7: a huge objectId is refused naming the field, without echoing it', async () => {
    const token = await userToken(tally.url);
    const huge = 'x'.repeat(900_000);
    const r = await fetch(`${tally.url}/statistics/v3/operations/get-statistic-ex`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ data: { statistics: [{ name: 'Total_Entered', objectId: huge, objectType: 'Queue' }] } }),
    });
    const text = await r.text();
    assert.equal(r.status, 400);
    assert.ok(text.length < 4096, `reply of ${text.length} bytes`);
    assert.match(JSON.parse(text).status.message, /data\.statistics\[0\]\.objectId/);
  });

  test('weak spot 7: JSONP answers carry nosniff; CometD cookies carry SameSite', async () => {
    const token = await userToken(tally.url);
    const message = encodeURIComponent(JSON.stringify([{ id: '1', channel: '/meta/handshake', version: '1.0' }]));
    const r = await fetch(`${tally.url}/statistics/v3/notifications?jsonp=cb&message=${message}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.match(r.headers.get('content-type'), /javascript/);
    assert.ok(r.headers.getSetCookie().every((c) => /; SameSite=Lax/.test(c)), r.headers.getSetCookie().join());
  });

  test('weak spot 7: a token with a padded signature is refused', async () => {
    const token = await userToken(tally.url, 'sup', 'sup-pw');
    assert.equal((await stats(tally.url, token, 'GET', '/statistic-values/Total_Entered?objectId=8001&objectType=Queue')).status, 200);
    assert.equal((await stats(tally.url, `${token}=`, 'GET', '/statistic-values/Total_Entered?objectId=8001&objectType=Queue')).status, 401);
  });

  // Last: it leaves this address throttled for a minute.
  test('weak spot 7: repeated failed logins answer 429 with Retry-After, even for the right password', async () => {
    const attempt = (password) => fetch(`${tally.url}/auth/v3/oauth/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('board:board-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: 'other', password, scope: '*' }),
    });
    const statuses = [];
    for (let i = 0; i < 30; i++) statuses.push((await attempt('wrong')).status);
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(400));
    assert.ok(statuses.slice(10).every((s) => s === 429), statuses.join());
    const right = await attempt('other-pw');
    assert.equal(right.status, 429);
    assert.ok(Number(right.headers.get('retry-after')) > 0);
  });
});

describe('issue 18 weak spot 7: a long-poll whose client vanished', () => {
  test('is noticed when its connection closes, not at the end of the hold', async () => {
    const tally = await startTally({ config: notifyConfig({ timeoutMs: 60_000, maxIntervalMs: 60_000 }) });
    try {
      const token = await userToken(tally.url);
      const post = (body, cookie = '') => fetch(`${tally.url}/statistics/v3/notifications`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...(cookie ? { cookie } : {}) },
        body: JSON.stringify(body),
      });
      const hs = await post([{ id: '1', channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
      const cookie = hs.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
      const { clientId } = (await hs.json())[0];
      await (await post([{ id: '2', channel: '/meta/connect', clientId, connectionType: 'long-polling' }], cookie)).json();
      // The second connect is held for up to 60 s; the client drops its socket after 300 ms.
      const { default: net } = await import('node:net');
      const body = JSON.stringify([{ id: '3', channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
      const socket = net.connect(tally.port, '127.0.0.1');
      await new Promise((resolve) => socket.on('connect', resolve));
      socket.write(`POST /statistics/v3/notifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Authorization: Bearer ${token}\r\nCookie: ${cookie}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      const held = async () => metricValue(await metricsText(tally.url), 'tally_cometd_held_connects');
      await waitFor(async () => (await held()) === 1, 5_000, 'the connect is held');
      socket.destroy();
      await waitFor(async () => (await held()) === 0, 10_000, 'the hold dropped');
      const m = await metricsText(tally.url);
      assert.equal(metricValue(m, 'tally_cometd_held_abandoned_total'), 1);
      assert.equal(metricValue(m, 'tally_http_abandoned_requests_total'), 1);
      assert.equal(metricValue(m, 'tally_cometd_sessions'), 1, 'the session lives on until maxInterval');
    } finally {
      await tally.stop();
    }
  });
});

describe('issue 18 defect 2: idempotency keys belong to the client that sent them', () => {
  test("tenant A reusing tenant B's key stores A's events; a key reused with another body is 409", async () => {
    const tally = await startTally({ config: `
[statistics]
catalog = "${path.join(SOURCE_DIR, 'config/statistics.toml')}"
[engine]
clock = "event"
[storage]
path = "${path.join(tempDir(), 'j.db')}"
[auth]
secret = "issue18-defect2-signing-key-0123456789"
${authToml({ clients: [['fa', 'acme', ['events:write']], ['fb', 'globex', ['events:write']],
    ['ra', 'acme', ['statistics:read']], ['rb', 'globex', ['statistics:read']]] })}
[[tenant]]
name = "acme"
queues = ["8001"]
[[tenant]]
name = "globex"
queues = ["8001"]
` });
    try {
      const tok = async (c) => getToken(tally.url, { client: c, secret: `${c}-secret` });
      const [fa, fb, ra, rb] = [await tok('fa'), await tok('fb'), await tok('ra'), await tok('rb')];
      const abandoned = (time, conn) => [
        { type: 'EventQueued', thisDN: '8001', connId: conn, time },
        { type: 'EventAbandoned', thisDN: '8001', connId: conn, time: time + 5 },
      ];
      const b = await ingest(tally.url, fb, abandoned(1_800_000_000_000, 'b1'), { key: 'shared-key' });
      assert.equal(b.status, 200);
      const a = await ingest(tally.url, fa, abandoned(1_800_000_000_000, 'a1'), { key: 'shared-key' });
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.equal(a.body.duplicate, undefined, "A's batch is not B's duplicate");
      assert.notEqual(a.body.firstSeq, b.body.firstSeq);
      const count = async (t) => (await stats(tally.url, t, 'GET', '/statistic-values/Total_Abandoned?objectId=8001&objectType=Queue')).body.data.statistic.value.intValue;
      assert.equal(await count(ra), 1);
      assert.equal(await count(rb), 1);
      // The same key again from A with the same body: the stored answer; with another body: 409.
      const retry = await ingest(tally.url, fa, abandoned(1_800_000_000_000, 'a1'), { key: 'shared-key' });
      assert.equal(retry.body.duplicate, true);
      const other = await ingest(tally.url, fa, abandoned(1_800_000_000_100, 'a2'), { key: 'shared-key' });
      assert.equal(other.status, 409, JSON.stringify(other.body));
      assert.match(other.body.status.message, /Idempotency-Key/);
      assert.equal(await count(ra), 1, 'nothing of the conflicting batch was applied');
    } finally {
      await tally.stop();
    }
  });
});

describe('issue 18 defect 1: an event time near the largest 64-bit value', () => {
  test('is refused at ingest naming time, and the server keeps answering', async () => {
    const tally = await startTally({ config: notifyConfig() });
    try {
      const feeder = await feederToken(tally.url);
      for (const time of [9223372036854775807, 9223372036854000000, 253402300800000, -1]) {
        const r = await ingest(tally.url, feeder, `{"type":"EventTick","time":${time}}`);
        assert.equal(r.status, 400, `${time}: ${JSON.stringify(r.body)}`);
        assert.match(r.body.status.message, /field 'time'/);
      }
      // With the wall clock, an event far ahead of the server's clock is refused too.
      const ahead = await ingest(tally.url, feeder, [{ type: 'EventTick', time: Date.now() + 30 * 86_400_000 }]);
      assert.equal(ahead.status, 400);
      assert.match(ahead.body.status.message, /field 'time'.*ahead of the server clock/);
      const ok = await ingest(tally.url, feeder, [{ type: 'EventTick', time: Date.now() }]);
      assert.equal(ok.status, 200);
      const token = await userToken(tally.url);
      assert.equal((await stats(tally.url, token, 'GET', '/statistic-values/Total_Entered?objectId=8001&objectType=Queue')).status, 200);
      assert.equal((await fetch(`${tally.url}/healthz`)).status, 200);
    } finally {
      await tally.stop();
    }
  });
});
