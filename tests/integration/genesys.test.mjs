// The official genesys-statistics-client-js 9.0.2 (npm, unmodified) against the real server:
// REST calls, CometD long-polling notifications, service state, isolation between users, and a
// subscription that keeps delivering across a server restart.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { startTally, tempDir, metricsText, metricValue } from './lib/tally.mjs';
import { notifyConfig, userToken, feederToken, feed, waitFor, sleep } from './lib/notify.mjs';

const require = createRequire(import.meta.url);
const Statistics = require('genesys-statistics-client-js');

// Collects Updates per statistic id and ServiceChange events of one client.
function track(client) {
  const seen = { updates: [], service: [] };
  client.on('Updates', (d) => seen.updates.push(d));
  client.on('ServiceChange', (d) => seen.service.push(d));
  seen.latest = (statisticId) => {
    for (let i = seen.updates.length - 1; i >= 0; i--) {
      const s = seen.updates[i].data.statistics.findLast((x) => x.statisticId === statisticId);
      if (s) return s;
    }
    return undefined;
  };
  return seen;
}

describe('genesys-statistics-client-js', () => {
  let tally;
  let client;
  let seen;
  let feeder;
  before(async () => {
    tally = await startTally({ config: notifyConfig() });
    feeder = await feederToken(tally.url);
    client = new Statistics('no-api-key', tally.url);
    seen = track(client);
    await client.initialize(await userToken(tally.url));
  });
  after(async () => {
    client?.destroy();
    await sleep(200);
    await tally.stop();
  });

  test('getStatValue and getStatValues peek catalog statistics', async () => {
    await feed(tally.url, feeder, [{ type: 'EventAgentLogin', agentId: 'a1', thisDN: '7001', placeId: 'p1' }]);
    const one = await client.getStatValue('CurrentAgentState', 'a1', 'Agent');
    assert.equal(one.status.code, 0);
    assert.equal(one.data.statistic.value.stringValue, 'LoggedIn');
    const many = await client.getStatValues([
      { name: 'CurrentAgentState', objectId: 'a1', objectType: 'Agent' },
      { name: 'Total_Entered', objectId: '8001', objectType: 'Queue' },
    ]);
    assert.deepEqual(many.data.statistics.map((s) => s.name), ['CurrentAgentState', 'Total_Entered']);
  });

  test('createSubscription (catalog and ad-hoc, verbose on and off) and peekSubscriptionStats', async () => {
    const verbose = await client.createSubscription('sub-verbose', [
      { statisticId: 'state', objectId: 'a1', objectType: 'Agent', name: 'CurrentAgentState' },
      { statisticId: 'entered', objectId: '8001', objectType: 'Queue',
        definition: { category: 'TotalNumber', subject: 'DNAction', mainMask: 'CallEntered', intervalType: 'GrowingWindow' } },
    ], true);
    assert.equal(verbose.data.subscriptionId, 'sub-verbose');
    assert.equal(verbose.data.statistics[0].objectId, 'a1');
    const quiet = await client.createSubscription('sub-quiet', [
      { statisticId: 'waiting', objectId: '8001', objectType: 'Queue', name: 'CurrentNumberWaitingCalls' },
    ], false);
    assert.equal(quiet.data.statistics[0].objectId, undefined, 'verbose=OFF leaves out the object');
    const all = await client.peekSubscriptionStats('sub-verbose');
    assert.deepEqual(all.data.statistics.map((s) => s.statisticId).sort(), ['entered', 'state']);
    const some = await client.peekSubscriptionStats('sub-verbose', ['entered'], false);
    assert.deepEqual(some.data.statistics.map((s) => s.statisticId), ['entered']);
  });

  test('ingested events arrive as Updates with the right values', async () => {
    await feed(tally.url, feeder, [
      { type: 'EventAgentReady', thisDN: '7001' },
      { type: 'EventQueued', thisDN: '8001', connId: 'g1', callType: 'Inbound' },
    ]);
    await waitFor(() => seen.latest('state')?.value.stringValue === 'WaitForNextCall', 10_000, 'state update');
    await waitFor(() => seen.latest('entered')?.value.intValue === 1, 10_000, 'ad-hoc update');
    await waitFor(() => seen.latest('waiting')?.value.intValue === 1, 10_000, 'waiting update');
    const u = seen.updates.at(-1);
    assert.equal(u.name, 'StatisticUpdate');
    assert.equal(u.topic, '/statistics/v3/updates');
    const entry = seen.latest('state');
    assert.equal(entry.subscriptionId, 'sub-verbose');
    assert.equal(entry.objectType, 'Agent');
  });

  test("another user's client receives none of these updates", async () => {
    const other = new Statistics('no-api-key', tally.url);
    const otherSeen = track(other);
    await other.initialize(await userToken(tally.url, 'other', 'other-pw'));
    await other.createSubscription('other-sub', [{ statisticId: 'q', objectId: '8001', objectType: 'Queue', name: 'Total_Abandoned' }]);
    const before = seen.updates.length;
    await feed(tally.url, feeder, [{ type: 'EventAgentNotReady', thisDN: '7001' }]);
    await waitFor(() => seen.latest('state')?.value.stringValue === 'NotReadyForNextCall', 10_000, 'own update');
    await sleep(300);
    assert.ok(seen.updates.length > before);
    assert.equal(otherSeen.updates.length, 0, 'no foreign update reached the other session');
    // And the other user's subscription is invisible to this one (404).
    await assert.rejects(client.peekSubscriptionStats('other-sub'), (e) => e.status === 404);
    other.destroy();
  });

  test('link down: ServiceChange UNAVAILABLE, REST 503, subscriptions dropped; link up: AVAILABLE', async () => {
    await feed(tally.url, feeder, [{ type: 'EventLinkDisconnected' }]);
    await waitFor(() => seen.service.some((s) => s.data?.serviceState === 'UNAVAILABLE'), 10_000, 'UNAVAILABLE');
    const svc = seen.service.find((s) => s.data?.serviceState === 'UNAVAILABLE');
    assert.equal(svc.name, 'ServiceStateChange');
    await assert.rejects(client.getStatValue('CurrentAgentState', 'a1', 'Agent'), (e) => e.status === 503);
    await feed(tally.url, feeder, [{ type: 'EventLinkConnected' }]);
    await waitFor(() => seen.service.some((s) => s.data?.serviceState === 'AVAILABLE'), 10_000, 'AVAILABLE');
    const ok = await client.getStatValue('CurrentAgentState', 'a1', 'Agent');
    assert.equal(ok.status.code, 0);
    // The subscriptions were dropped with the link: peeking one is a 404 now.
    await assert.rejects(client.peekSubscriptionStats('sub-verbose'), (e) => e.status === 404);
  });

  test('deleteSubscription answers 200, even twice', async () => {
    await client.createSubscription('to-delete', [{ statisticId: 'x', objectId: 'a1', objectType: 'Agent', name: 'CurrentAgentState' }]);
    const first = await client.deleteSubscription('to-delete');
    assert.equal(first.status.code, 0);
    const second = await client.deleteSubscription('to-delete');
    assert.equal(second.status.code, 0);
    await assert.rejects(client.peekSubscriptionStats('to-delete'), (e) => e.status === 404);
  });

  test('destroy() disconnects: the session is gone', async () => {
    const c = new Statistics('no-api-key', tally.url);
    await c.initialize(await userToken(tally.url));
    const before = metricValue(await metricsText(tally.url), 'tally_cometd_sessions');
    c.destroy();
    await waitFor(async () => metricValue(await metricsText(tally.url), 'tally_cometd_sessions') === before - 1, 10_000, 'session removed');
  });
});

describe('a client across a server restart', () => {
  test('keeps its clientId and subscription and receives updates again without re-subscribing', async () => {
    const db = path.join(tempDir(), 'journal.db');
    let tally = await startTally({ config: notifyConfig({ db }), listen: '127.0.0.1:0' });
    const port = tally.port;
    const client = new Statistics('no-api-key', tally.url);
    const seen = track(client);
    await client.initialize(await userToken(tally.url));
    let feeder = await feederToken(tally.url);
    await feed(tally.url, feeder, [{ type: 'EventAgentLogin', agentId: 'a2', thisDN: '7002', placeId: 'p2' }]);
    await client.createSubscription('survivor', [{ statisticId: 'state', objectId: 'a2', objectType: 'Agent', name: 'CurrentAgentState' }]);
    await feed(tally.url, feeder, [{ type: 'EventAgentReady', thisDN: '7002' }]);
    await waitFor(() => seen.latest('state')?.value.stringValue === 'WaitForNextCall', 10_000, 'first update');
    const updatesBefore = seen.updates.length;

    await tally.stop();
    // Same port: the client keeps retrying its connect there.
    tally = await startTally({ configFile: tally.configFile, listen: `127.0.0.1:${port}` });
    assert.match(tally.output(), /1 CometD sessions restored/);
    // Once it reconnects, it gets the current value once (no new event needed)...
    await waitFor(() => seen.updates.length > updatesBefore, 20_000, 'current value after restart');
    assert.equal(seen.latest('state').value.stringValue, 'WaitForNextCall');
    // ...and then live updates for the same subscription.
    feeder = await feederToken(tally.url);
    await feed(tally.url, feeder, [{ type: 'EventAgentNotReady', thisDN: '7002' }]);
    await waitFor(() => seen.latest('state')?.value.stringValue === 'NotReadyForNextCall', 20_000, 'update after restart');
    assert.equal(seen.latest('state').subscriptionId, 'survivor');
    const m = await metricsText(tally.url);
    assert.equal(metricValue(m, 'tally_cometd_handshakes_total'), 0, 'no new handshake was needed');
    client.destroy();
    await sleep(200);
    await tally.stop();
  });
});
