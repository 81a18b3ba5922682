// Issue 13: the official genesys-statistics-client-js (long-polling) connected to a 3-node
// cluster through HAProxy. The node that serves its session is killed -9: the client carries on
// with another node — same clientId, no new handshake, no new subscription — receives the
// current values once and then the live updates; its last values equal every node's.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { userToken, waitFor, sleep } from './lib/notify.mjs';
import { startFailoverCluster, eventuallySameValues, waitHolder, handshakes } from './lib/failover.mjs';

const require = createRequire(import.meta.url);
const Statistics = require('genesys-statistics-client-js');

describe('genesys-statistics-client-js on a cluster behind HAProxy', () => {
  let cluster;
  let client;
  const updates = [];
  const latest = (id) => {
    for (let i = updates.length - 1; i >= 0; i--) {
      const s = updates[i].data.statistics.findLast((x) => x.statisticId === id);
      if (s) return s;
    }
    return undefined;
  };
  before(async () => {
    cluster = await startFailoverCluster('GENESYS');
  });
  after(async () => {
    client?.destroy();
    await sleep(200);
    await cluster?.stop();
  });

  test('the node serving the client is killed: it goes on with another node', async () => {
    const token = await userToken(cluster.url);
    client = new Statistics('no-api-key', cluster.url);
    client.on('Updates', (d) => updates.push(d));
    await client.initialize(token);
    await cluster.feed([{ type: 'EventAgentLogin', agentId: 'a1', thisDN: '7001', placeId: 'p1' }]);
    await client.createSubscription('wallboard', [
      { statisticId: 'state', objectId: 'a1', objectType: 'Agent', name: 'CurrentAgentState' },
      { statisticId: 'entered', objectId: '8001', objectType: 'Queue', name: 'Total_Entered' },
    ]);
    await cluster.feed([{ type: 'EventAgentReady', thisDN: '7001' }]);
    await waitFor(() => latest('state')?.value.stringValue === 'WaitForNextCall', 15_000, 'first update');
    const holder = await waitHolder(cluster);
    const handshakesBefore = await handshakes(cluster, holder);
    const clientId = client.notifications.cometd.getClientId();

    await holder.kill9();
    const mark = updates.length;
    // The current values once, from the node it moved to (no event needed)...
    await waitFor(() => updates.length > mark, 20_000, 'the current values from another node');
    assert.equal(latest('state').value.stringValue, 'WaitForNextCall');
    // ...then live updates of the same subscription.
    await cluster.feed([
      { type: 'EventAgentNotReady', thisDN: '7001' },
      { type: 'EventQueued', thisDN: '8001', connId: 'c1', callType: 'Inbound' },
    ]);
    await waitFor(() => latest('state')?.value.stringValue === 'NotReadyForNextCall' &&
      latest('entered')?.value.intValue === 1, 20_000, 'updates after the failover');
    assert.equal(latest('state').subscriptionId, 'wallboard');
    const mover = await waitHolder(cluster);
    assert.notEqual(mover.name, holder.name);
    assert.equal(await handshakes(cluster), handshakesBefore, 'no new handshake');
    assert.equal(client.notifications.cometd.getClientId(), clientId, "the same session");

    // The killed node comes back, catches up, and every node agrees with the client.
    await cluster.restart(holder);
    await cluster.feed([{ type: 'EventAgentReady', thisDN: '7001' }]);
    await waitFor(() => latest('state')?.value.stringValue === 'WaitForNextCall', 20_000, 'update after the restart');
    await eventuallySameValues(cluster, token, 'wallboard', latest);
  });
});
