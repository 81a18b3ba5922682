// One suite for the npm `cometd` clients (3.1.x with cometd-nodejs-client@1, 9.x with @2):
// over WebSocket and over forced long-polling: handshake, subscribe, updates from ingested
// events, the ack extension, and reconnection after the server goes away and comes back.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startTally, tempDir } from './tally.mjs';
import { stats } from './api.mjs';
import { notifyConfig, userToken, feederToken, feed, waitFor, sleep, authExtension } from './notify.mjs';

export function cometdSuite(label, { CometD, AckExtension }) {
  for (const transport of ['websocket', 'long-polling']) {
    describe(`${label} over ${transport}`, () => {
      let tally;
      let token;
      let feeder;
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
        // max_interval_ms as in production (10 s): the restart below keeps the session only if
        // the client is back within timeout + maxInterval, and the CometD clients themselves
        // give up and handshake anew past it. With the tests' usual 2 s a slow restart (under a
        // sanitizer) took longer than the 5 s, and the client came back as a new session.
        tally = await startTally({ config: notifyConfig({ db: path.join(tempDir(), 'j.db'), maxIntervalMs: 10_000 }) });
        token = await userToken(tally.url);
        feeder = await feederToken(tally.url);
        cometd = new CometD();
        if (transport === 'long-polling') cometd.unregisterTransport('websocket');
        cometd.registerExtension('ack', new AckExtension());
        // A WebSocket cannot carry headers: to resume its session on a new socket (after the
        // restart below) the client presents its token in the connect's ext
        // (docs/notifications.md). Without it the server answers 402 and it handshakes anew.
        if (transport === 'websocket') cometd.registerExtension('auth', authExtension(() => token));
        cometd.configure({
          url: `${tally.url}/statistics/v3/notifications`,
          requestHeaders: { Authorization: `Bearer ${token}` },
          logLevel: 'warn',
        });
      });
      after(async () => {
        await new Promise((resolve) => {
          if (cometd.isDisconnected()) return resolve();
          cometd.disconnect(() => resolve());
          setTimeout(resolve, 2000);
        });
        await tally.stop();
      });

      test('handshake (ack enabled), subscribe and receive updates of ingested events', async () => {
        const reply = await new Promise((resolve) => {
          cometd.handshake({ ext: { authorization: `Bearer ${token}` } }, resolve);
        });
        assert.equal(reply.successful, true, JSON.stringify(reply));
        const t = cometd.getTransport();
        assert.equal(typeof t.getType === 'function' ? t.getType() : t.type, transport);
        assert.match(cometd.getClientId(), /^[0-9a-f]{32}$/);
        const sub = await new Promise((resolve) => {
          cometd.subscribe('/statistics/v3/updates', (m) => updates.push(m), resolve);
        });
        assert.equal(sub.successful, true);
        const denied = await new Promise((resolve) => cometd.subscribe('/chat/room', () => {}, resolve));
        assert.equal(denied.successful, false);
        const created = await stats(tally.url, token, 'POST', '/subscriptions', {
          operationId: 'op', data: { statistics: [{ statisticId: 'state', objectId: 'a3', objectType: 'Agent', name: 'CurrentAgentState' }] },
        });
        assert.equal(created.status, 200);
        await feed(tally.url, feeder, [
          { type: 'EventAgentLogin', agentId: 'a3', thisDN: '7003', placeId: 'p3' },
          { type: 'EventAgentReady', thisDN: '7003' },
        ]);
        await waitFor(() => latest('state')?.value.stringValue === 'WaitForNextCall', 10_000, 'update').catch((e) => { throw new Error(e.message + ' ' + JSON.stringify(updates).slice(0, 600)); });
        assert.equal(updates.at(-1).channel, '/statistics/v3/updates');
        assert.equal(updates.at(-1).data.name, 'StatisticUpdate');
      });

      test('publishing to a statistics channel is refused', async () => {
        const r = await new Promise((resolve) => cometd.publish('/statistics/v3/updates', { fake: true }, resolve));
        assert.equal(r.successful, false);
      });

      test('after the server restarts, the client reconnects and updates flow again', async () => {
        const port = tally.port;
        await tally.stop();
        await sleep(300);
        tally = await startTally({ configFile: tally.configFile, listen: `127.0.0.1:${port}` });
        feeder = await feederToken(tally.url);
        // The session was restored: a reconnect with the old clientId gets the current value.
        const mark = updates.length;
        await waitFor(() => updates.length > mark, 30_000, 'current value after reconnect');
        await feed(tally.url, feeder, [{ type: 'EventAgentNotReady', thisDN: '7003' }]);
        await waitFor(() => latest('state')?.value.stringValue === 'NotReadyForNextCall', 30_000, 'update after restart');
      });
    });
  }
}
