// Live reload (issue 17): SIGHUP and `tally reload` reread the configuration without a restart.
// A new agent's statistics answer; an agent added to a running group counts in it from the
// reload on (its earlier calls stay out); a new user can log in; a statistic added to the
// catalog answers; a subscription made before keeps its values; an invalid file is refused with
// its file:line and changes nothing; what cannot change live is reported; a restart replays the
// journaled reload at the same point and shows the same values.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { startTally, tempDir, runTally, SOURCE_DIR, metricsText, metricValue } from './lib/tally.mjs';
import { authToml, getToken, ingest, stats } from './lib/api.mjs';
import { waitFor } from './lib/notify.mjs';

const T0 = Date.UTC(2027, 0, 15, 9, 0, 0);

function tenantToml({ withA4, salesMembers }) {
  return `
[[tenant]]
name = "acme"
agents = ["a1", "a2", "a3"${withA4 ? ', "a4"' : ''}]
queues = ["8001"]
${[1, 2, 3, ...(withA4 ? [4] : [])].map((i) => `[[tenant.place]]\nid = "p${i}"\ndns = ["700${i}"]\n`).join('')}
[[tenant.group]]
type = "GroupAgents"
name = "sales"
members = [${salesMembers.map((m) => `"${m}"`).join(', ')}]
`;
}

function configToml({ dir, withA4 = false, salesMembers = ['a1', 'a2'], lateUser = false, ioThreads = 2, snapshotEvery = 1_000_000 }) {
  const users = [['sup', 'acme', ['statistics:read']], ['ops', 'acme', ['admin']]];
  if (lateUser) users.push(['late', 'acme', ['statistics:read']]);
  return `
[server]
io_threads = ${ioThreads}
[statistics]
catalog = "${path.join(dir, 'statistics.toml')}"
[engine]
clock = "event"
[storage]
path = "${path.join(dir, 'journal.db')}"
snapshot_on_shutdown = false
snapshot_every_events = ${snapshotEvery}
[auth]
secret = "reload-test-signing-key-0123456789abcdef"
${authToml({ users, clients: [['board', 'acme', ['statistics:read']], ['feeder', 'acme', ['events:write']]] })}
${tenantToml({ withA4, salesMembers })}
`;
}

let t = T0;
const call = (dn, conn) => [
  { type: 'EventRinging', thisDN: dn, connId: conn, callType: 'Inbound', time: (t += 1000) },
  { type: 'EventEstablished', thisDN: dn, connId: conn, callType: 'Inbound', time: (t += 1000) },
  { type: 'EventReleased', thisDN: dn, connId: conn, callType: 'Inbound', time: (t += 1000) },
];
const login = (a) => ({ type: 'EventAgentLogin', agentId: `a${a}`, thisDN: `700${a}`, placeId: `p${a}`, time: (t += 1000) });

async function peek(url, token, name, objectType, objectId) {
  const r = await stats(url, token, 'GET',
    `/statistic-values/${name}?objectId=${encodeURIComponent(objectId)}&objectType=${objectType}`);
  return r;
}
const number = async (url, token, name, objectType, objectId) => {
  const r = await peek(url, token, name, objectType, objectId);
  assert.equal(r.status, 200, `${name} of ${objectType} ${objectId}: ${JSON.stringify(r.body)}`);
  return r.body.data.statistic.value.number ?? r.body.data.statistic.value.intValue;
};

for (const { snapshotEvery, stopWith } of [
  { snapshotEvery: 1_000_000, stopWith: 'SIGTERM' },  // the restart replays the journal alone
  { snapshotEvery: 3, stopWith: 'SIGKILL' },          // snapshots before and after the reload
]) describe(`live reload (snapshot every ${snapshotEvery} records, stopped by ${stopWith})`, () => {
  const dir = tempDir('tally-reload-');
  const cfg = (o = {}) => configToml({ dir, snapshotEvery, ...o });
  const configFile = path.join(dir, 'tally.toml');
  const catalogFile = path.join(dir, 'statistics.toml');
  let tally;
  let sup;
  let ops;
  let feeder;
  const reloaded = async (before) => waitFor(() => {
    const out = tally.output().slice(before);
    return /reload (done|refused): /.test(out) && out;
  }, 20_000, 'the reload to finish');

  before(async () => {
    copyFileSync(path.join(SOURCE_DIR, 'config/statistics.toml'), catalogFile);
    t = T0;
    writeFileSync(configFile, cfg());
    tally = await startTally({ configFile });
    sup = await getToken(tally.url, { client: 'board', secret: 'board-secret', username: 'sup', password: 'sup-pw' });
    ops = await getToken(tally.url, { client: 'board', secret: 'board-secret', username: 'ops', password: 'ops-pw' });
    feeder = await getToken(tally.url, { client: 'feeder', secret: 'feeder-secret' });
    // Before the reload: a1 (in sales) takes one call, a3 (not yet in sales) takes two.
    const r = await ingest(tally.url, feeder, [login(1), login(3), ...call('7001', 'c1'), ...call('7003', 'c2'), ...call('7003', 'c3')]);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });
  after(async () => { await tally?.stop(); });

  test('SIGHUP: a new agent answers, a new member counts from the reload on, a new user and a new catalog statistic work, subscriptions keep going', async () => {
    const sub = await stats(tally.url, sup, 'POST', '/subscriptions', { operationId: 'before-reload', data: { statistics: [
      { statisticId: 'sales-inbound', objectId: 'sales', objectType: 'GroupAgents', name: 'InboundCalls' },
    ] } });
    assert.equal(sub.status, 200, JSON.stringify(sub.body));
    assert.equal(await number(tally.url, sup, 'InboundCalls', 'GroupAgents', 'sales'), 1);
    assert.equal((await peek(tally.url, sup, 'CurrentAgentState', 'Agent', 'a4')).status, 404);

    writeFileSync(configFile, cfg({ withA4: true, salesMembers: ['a1', 'a2', 'a3'], lateUser: true }));
    writeFileSync(catalogFile, `${readFileSync(catalogFile, 'utf8')}
[Reload_Answered]
category = "TotalNumber"
subject = "DNAction"
mainMask = "CallInbound"
intervalType = "GrowingWindow"
objects = ["Agent", "GroupAgents"]
notificationMode = "Immediate"
`);
    const mark = tally.output().length;
    tally.proc.kill('SIGHUP');
    const out = await reloaded(mark);
    assert.match(out, /reload done: /);
    assert.match(out, /member 'a3' joined; it counts from now on/);

    // The new agent exists; a3's two earlier calls stay out of sales, its next one counts.
    assert.equal(await number(tally.url, sup, 'CurrentAgentState', 'Agent', 'a4'), 23);  // LoggedOut
    assert.equal(await number(tally.url, sup, 'InboundCalls', 'GroupAgents', 'sales'), 1);
    assert.equal(await number(tally.url, sup, 'InboundCalls', 'Agent', 'a3'), 2);
    const r = await ingest(tally.url, feeder, [login(4), ...call('7003', 'c4'), ...call('7004', 'c5')]);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(await number(tally.url, sup, 'InboundCalls', 'GroupAgents', 'sales'), 2);
    assert.equal(await number(tally.url, sup, 'InboundCalls', 'Agent', 'a4'), 1);
    // The statistic added to the catalog counts from the reload on.
    assert.equal(await number(tally.url, sup, 'Reload_Answered', 'Agent', 'a3'), 1);
    // The new user logs in; the subscription made before the reload follows the group.
    const late = await getToken(tally.url, { client: 'board', secret: 'board-secret', username: 'late', password: 'late-pw' });
    assert.ok(late);
    const values = await stats(tally.url, sup, 'GET', '/subscriptions/before-reload/statistic-values');
    assert.equal(values.status, 200, JSON.stringify(values.body));
    assert.equal(values.body.data.statistics[0].value.intValue, 2);
  });

  test('tally reload --url: an invalid file is refused with file:line, nothing changes; what cannot change live is reported', async () => {
    const good = readFileSync(configFile, 'utf8');
    writeFileSync(configFile, `${good}\n[limits]\nstatistics_per_request = "many"\n`);
    const refused = runTally(['reload', '--url', tally.url, '--token', ops]);
    assert.equal(refused.status, 1, refused.stdout + refused.stderr);
    const report = JSON.parse(refused.stdout);
    assert.equal(report.refused, true);
    assert.match(report.errors.join('\n'), /tally\.toml:\d+:\d+: limits\.statistics_per_request/);
    // Still serving, with the configuration it had.
    assert.equal(await number(tally.url, sup, 'InboundCalls', 'GroupAgents', 'sales'), 2);
    // The admin role is required.
    const denied = await fetch(`${tally.url}/admin/v1/reload`, { method: 'POST', headers: { authorization: `Bearer ${sup}` } });
    assert.equal(denied.status, 403);

    writeFileSync(configFile, cfg({ withA4: true, salesMembers: ['a1', 'a3'], lateUser: true, ioThreads: 3 }));
    const done = runTally(['reload', '--url', tally.url, '--token', ops]);
    assert.equal(done.status, 0, done.stdout + done.stderr);
    const ok = JSON.parse(done.stdout);
    assert.equal(ok.refused, false);
    assert.ok(ok.notLive.some((n) => /server\.io_threads changed: needs a restart/.test(n)), JSON.stringify(ok));
    assert.ok(ok.notLive.some((n) => /member of group 'sales' 'a2' is no longer listed/.test(n)), JSON.stringify(ok));
  });

  test('a restart replays the reload where it happened: the same values', async () => {
    const names = ['InboundCalls', 'Reload_Answered', 'CurrentAgentState'];
    const objects = [['GroupAgents', 'sales'], ['Agent', 'a3'], ['Agent', 'a4']];
    const read = async () => {
      const out = [];
      for (const n of names) for (const [ty, id] of objects) {
        const r = await peek(tally.url, sup, n, ty, id);
        out.push(`${n} ${ty} ${id} ${r.status} ${r.status === 200 ? r.body.data.statistic.value.stringValue : ''}`);
      }
      return out;
    };
    const before = await read();
    await tally.stop(stopWith);
    // Started again (no shutdown snapshot): the catalog file holds the new statistic, the
    // configuration a4 and a3 in sales — the replayed reload decides when they began.
    tally = await startTally({ configFile });
    sup = await getToken(tally.url, { client: 'board', secret: 'board-secret', username: 'sup', password: 'sup-pw' });
    if (snapshotEvery < 10) assert.match(tally.output(), /recovery: loaded the snapshot /);
    assert.deepEqual(await read(), before);
  });
});

const globexToken = (url) => getToken(url, { client: 'gboard', secret: 'gboard-secret' });

describe('a tenant added to the file while the server was stopped', () => {
  test('after a restart from a snapshot it exists with its objects, also after the next restart', async () => {
    const dir = tempDir('tally-reload-tenant-');
    const configFile = path.join(dir, 'tally.toml');
    copyFileSync(path.join(SOURCE_DIR, 'config/statistics.toml'), path.join(dir, 'statistics.toml'));
    writeFileSync(configFile, configToml({ dir, snapshotEvery: 2 }));
    let tally = await startTally({ configFile });
    const feeder = await getToken(tally.url, { client: 'feeder', secret: 'feeder-secret' });
    t = T0;
    assert.equal((await ingest(tally.url, feeder, [login(1), ...call('7001', 'x1'), ...call('7001', 'x2')])).status, 200);
    // The snapshot the batch made due is stored on the writer thread: stop once it is (a stop
    // before that leaves a whole-journal replay, which would not test the snapshot's path).
    await waitFor(async () => metricValue(await metricsText(tally.url), 'tally_snapshots_stored_total') >= 1,
      10_000, 'the snapshot to be stored');
    await tally.stop();
    writeFileSync(configFile, `${configToml({ dir, snapshotEvery: 2 })}
[[tenant]]
name = "globex"
timezone = "Europe/Paris"
agents = ["g1"]
[[tenant.place]]
id = "gp1"
dns = ["9001"]
[[tenant.group]]
type = "GroupAgents"
name = "support"
members = ["g1"]
${authToml({ clients: [['gboard', 'globex', ['statistics:read']]] })}
`);
    for (let round = 0; round < 2; round++) {
      tally = await startTally({ configFile });
      assert.match(tally.output(), /recovery: loaded the snapshot /);
      // A token of globex: through a client of that tenant, added with it.
      const r = await fetch(`${tally.url}/statistics/v3/statistic-values/CurrentReadyAgents?objectId=support&objectType=GroupAgents`, {
        headers: { authorization: `Bearer ${await globexToken(tally.url)}` },
      });
      assert.equal(r.status, 200, `round ${round}: ${await r.text()}`);
      await tally.stop();
    }
  });
});
