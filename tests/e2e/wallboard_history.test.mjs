// The wallboard's history views in Debian's Chromium (issue 16): a server on the event clock is
// fed the last 45 minutes of a queue (calls answered, abandoned, one left waiting) before the
// page opens; the chart then starts with the quarter hour that ended in its 30 minutes, and
// "today by 15 minutes" shows that quarter hour's counts — both from the statistic history.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startTally, tempDir, SOURCE_DIR } from '../integration/lib/tally.mjs';
import { getToken, ingest, stats } from '../integration/lib/api.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const QUARTER = 15 * 60_000;

let tally;
let browser;

// The demo configuration on the event clock, without its simulator (the test feeds the events).
function config() {
  return readFileSync(path.join(SOURCE_DIR, 'config/demo.toml'), 'utf8')
    .replace('catalog = "statistics.toml"', `catalog = "${path.join(SOURCE_DIR, 'config/statistics.toml')}"`)
    .replace(/^path = .*$/m, `path = "${path.join(tempDir('tally-e2e-history-'), 'journal.db')}"`)
    .replace(/^enabled = true$/m, 'enabled = false')
    .replace('[statistics]', '[engine]\nclock = "event"\n\n[statistics]');
}

// The quarter hour that ended last, [qStart, qEnd): 3 calls answered by agent001 and 2 abandoned
// in it, one more call queued a minute before its end and still waiting at it.
const now = Date.now();
const qEnd = now - (now % QUARTER);
const qStart = qEnd - QUARTER;

function events() {
  const out = [];
  let t = qStart - 10 * 60_000;
  const at = (e, time) => out.push({ ...e, time: time ?? (t += 10_000) });
  at({ type: 'EventAgentLogin', agentId: 'agent001', thisDN: '7001', placeId: 'place001' });
  at({ type: 'EventAgentReady', agentId: 'agent001', thisDN: '7001' });
  t = qStart;
  for (let c = 1; c <= 3; c++) {
    const connId = `ans${c}`;
    at({ type: 'EventQueued', thisDN: '8001', connId, callType: 'Inbound' });
    at({ type: 'EventDiverted', thisDN: '8001', connId, otherDN: '7001' });
    at({ type: 'EventRinging', thisDN: '7001', connId, callType: 'Inbound', thisQueue: '8001' });
    at({ type: 'EventEstablished', thisDN: '7001', connId, callType: 'Inbound' });
    t += 60_000;
    at({ type: 'EventReleased', thisDN: '7001', connId, callType: 'Inbound' });
  }
  for (let c = 1; c <= 2; c++) {
    at({ type: 'EventQueued', thisDN: '8001', connId: `ab${c}`, callType: 'Inbound' });
    at({ type: 'EventAbandoned', thisDN: '8001', connId: `ab${c}` });
  }
  at({ type: 'EventQueued', thisDN: '8001', connId: 'waiting', callType: 'Inbound' }, qEnd - 60_000);
  at({ type: 'EventTick' }, now);
  return out;
}

before(async () => {
  tally = await startTally({ config: config() });
  const feeder = await getToken(tally.url, { client: 'simulator', secret: 'ingest-secret' });
  const r = await ingest(tally.url, feeder, events());
  assert.equal(r.status, 200, JSON.stringify(r.body));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
});

after(async () => {
  await browser?.close();
  await tally?.stop();
});

async function until(predicate, ms, what) {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('the chart starts from history and "today by 15 minutes" shows the last quarter hour', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
  // The page's clock is the test's: a quarter hour ending between the events' feeding and the
  // page's requests would otherwise shift every bucket by one.
  await page.clock.setFixedTime(now);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${tally.url}/wallboard/`);
  await page.fill('input[name=username]', 'supervisor');
  await page.fill('input[name=password]', 'tally-demo');
  await page.click('button[type=submit]');
  await page.waitForSelector('#connection[data-state=connected]', { timeout: 15_000 });

  // The chart: the two quarter hours that ended within its 30 minutes (at qStart and qEnd), the
  // second with the call left waiting.
  const chart = page.locator('#chart');
  await until(async () => (await chart.getAttribute('data-history')) !== null, 15_000, 'the chart history');
  assert.equal(await chart.getAttribute('data-history'), '2', await chart.getAttribute('data-history'));
  assert.equal(await chart.getAttribute('data-history-waiting'), '0,1');

  // Today by 15 minutes, queue 8001: the quarter hour's counts (when it began after the tenant's
  // midnight, Europe/Paris; else it belongs to yesterday and today has no such row).
  const sup = await getToken(tally.url, { client: 'wallboard', secret: 'wallboard-secret', username: 'supervisor', password: 'tally-demo' });
  const day = await stats(tally.url, sup, 'POST', '/operations/get-statistic-history', { data: {
    from: now - 1, to: now, bucket: '1d', statistics: [{ statisticId: 'd', objectType: 'Queue', objectId: '8001', name: 'Total_Answered' }] } });
  assert.equal(day.status, 200, JSON.stringify(day.body));
  const midnight = day.body.data.statistics[0].buckets[0].start;
  const row = page.locator(`#today tbody tr[data-start="${qStart}"]`);
  if (qStart >= midnight) {
    await row.waitFor({ timeout: 15_000 });
    assert.equal(await row.locator('[data-field=answered]').textContent(), '3');
    assert.equal(await row.locator('[data-field=abandoned]').textContent(), '2');
    assert.match(await row.locator('[data-field=sl]').textContent(), /^\d+%$/);
    // The rows are the quarter hours since midnight, newest (the current one, so far) first.
    const first = Number(await page.locator('#today tbody tr').first().getAttribute('data-start'));
    assert.equal(first, qEnd);
    assert.equal(await page.locator('#today tbody tr').count(), (qEnd - midnight) / QUARTER + 1);
  } else {
    await page.locator('#today tbody tr').first().waitFor({ timeout: 15_000 });
    assert.equal(await row.count(), 0);
  }
  assert.equal(await page.locator('#today-error').textContent(), '');
  assert.deepEqual(errors, [], 'no script errors on the page');
  await page.close();
});
