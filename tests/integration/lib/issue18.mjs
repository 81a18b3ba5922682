// Shared by the issue 18 regression files: the runs of defect 0 (a client that creates its
// subscription while its /meta/subscribe is in flight must still get every update).
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTally } from './tally.mjs';
import { notifyConfig, userToken, feederToken, feed, waitFor, authExtension } from './notify.mjs';

// One agent per run, logged in and ready; a run rings, answers and releases one call for it.
export const callFor = (dn, conn) => [
  { type: 'EventRinging', thisDN: dn, connId: conn, callType: 'Inbound' },
  { type: 'EventEstablished', thisDN: dn, connId: conn, callType: 'Inbound' },
  { type: 'EventReleased', thisDN: dn, connId: conn, callType: 'Inbound' },
];
export const descriptors = (agent) => [
  { statisticId: 'state', objectId: agent, objectType: 'Agent', name: 'CurrentAgentState' },
  { statisticId: 'answered', objectId: agent, objectType: 'Agent',
    definition: { category: 'TotalNumber', subject: 'DNAction', mainMask: 'CallInbound',
      intervalType: 'GrowingWindow', notificationMode: 'Immediate' } },
];

// The defect 0 runs for an npm cometd client (the file that calls this has adapted it to Node).
export function subscribeRaceSuite(label, CometD, runs = 25) {
  describe(`issue 18 defect 0 with ${label}`, () => {
    let tally;
    let feeder;
    before(async () => {
      tally = await startTally({ config: notifyConfig() });
      feeder = await feederToken(tally.url);
    });
    after(async () => { await tally.stop(); });
    for (const transport of ['long-polling', 'websocket']) {
      test(`${label} over ${transport}: ${runs} sessions, each subscribing before /meta/subscribe is answered`, async () => {
        const token = await userToken(tally.url);
        let misses = 0;
        for (let i = 0; i < runs; i++) {
          const n = `${transport}-${i}`;
          const agent = `a-${n}`;
          const dn = `d-${n}`;
          await feed(tally.url, feeder, [
            { type: 'EventAgentLogin', agentId: agent, thisDN: dn, placeId: `p-${n}` },
            { type: 'EventAgentReady', thisDN: dn },
          ]);
          const cometd = new CometD();
          if (transport === 'long-polling') cometd.unregisterTransport('websocket');
          cometd.registerExtension('auth', authExtension(() => token));
          cometd.configure({
            url: `${tally.url}/statistics/v3/notifications`,
            requestHeaders: { Authorization: `Bearer ${token}` },
            logLevel: 'warn',
          });
          const got = [];
          const hs = await new Promise((resolve) => cometd.handshake({ ext: { authorization: `Bearer ${token}` } }, resolve));
          assert.equal(hs.successful, true, JSON.stringify(hs));
          // The /meta/subscribe is held in a client batch until the subscription is created and
          // the call ingested: the update is produced before the channel subscription arrives.
          cometd.startBatch();
          cometd.subscribe('/statistics/v3/updates', (m) => got.push(...m.data.data.statistics));
          const res = await fetch(`${tally.url}/statistics/v3/subscriptions`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'application/json',
              cookie: `STATISTICS_SESSIONID=${cometd.getClientId()}`,
            },
            body: JSON.stringify({ operationId: `op-${n}`, data: { statistics: descriptors(agent) } }),
          });
          assert.equal(res.status, 200);
          await feed(tally.url, feeder, callFor(dn, `c-${n}`));
          cometd.endBatch();
          try {
            await waitFor(() => got.some((s) => s.statisticId === 'answered' && s.value.intValue === 1), 5_000, 'answered');
          } catch {
            misses++;
          }
          await new Promise((resolve) => {
            cometd.disconnect(resolve);
            setTimeout(resolve, 1000);
          });
        }
        assert.equal(misses, 0, `${misses} of ${runs} sessions received no StatisticUpdate`);
      });
    }
  });
}
