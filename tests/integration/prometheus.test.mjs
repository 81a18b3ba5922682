// /metrics against Prometheus's own linter: a server that has ingested events, answered REST
// calls (some refused) and held a CometD session (the official Genesys client, long-polling),
// so that nearly every series exists, is scraped and `promtool check metrics` must find nothing.
// Every metric the alert rules (deploy/prometheus/alerts.yml) use must be among the scraped ones.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startTally, tempDir, metricsText, metricValue, SOURCE_DIR } from './lib/tally.mjs';
import { notifyConfig, userToken, feederToken, feed, waitFor, sleep } from './lib/notify.mjs';

const require = createRequire(import.meta.url);
const Statistics = require('genesys-statistics-client-js');

function promtool(args, input) {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8', timeout: 30_000 });
  assert.notEqual(r.error?.code, 'ENOENT', 'promtool is missing (make deps installs Debian prometheus)');
  return r;
}

describe('prometheus', () => {
  let tally;
  let client;
  let text;
  before(async () => {
    tally = await startTally({ config: notifyConfig({ db: path.join(tempDir(), 'tally.db') }) });
    const feeder = await feederToken(tally.url);
    client = new Statistics('no-api-key', tally.url);
    let updates = 0;
    client.on('Updates', () => updates++);
    await client.initialize(await userToken(tally.url));
    await client.createSubscription('sub-metrics', [
      { statisticId: 'state', objectId: 'a1', objectType: 'Agent', name: 'CurrentAgentState' },
    ], true);
    await feed(tally.url, feeder, [{ type: 'EventAgentLogin', agentId: 'a1', thisDN: '7001', placeId: 'p1' }]);
    await waitFor(() => updates > 0, 10_000, 'an update over CometD');
    await client.getStatValue('CurrentAgentState', 'a1', 'Agent');
    await fetch(`${tally.url}/statistics/v3/statistic-values/CurrentAgentState?objectId=a1&objectType=Agent`);  // 401
    await fetch(`${tally.url}/no-such-route`);  // unmatched
    text = await metricsText(tally.url);
  });
  after(async () => {
    client?.destroy();
    await sleep(200);
    await tally?.stop();
  });

  test('the scrape holds the series of every part', () => {
    assert.equal(metricValue(text, 'tally_ready'), 1);
    assert.equal(metricValue(text, 'tally_cometd_sessions'), 1);
    assert.ok(metricValue(text, 'tally_ingest_events_total') >= 1);
    assert.match(text, /^tally_http_requests_total\{route="[^"]+",method="GET",status="401"\} \d+$/m);
    assert.match(text, /^tally_http_request_duration_seconds_bucket\{route="[^"]+",le="\+Inf"\} \d+$/m);
    assert.ok(metricValue(text, 'tally_engine_queue_depth') >= 0);
    assert.ok(metricValue(text, 'tally_engine_busy_seconds') >= 0);
  });

  test('promtool check metrics finds no problem', () => {
    const r = promtool(['check', 'metrics'], text);
    assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'no lint output');
  });

  test('promtool check metrics would catch a bad exposition (the check can fail)', () => {
    const bad = `${text}# HELP tally_bad_counter a counter without _total\n# TYPE tally_bad_counter counter\ntally_bad_counter 1\n`;
    const r = promtool(['check', 'metrics'], bad);
    assert.notEqual(r.status, 0);
    assert.match(`${r.stdout}${r.stderr}`, /tally_bad_counter/);
  });

  test('every metric the alert rules use exists', () => {
    const rules = readFileSync(path.join(SOURCE_DIR, 'deploy/prometheus/alerts.yml'), 'utf8');
    const exprs = [...rules.matchAll(/^\s*expr:\s*(.+)$/gm)].map((m) => m[1]);
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(tally_[a-z_]+)/g)].map((m) => m[1])));
    assert.ok(used.size >= 8, `metrics used by the rules: ${[...used]}`);
    const scraped = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    for (const name of used) assert.ok(scraped.has(name), `${name} (alerts.yml) is not exported`);
  });
});
