// sd_notify without systemd: the server is started with NOTIFY_SOCKET naming a unix datagram
// socket this test owns (lib/notify_socket.py, since Node has no datagram unix sockets) and must
// send STATUS= progress, then READY=1 once recovery is done, WATCHDOG=1 again and again when
// WATCHDOG_USEC is set (and none when WATCHDOG_PID names another process), and STOPPING=1 on
// SIGTERM; SIGHUP (systemctl reload) leaves it running.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { startTally, tempDir, SOURCE_DIR } from './lib/tally.mjs';
import { notifyConfig, userToken, feederToken, feed, waitFor } from './lib/notify.mjs';
import { stats } from './lib/api.mjs';

// The stand-in for systemd's socket: every datagram, in order of arrival.
async function notifySocket() {
  const socketPath = path.join(tempDir('tally-notify-'), 'notify.sock');
  const proc = spawn('python3', [path.join(SOURCE_DIR, 'tests/integration/lib/notify_socket.py'), socketPath, '120'],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const messages = [];
  const lines = createInterface({ input: proc.stdout });
  await new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('exit', (code) => reject(new Error(`notify_socket.py exited with ${code}`)));
    lines.on('line', (line) => {
      if (line === 'bound') return resolve();
      messages.push(JSON.parse(line));
    });
  });
  return {
    path: socketPath,
    messages,
    close() { proc.stdin.end(); proc.kill(); },
  };
}

const fields = (message) => Object.fromEntries(message.split('\n').filter(Boolean).map((l) => {
  const eq = l.indexOf('=');
  return [l.slice(0, eq), l.slice(eq + 1)];
}));

describe('systemd notifications', () => {
  test('STATUS while recovering, READY=1, WATCHDOG=1 repeatedly, STOPPING=1 on SIGTERM', async () => {
    const db = path.join(tempDir(), 'tally.db');
    // A first run leaves journal records for the second to replay.
    const first = await startTally({ config: notifyConfig({ db }) });
    await feed(first.url, await feederToken(first.url), [
      { type: 'EventAgentLogin', agentId: 'a1', thisDN: '7001', placeId: 'p1' },
    ]);
    assert.equal((await first.stop()).code, 0);

    const socket = await notifySocket();
    try {
      const tally = await startTally({
        configFile: first.configFile,
        env: { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '300000' },
      });
      await waitFor(() => socket.messages.some((m) => fields(m).READY === '1'), 10_000, 'READY=1');
      const readyAt = socket.messages.findIndex((m) => fields(m).READY === '1');
      const before = socket.messages.slice(0, readyAt).map(fields);
      const statuses = before.filter((f) => f.STATUS !== undefined).map((f) => f.STATUS);
      assert.ok(statuses.some((s) => s.startsWith('recovery: replaying journal records')), statuses.join('\n'));
      assert.ok(statuses.some((s) => s.startsWith('recovery: done, ')), statuses.join('\n'));
      // Progress extends systemd's start timeout while recovery moves.
      assert.ok(before.some((f) => f.STATUS?.startsWith('recovery:') && Number(f.EXTEND_TIMEOUT_USEC) > 0));
      assert.ok(!before.some((f) => f.STOPPING !== undefined));

      // The engine's loop feeds the watchdog: pings keep coming after ready.
      await waitFor(() => socket.messages.slice(readyAt).filter((m) => fields(m).WATCHDOG === '1').length >= 3,
        10_000, 'three WATCHDOG=1 after READY=1');
      // And the server works meanwhile.
      const peek = await stats(tally.url, await userToken(tally.url), 'GET',
        '/statistic-values/CurrentAgentState?objectId=a1&objectType=Agent');
      assert.equal(peek.status, 200, JSON.stringify(peek.body));

      // systemctl reload (ExecReload: SIGHUP) rereads the configuration; the server goes on.
      tally.proc.kill('SIGHUP');
      await waitFor(() => /reload (done|refused)/.test(tally.output()), 10_000, 'the reload logged');
      const again = await stats(tally.url, await userToken(tally.url), 'GET',
        '/statistic-values/CurrentAgentState?objectId=a1&objectType=Agent');
      assert.equal(again.status, 200);

      const stopped = tally.stop('SIGTERM');
      await waitFor(() => socket.messages.some((m) => fields(m).STOPPING === '1'), 10_000, 'STOPPING=1');
      assert.equal((await stopped).code, 0);
      assert.ok(!tally.output().includes('sd_notify failed'), tally.output());
    } finally {
      socket.close();
    }
  });

  test('no WATCHDOG=1 when WATCHDOG_PID names another process, READY=1 all the same', async () => {
    const socket = await notifySocket();
    try {
      const tally = await startTally({
        config: notifyConfig(),
        env: { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '300000', WATCHDOG_PID: '1' },
      });
      await waitFor(() => socket.messages.some((m) => fields(m).READY === '1'), 10_000, 'READY=1');
      // A peek runs engine rounds; STOPPING=1 comes after them, so everything sent before is in.
      await stats(tally.url, await userToken(tally.url), 'GET',
        '/statistic-values/CurrentAgentState?objectId=a1&objectType=Agent');
      const stopped = tally.stop('SIGTERM');
      await waitFor(() => socket.messages.some((m) => fields(m).STOPPING === '1'), 10_000, 'STOPPING=1');
      await stopped;
      assert.ok(!socket.messages.some((m) => fields(m).WATCHDOG !== undefined), socket.messages.join(' | '));
    } finally {
      socket.close();
    }
  });
});
