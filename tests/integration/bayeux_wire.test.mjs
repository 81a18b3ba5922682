// Bayeux on the wire (raw HTTP against the real server), Faye 1.4.3 on the benchmark channels,
// callback-polling, the ack extension's redelivery, and abandoned sessions being swept.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { startTally, metricsText, metricValue } from './lib/tally.mjs';
import { stats } from './lib/api.mjs';
import { notifyConfig, userToken, feederToken, feed, waitFor, sleep } from './lib/notify.mjs';
import { Wire, BASE } from './lib/wire.mjs';

const require = createRequire(import.meta.url);

describe('bayeux wire', () => {
  let tally;
  let token;
  let feeder;
  before(async () => {
    tally = await startTally({ config: notifyConfig({ bench: true, timeoutMs: 1500, maxIntervalMs: 1000, maxSessions: 10_000 }) });
    token = await userToken(tally.url);
    feeder = await feederToken(tally.url);
  });
  after(async () => { await tally.stop(); });

  test('handshake: arrays, id echo, 32-hex clientId, advice, cookies', async () => {
    const w = new Wire(tally.url, token);
    const r = await w.handshake();
    assert.equal(r.status, 200);
    assert.ok(Array.isArray(r.body));
    const m = r.body[0];
    assert.equal(m.id, '1');
    assert.equal(m.successful, true);
    assert.match(m.clientId, /^[0-9a-f]{32}$/);
    assert.ok(m.supportedConnectionTypes.includes('long-polling'));
    assert.ok(m.supportedConnectionTypes.includes('websocket'));
    assert.equal(m.advice.reconnect, 'retry');
    assert.ok(r.setCookie.some((c) => /^BAYEUX_BROWSER=[0-9a-z]{16}; Path=\/; HttpOnly; SameSite=Lax$/.test(c)), r.setCookie.join());
    assert.ok(r.setCookie.some((c) => c.startsWith(`STATISTICS_SESSIONID=${m.clientId};`)));
  });

  test('a handshake without a valid token is denied with reconnect none (HTTP 200)', async () => {
    for (const tok of [undefined, 'forged.token.here']) {
      const r = await new Wire(tally.url, tok).handshake();
      assert.equal(r.status, 200);
      assert.equal(r.body[0].successful, false);
      assert.equal(r.body[0].error, '403::handshake_denied');
      assert.equal(r.body[0].advice.reconnect, 'none');
    }
  });

  test('unknown clientId, missing cookie, or another user\'s token: 402 with handshake advice', async () => {
    const w = new Wire(tally.url, token);
    await w.handshake();
    const unknown = new Wire(tally.url, token);
    unknown.clientId = 'nope';
    unknown.cookies = w.cookies;
    const cases = [unknown];
    const noCookie = new Wire(tally.url, token);
    noCookie.clientId = w.clientId;
    cases.push(noCookie);
    const foreign = new Wire(tally.url, await userToken(tally.url, 'other', 'other-pw'));
    foreign.clientId = w.clientId;
    foreign.cookies = w.cookies;
    cases.push(foreign);
    for (const c of cases) {
      const r = await c.connect();
      assert.equal(r.status, 200);
      assert.equal(r.body[0].error, '402::session_unknown');
      assert.equal(r.body[0].advice.reconnect, 'handshake');
      assert.equal(r.body[0].id, String(c.nextId - 1));
    }
  });

  test('GET without jsonp and bodies that are not JSON are 400', async () => {
    assert.equal((await fetch(`${tally.url}${BASE}`)).status, 400);
    const w = new Wire(tally.url, token);
    assert.equal((await w.post(null, '', { raw: 'not json' })).status, 400);
    assert.equal((await w.post(null, '', { raw: '[]' })).status, 400);
    assert.equal((await w.post(null, '', { raw: '42' })).status, 400);
  });

  test('a connect is held until an event arrives; a newer connect ends the held one', async () => {
    const w = new Wire(tally.url, token);
    await w.handshake();
    await w.connect();  // the first connect answers at once
    await w.subscribe('/statistics/v3/updates');
    const sub = await stats(tally.url, token, 'POST', '/subscriptions', { operationId: 'held', data: { statistics: [{ statisticId: 'w', objectId: '8001', objectType: 'Queue', name: 'CurrentNumberWaitingCalls' }] } });
    assert.equal(sub.status, 200);
    let answered = false;
    const held = w.connect().then((r) => { answered = true; return r; });
    await sleep(300);
    assert.equal(answered, false, 'the connect is held');
    await feed(tally.url, feeder, [{ type: 'EventQueued', thisDN: '8001', connId: 'w1' }]);
    const r = await held;
    const update = r.body.find((m) => m.channel === '/statistics/v3/updates');
    assert.equal(update.data.data.statistics[0].value.intValue, 1);
    assert.equal(r.body.at(-1).channel, '/meta/connect');

    answered = false;
    const first = w.connect().then((x) => { answered = true; return x; });
    await sleep(200);
    assert.equal(answered, false);
    const second = w.connect();
    const ended = await first;  // ended by the newer connect
    assert.equal(ended.body.at(-1).successful, true);
    const timedOut = await second;  // held until timeout_ms (1.5 s), then answered
    assert.equal(timedOut.body.at(-1).successful, true);
  });

  test('refused channels: subscribing elsewhere, publishing to statistics channels, /meta/foo', async () => {
    const w = new Wire(tally.url, token);
    await w.handshake();
    let r = await w.subscribe('/secret/stuff');
    assert.equal(r.body[0].error, '403::subscribe_denied');
    r = await w.post([{ id: '9', channel: '/statistics/v3/service', data: { serviceState: 'AVAILABLE' }, clientId: w.clientId }]);
    assert.equal(r.body[0].error, '403::publish_denied');
    r = await w.post([{ id: '10', channel: '/meta/foo', clientId: w.clientId }]);
    assert.equal(r.body[0].error, '405::channel_invalid');
  });

  test('callback-polling (JSONP): a valid callback wraps the reply; a bad one is 400', async () => {
    const message = encodeURIComponent(JSON.stringify([{ id: '1', channel: '/meta/handshake', version: '1.0' }]));
    const res = await fetch(`${tally.url}${BASE}/handshake?jsonp=cb_1&message=${message}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /javascript/);
    const text = await res.text();
    assert.match(text, /^cb_1\(\[.*"successful":true.*\]\)$/);
    const bad = await fetch(`${tally.url}${BASE}?jsonp=alert(1)&message=${message}`);
    assert.equal(bad.status, 400);
  });

  test('ack extension: a batch the client did not acknowledge is delivered again', async () => {
    const w = new Wire(tally.url, token);
    const hs = await w.handshake({ ack: true });
    assert.deepEqual(hs.body[0].ext.ack, { enabled: true, batch: 0 });
    await w.connect({ ext: { ack: 0 } });
    await w.subscribe('/statistics/v3/service');
    await feed(tally.url, feeder, [{ type: 'EventLinkDisconnected' }]);
    const lost = await w.connect({ ext: { ack: 0 } });  // this response is "lost"
    const service = lost.body.find((m) => m.channel === '/statistics/v3/service');
    assert.ok(service, JSON.stringify(lost.body));
    assert.equal(service.data.data.serviceState, 'UNAVAILABLE');
    const batch = lost.body.at(-1).ext.ack;
    assert.ok(batch >= 1);
    const again = await w.connect({ ext: { ack: batch - 1 } });
    const redelivered = again.body.find((m) => m.channel === '/statistics/v3/service');
    assert.deepEqual(redelivered?.data, service.data);
    await feed(tally.url, feeder, [{ type: 'EventLinkConnected' }]);
    assert.ok(metricValue(await metricsText(tally.url), 'tally_cometd_messages_redelivered_total') >= 1);
  });

  test('1000 sessions opened and abandoned without disconnect: none left after maxInterval and a sweep', async () => {
    const m0 = await metricsText(tally.url);
    const before = metricValue(m0, 'tally_cometd_sessions_expired_total');
    const handshakes = metricValue(m0, 'tally_cometd_handshakes_total');
    const clients = [];
    for (let i = 0; i < 1000; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, async () => {
        const w = new Wire(tally.url, token);
        await w.handshake();
        await w.connect();
        return w;
      }));
      clients.push(...batch);
    }
    assert.equal(clients.filter((c) => c.clientId).length, 1000);
    assert.equal(metricValue(await metricsText(tally.url), 'tally_cometd_handshakes_total') - handshakes, 1000);
    await waitFor(async () => metricValue(await metricsText(tally.url), 'tally_cometd_sessions') === 0, 20_000, 'all sessions swept');
    const expired = metricValue(await metricsText(tally.url), 'tally_cometd_sessions_expired_total');
    assert.ok(expired - before >= 1000, `expired ${expired - before}`);
  });
});

describe('the load tool (bench/load.cc) in smoke mode', () => {
  test('chat against Tally: every published message reaches the members of its room', { skip: !process.env.TALLY_LOAD_BIN }, async () => {
    const tally = await startTally({ config: notifyConfig({ bench: true }) });
    const token = await userToken(tally.url);
    const r = spawnSync(process.env.TALLY_LOAD_BIN, ['chat', '--url', `${tally.url}${BASE}`, '--token', token, '--smoke'], { encoding: 'utf8', timeout: 60_000 });
    await tally.stop();
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const m = /(\d+) published in [\d.]+ s, (\d+) received: .* errors (\d+)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(Number(m[1]), 50);
    assert.ok(Number(m[2]) > 0);
    assert.equal(Number(m[3]), 0);
  });
});

describe('faye 1.4.3 on the benchmark channels', () => {
  test('publish and subscribe on /bench/** reach every subscriber', async () => {
    const tally = await startTally({ config: notifyConfig({ bench: true }) });
    const token = await userToken(tally.url);
    const faye = require('faye');
    const auth = { outgoing(message, callback) {
      message.ext = { ...(message.ext ?? {}), authorization: `Bearer ${token}` };
      callback(message);
    } };
    const a = new faye.Client(`${tally.url}${BASE}`);
    const b = new faye.Client(`${tally.url}${BASE}`);
    for (const c of [a, b]) {
      c.addExtension(auth);
      c.setHeader('Authorization', `Bearer ${token}`);
    }
    const got = [];
    await a.subscribe('/bench/room-1', (m) => got.push(['a', m]));
    await b.subscribe('/bench/*', (m) => got.push(['b', m]));
    await a.publish('/bench/room-1', { text: 'hello' });
    await waitFor(() => got.length >= 2, 10_000, 'two deliveries');
    assert.deepEqual(got.map(([who]) => who).sort(), ['a', 'b']);
    assert.deepEqual(got[0][1], { text: 'hello' });
    await assert.rejects(new Promise((resolve, reject) => a.publish('/statistics/v3/updates', { fake: 1 }).then(resolve, reject)));
    a.disconnect();
    b.disconnect();
    await sleep(200);
    await tally.stop();
  });
});
