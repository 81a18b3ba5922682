// Issue 13: cometd@9 (cometd-nodejs-client@2) over WebSocket and over long-polling, connected to
// a 3-node cluster through HAProxy. The node serving the session is killed -9: the client
// reconnects through HAProxy to another node with its clientId — no new handshake, no new
// subscription — gets the current values once, then live updates; its last values equal every
// node's.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { adapt } from 'cometd-nodejs-client';
import { CometD, AckExtension } from 'cometd';
import { stats } from './lib/api.mjs';
import { userToken, waitFor, authExtension } from './lib/notify.mjs';
import { startFailoverCluster, eventuallySameValues, waitHolder, handshakes } from './lib/failover.mjs';

adapt();

for (const transport of ['websocket', 'long-polling']) {
  describe(`cometd@9 over ${transport} on a cluster behind HAProxy`, () => {
    let cluster;
    let cometd;
    const updates = [];
    const latest = (id) => {
      for (let i = updates.length - 1; i >= 0; i--) {
        const s = updates[i].data.data.statistics.findLast((x) => x.statisticId === id);
        if (s) return s;
      }
      return undefined;
    };
    before(async () => {
      cluster = await startFailoverCluster(`COMETD_${transport === 'websocket' ? 'WS' : 'LP'}`);
    });
    after(async () => {
      await new Promise((resolve) => {
        if (!cometd || cometd.isDisconnected()) return resolve();
        cometd.disconnect(() => resolve());
        setTimeout(resolve, 2000);
      });
      await cluster?.stop();
    });

    test('the node serving the session is killed: it goes on with another node', async () => {
      const token = await userToken(cluster.url);
      cometd = new CometD();
      if (transport === 'long-polling') cometd.unregisterTransport('websocket');
      cometd.registerExtension('ack', new AckExtension());
      // A WebSocket carries no headers after the upgrade: the token rides in the connect's ext.
      cometd.registerExtension('auth', authExtension(() => token));
      cometd.configure({
        url: `${cluster.url}/statistics/v3/notifications`,
        requestHeaders: { Authorization: `Bearer ${token}` },
        logLevel: 'warn',
      });
      const hs = await new Promise((resolve) => cometd.handshake({ ext: { authorization: `Bearer ${token}` } }, resolve));
      assert.equal(hs.successful, true, JSON.stringify(hs));
      const t = cometd.getTransport();
      assert.equal(typeof t.getType === 'function' ? t.getType() : t.type, transport);
      const sub = await new Promise((resolve) => cometd.subscribe('/statistics/v3/updates', (m) => updates.push(m), resolve));
      assert.equal(sub.successful, true);
      await cluster.feed([{ type: 'EventAgentLogin', agentId: 'a1', thisDN: '7001', placeId: 'p1' }]);
      const created = await stats(cluster.url, token, 'POST', '/subscriptions', {
        operationId: 'board',
        data: { statistics: [
          { statisticId: 'state', objectId: 'a1', objectType: 'Agent', name: 'CurrentAgentState' },
          { statisticId: 'entered', objectId: '8001', objectType: 'Queue', name: 'Total_Entered' },
        ] },
      });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      await cluster.feed([{ type: 'EventAgentReady', thisDN: '7001' }]);
      await waitFor(() => latest('state')?.value.stringValue === 'WaitForNextCall', 15_000, 'first update');
      const holder = await waitHolder(cluster);
      // HAProxy names the node that answered (deploy/haproxy/tally.cfg).
      assert.match((await fetch(`${cluster.url}/readyz`)).headers.get('x-tally-node'), /^t[123]$/);
      const before = await handshakes(cluster, holder);
      const clientId = cometd.getClientId();

      await holder.kill9();
      const mark = updates.length;
      await waitFor(() => updates.length > mark, 20_000, 'the current values from another node');
      assert.equal(latest('state').value.stringValue, 'WaitForNextCall');
      await cluster.feed([
        { type: 'EventAgentNotReady', thisDN: '7001' },
        { type: 'EventQueued', thisDN: '8001', connId: 'c1', callType: 'Inbound' },
      ]);
      await waitFor(() => latest('state')?.value.stringValue === 'NotReadyForNextCall' &&
        latest('entered')?.value.intValue === 1, 20_000, 'updates after the failover');
      const mover = await waitHolder(cluster);
      assert.notEqual(mover.name, holder.name);
      assert.equal(cometd.getClientId(), clientId, 'the same session');
      assert.equal(await handshakes(cluster), before, 'no new handshake');

      await cluster.restart(holder);
      await cluster.feed([{ type: 'EventAgentReady', thisDN: '7001' }]);
      await waitFor(() => latest('state')?.value.stringValue === 'WaitForNextCall', 20_000, 'update after the restart');
      await eventuallySameValues(cluster, token, 'board', latest);
    });
  });
}
