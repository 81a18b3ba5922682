// Slow and vanished CometD clients (issue 14 item 3, docs/notifications.md "Slow and vanished
// clients"): a WebSocket client that stops reading while its 100 statistics keep changing is cut
// off once more than `websocket_max_buffered_bytes` waits for it (counted), another client is
// served all along, and the cut-off client, back on a new socket with its clientId, first gets
// the newest value of every statistic it follows. A long-polling client that never comes back
// keeps at most `max_queue` messages (coalesced to the newest value per statistic) while another
// is served, and is removed `interval + max_interval_ms` after its last connect.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startTally, metricsText, metricValue } from './lib/tally.mjs';
import { stats } from './lib/api.mjs';
import { notifyConfig, userToken, feederToken, feed, waitFor } from './lib/notify.mjs';
import { Wire } from './lib/wire.mjs';

const require = createRequire(import.meta.url);
const { WebSocket } = require('ws');

const AGENTS = 100;
const agent = (i) => `slow${i}`;
const dn = (i) => String(76001 + i);

// Tokens for a reader and the feeder; the AGENTS agents logged in.
async function loginAgents(url) {
  const token = await userToken(url);
  const feeder = await feederToken(url);
  const logins = [];
  for (let i = 0; i < AGENTS; i++) logins.push({ type: 'EventAgentLogin', agentId: agent(i), thisDN: dn(i), placeId: `ps${i}` });
  await feed(url, feeder, logins);
  return { token, feeder };
}

// A raw Bayeux client over one WebSocket: every frame it reads is kept.
async function openSocket(url, token) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/statistics/v3/notifications`);
  const messages = [];
  ws.on('message', (data) => messages.push(...JSON.parse(String(data))));
  ws.on('error', () => {});
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let id = 0;
  const send = (m) => ws.send(JSON.stringify([{ id: String(++id), ext: { authorization: `Bearer ${token}` }, ...m }]));
  const reply = (channel) => waitFor(() => messages.find((m) => m.channel === channel && m.successful !== undefined), 10_000, channel)
    .catch((e) => { throw new Error(`${e.message} (socket state ${ws.readyState}; got ${JSON.stringify(messages).slice(0, 300)})`); });
  return { ws, messages, send, reply };
}

describe('a WebSocket client that stops reading', () => {
  let tally;
  before(async () => {
    // Sessions live 30 s after their socket closed: the cut-off one waits for its client.
    tally = await startTally({ config: `${notifyConfig({ maxIntervalMs: 30_000 })}\n[server]\nwebsocket_max_buffered_bytes = 1048576\n` });
  });
  after(async () => { await tally.stop(); });

  test('is cut off past the bound, others are served, and back it gets every newest value', async () => {
    const { token, feeder } = await loginAgents(tally.url);

    // The slow client: handshake, connect, subscribe; a subscription of the 100 agents' states.
    const slow = await openSocket(tally.url, token);
    slow.send({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'] });
    const hs = await slow.reply('/meta/handshake');
    assert.equal(hs.successful, true, JSON.stringify(hs));
    const clientId = hs.clientId;
    slow.send({ channel: '/meta/connect', clientId, connectionType: 'websocket', advice: { timeout: 0 } });
    await slow.reply('/meta/connect');
    slow.send({ channel: '/meta/subscribe', clientId, subscription: '/statistics/v3/updates' });
    assert.equal((await slow.reply('/meta/subscribe')).successful, true);
    const created = await stats(tally.url, token, 'POST', '/subscriptions', { operationId: 'slow-states', data: {
      statistics: Array.from({ length: AGENTS }, (_, i) => ({ statisticId: `s${i}`, objectType: 'Agent', objectId: agent(i), name: 'CurrentAgentState' })) } });
    assert.equal(created.status, 200, JSON.stringify(created.body));

    // The other client reads all along (a second session of the same user).
    const other = await openSocket(tally.url, token);
    other.send({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'] });
    const ohs = await other.reply('/meta/handshake');
    other.send({ channel: '/meta/connect', clientId: ohs.clientId, connectionType: 'websocket', advice: { timeout: 0 } });
    await other.reply('/meta/connect');
    other.send({ channel: '/meta/subscribe', clientId: ohs.clientId, subscription: '/statistics/v3/updates' });
    await other.reply('/meta/subscribe');
    let otherClosed = false;
    other.ws.on('close', () => { otherClosed = true; });

    // The slow client stops reading; every agent changes state in every batch.
    slow.ws._socket.pause();
    let round = 0;
    const overflows = async () => metricValue(await metricsText(tally.url), 'tally_websocket_overflows_total') ?? 0;
    assert.equal(await overflows(), 0);
    while (round < 3000) {
      const type = round % 2 === 0 ? 'EventAgentReady' : 'EventAgentNotReady';
      await feed(tally.url, feeder, Array.from({ length: AGENTS }, (_, i) => ({ type, thisDN: dn(i) })));
      round++;
      // Stopped at the cut-off: later rounds would reach the session's queue (coalesced) and
      // hide a missing refresh. The refresh itself is pinned by bayeux_test
      // AWebSocketCutOffWithPushesLostRefreshesItsSessionAtTheNextConnect.
      if ((await overflows()) >= 1) break;
    }
    assert.equal(await overflows(), 1, `no cut-off after ${round} rounds of ${AGENTS} changes`);
    const last = (round - 1) % 2 === 0 ? 'WaitForNextCall' : 'NotReadyForNextCall';
    const lastOf = (messages, i) => messages
      .filter((m) => m.channel === '/statistics/v3/updates')
      .flatMap((m) => m.data.data.statistics)
      .filter((s) => s.statisticId === `s${i}`).at(-1)?.value.stringValue;

    assert.equal(otherClosed, false, 'the client that reads was cut off');
    // The other session got every agent's newest state.
    await waitFor(() => Array.from({ length: AGENTS }, (_, i) => lastOf(other.messages, i)).every((v) => v === last),
      15_000, 'the other client to have the newest states');

    // Back on a new socket with its clientId: first the newest value of each of its statistics.
    slow.ws._socket.resume();
    slow.ws.terminate();
    const back = await openSocket(tally.url, token);
    back.send({ channel: '/meta/connect', clientId, connectionType: 'websocket', advice: { timeout: 0 } });
    const connected = await back.reply('/meta/connect');
    assert.equal(connected.successful, true, JSON.stringify(connected));
    back.send({ channel: '/meta/connect', clientId, connectionType: 'websocket' });
    await waitFor(() => Array.from({ length: AGENTS }, (_, i) => lastOf(back.messages, i)).every((v) => v === last),
      15_000, 'the refresh of every value');
    for (const c of [other, back]) c.ws.close();
  });
});

describe('a long-polling client that never comes back', () => {
  const MAX_QUEUE = 20;
  const MAX_INTERVAL_MS = 10_000;
  let tally;
  before(async () => {
    tally = await startTally({ config: notifyConfig({ maxIntervalMs: MAX_INTERVAL_MS, maxQueue: MAX_QUEUE }) });
  });
  after(async () => { await tally.stop(); });

  test('keeps at most max_queue messages, others are served, and it is removed by the rule', async () => {
    const { token, feeder } = await loginAgents(tally.url);
    const metric = async (name) => metricValue(await metricsText(tally.url), name) ?? 0;

    // The client that goes away: handshake, its first connect, the channel; then silence.
    const gone = new Wire(tally.url, token);
    assert.equal((await gone.handshake()).body[0].successful, true);
    const lastConnect = Date.now();
    assert.equal((await gone.connect({ advice: { timeout: 0 } })).body[0].successful, true);
    assert.equal((await gone.subscribe('/statistics/v3/updates')).body[0].successful, true);

    // The client that stays (another session of the same user) polls all along.
    const reader = new Wire(tally.url, token);
    await reader.handshake();
    await reader.connect({ advice: { timeout: 0 } });
    await reader.subscribe('/statistics/v3/updates');
    const received = [];
    let polling = true;
    let pollError = null;
    const poll = (async () => {
      while (polling) {
        const r = await reader.connect();
        if (r.status !== 200 || !Array.isArray(r.body) || r.body.at(-1)?.successful !== true) {
          pollError = `reader connect: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`;
          return;
        }
        received.push(...r.body.filter((m) => m.channel === '/statistics/v3/updates'));
      }
    })().catch((e) => { pollError = String(e); });

    // A principal subscription: both sessions get every change of the 100 agents' states.
    const created = await stats(tally.url, token, 'POST', '/subscriptions', { operationId: 'gone-states', data: {
      statistics: Array.from({ length: AGENTS }, (_, i) => ({ statisticId: `s${i}`, objectType: 'Agent', objectId: agent(i), name: 'CurrentAgentState' })) } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const ROUNDS = 3 * MAX_QUEUE;
    for (let round = 0; round < ROUNDS; round++) {
      const type = round % 2 === 0 ? 'EventAgentReady' : 'EventAgentNotReady';
      await feed(tally.url, feeder, Array.from({ length: AGENTS }, (_, i) => ({ type, thisDN: dn(i) })));
    }
    const last = (ROUNDS - 1) % 2 === 0 ? 'WaitForNextCall' : 'NotReadyForNextCall';
    const newest = (i) => received.flatMap((m) => m.data.data.statistics).filter((st) => st.statisticId === `s${i}`).at(-1)?.value.stringValue;
    await waitFor(() => pollError || Array.from({ length: AGENTS }, (_, i) => newest(i)).every((v) => v === last),
      15_000, 'the reader to have every newest state');
    assert.equal(pollError, null);

    // What waits now is the vanished session's: at most max_queue messages (its full queue was
    // merged to the newest value per statistic): well under what it was sent.
    assert.ok(Date.now() - lastConnect < MAX_INTERVAL_MS, 'the rounds took longer than the session may live');
    assert.ok(await metric('tally_cometd_updates_coalesced_total') > 0, 'nothing was coalesced');
    const queued = await metric('tally_cometd_queued_messages');
    const bytes = await metric('tally_cometd_queued_bytes');
    const sent = received.reduce((n, m) => n + JSON.stringify(m).length, 0);
    assert.ok(queued >= 1 && queued <= MAX_QUEUE, `queued messages ${queued}`);
    // The gauge counts a keyed message's text and its parts (about twice its size on the wire):
    // the 60 rounds kept whole would be about twice what the reader got; merged, a third of that.
    assert.ok(bytes > 0 && bytes < sent, `queued bytes ${bytes}; the reader got ${sent}`);
    assert.equal(await metric('tally_cometd_sessions'), 2);

    // The rule: removed interval (0) + max_interval_ms after its last connect, not before.
    const expired = await metric('tally_cometd_sessions_expired_total');
    await waitFor(async () => (await metric('tally_cometd_sessions')) === 1, 10_000, 'the vanished session to be removed');
    const removedAfter = Date.now() - lastConnect;
    assert.ok(removedAfter >= MAX_INTERVAL_MS, `removed ${removedAfter} ms after its last connect`);
    // …and not much later: the sweeper runs every 200 ms (the subscribe after the connect may
    // have pushed the expiry a little).
    assert.ok(removedAfter < MAX_INTERVAL_MS + 3000, `removed only ${removedAfter} ms after its last connect`);
    assert.equal(await metric('tally_cometd_sessions_expired_total'), expired + 1);
    assert.equal(await metric('tally_cometd_queued_messages'), 0);
    const back = await gone.connect();
    assert.equal(back.body[0].successful, false);
    assert.match(back.body[0].error, /^402::/);
    assert.equal(back.body[0].advice?.reconnect, 'handshake');

    // The reader was served all along and still is.
    polling = false;
    await feed(tally.url, feeder, [{ type: 'EventAgentReady', thisDN: dn(0) }]);
    await poll;
    assert.equal(pollError, null);
  });
});
