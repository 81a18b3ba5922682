// The wallboard in Chromium on a cluster (issue 13, what `make demo-cluster` shows): 3 NATS
// servers, 3 Tally nodes with the demo configuration on the JetStream journal, HAProxy as
// shipped in deploy/haproxy/tally.cfg. The page is opened through HAProxy; the node holding its
// CometD session is killed -9, and the page carries on: an event ingested afterwards shows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { SOURCE_DIR, metricsText, metricValue } from '../integration/lib/tally.mjs';
import { startNats, clusterToml, startNode, startHaproxy, freePort } from '../integration/lib/cluster.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

async function until(predicate, ms, what) {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let nats;
let nodes;
let haproxy;
let browser;

// The demo configuration without its SQLite journal and in-process simulator (the test feeds
// the events), on the cluster's stream.
function nodeConfig(name) {
  const demo = readFileSync(path.join(SOURCE_DIR, 'config/demo.toml'), 'utf8')
    .replace('catalog = "statistics.toml"', `catalog = "${path.join(SOURCE_DIR, 'config/statistics.toml')}"`)
    .replace(/^\[storage\]\npath = .*$/m, '')
    .replace(/^enabled = true$/m, 'enabled = false');
  return demo + clusterToml({ urls: nats.urls, node: name, stream: 'WALLBOARD' });
}

before(async () => {
  nats = await startNats(3);
  const ports = [await freePort(), await freePort(), await freePort()];
  nodes = await Promise.all(ports.map((port, i) => startNode({ name: `t${i + 1}`, config: nodeConfig, port })));
  haproxy = await startHaproxy(ports);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
});

after(async () => {
  await browser?.close();
  await haproxy?.stop();
  await Promise.all((nodes ?? []).map((n) => n.kill9()));
  await nats?.stop();
});

async function ingest(events) {
  const url = haproxy.url;
  await until(async () => {
    try {
      const t = await fetch(`${url}/auth/v3/oauth/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('simulator:ingest-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      const { access_token: token } = await t.json();
      const r = await fetch(`${url}/ingest/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson', 'idempotency-key': `e2e-${events[0].time}` },
        body: events.map((e) => JSON.stringify(e)).join('\n'),
      });
      return r.status === 200;
    } catch {
      return false;
    }
  }, 20_000, 'an acknowledged batch');
}

test('the wallboard carries on when the node serving it is killed', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${haproxy.url}/wallboard/`);
  await page.fill('input[name=username]', 'supervisor');
  await page.fill('input[name=password]', 'tally-demo');
  await page.click('button[type=submit]');
  await page.waitForSelector('#connection[data-state=connected]', { timeout: 15_000 });
  const tile = page.locator('.agent[data-agent=agent050]');
  const now = Date.now();
  await ingest([
    { type: 'EventAgentLogin', agentId: 'agent050', thisDN: '7050', placeId: 'place050', time: now },
    { type: 'EventAgentNotReady', thisDN: '7050', reasons: { ReasonCode: 'Coaching' }, time: now + 1 },
  ]);
  await tile.and(page.locator('[data-state=NotReadyForNextCall]')).waitFor({ timeout: 15_000 });

  // The node holding the page's session (the only one counting a session) is killed.
  let holder;
  await until(async () => {
    const counts = await Promise.all(nodes.map(async (n) => metricValue(await metricsText(n.url), 'tally_cometd_sessions') ?? 0));
    const holding = nodes.filter((_, i) => counts[i] > 0);
    holder = holding.length === 1 ? holding[0] : undefined;
    return holder !== undefined;
  }, 10_000, 'the node holding the session');
  await holder.kill9();

  await ingest([{ type: 'EventAgentReady', thisDN: '7050', time: Date.now() }]);
  await tile.and(page.locator('[data-state=WaitForNextCall]')).waitFor({ timeout: 20_000 });
  assert.equal(await page.locator('#connection').getAttribute('data-state'), 'connected');
  const survivors = nodes.filter((n) => n !== holder);
  const moved = await Promise.all(survivors.map(async (n) => metricValue(await metricsText(n.url), 'tally_cometd_sessions') ?? 0));
  assert.equal(moved.reduce((a, b) => a + b, 0), 1, 'the session lives on one surviving node');
  assert.deepEqual(errors, [], 'no script errors on the page');
  await page.close();
});
