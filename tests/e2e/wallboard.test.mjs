// The wallboard end to end: Debian's Chromium driven by playwright-core against the real server
// with its in-process simulator. Log in, see agent tiles filled, ingest an EventAgentNotReady for
// one agent and see that tile change, take a screenshot, log out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const TALLY_BIN = process.env.TALLY_BIN;
const SOURCE_DIR = process.env.TALLY_SOURCE_DIR;
const OUTPUT = path.join(SOURCE_DIR, 'tests/e2e/output');

async function until(predicate, ms, what) {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

let tally;
let url;
let browser;

async function startServer() {
  const dir = mkdtempSync(path.join(tmpdir(), 'tally-e2e-'));
  // The demo configuration, with its journal in a temporary folder, and the simulator driving
  // 49 of the 50 agents: agent050 belongs to the test alone.
  const demo = readFileSync(path.join(SOURCE_DIR, 'config/demo.toml'), 'utf8')
    .replace(/^agents = 50$/m, 'agents = 49')
    .replace('catalog = "statistics.toml"', `catalog = "${path.join(SOURCE_DIR, 'config/statistics.toml')}"`)
    .replace(/^path = .*$/m, `path = "${path.join(dir, 'journal.db')}"`);
  const file = path.join(dir, 'tally.toml');
  writeFileSync(file, demo);
  const proc = spawn(TALLY_BIN, ['serve', '--config', file, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start:\n${output}`)), 30_000);
    const onData = (d) => {
      output += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (m && /\bready\s*$/m.test(output)) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`tally exited ${code}:\n${output}`)));
  });
  return { proc, port, output: () => output };
}

before(async () => {
  assert.ok(TALLY_BIN, 'TALLY_BIN must point at the tally binary (ctest sets it)');
  mkdirSync(OUTPUT, { recursive: true });
  tally = await startServer();
  url = `http://127.0.0.1:${tally.port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
});

after(async () => {
  await browser?.close();
  if (tally) {
    tally.proc.kill('SIGTERM');
    await new Promise((r) => tally.proc.on('exit', r));
  }
});

test('log in, live agent tiles, an ingested NotReady shows, the security policy holds, log out', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Any violation of the page's Content-Security-Policy is collected.
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const response = await page.goto(url);  // "/" redirects to the wallboard
  assert.match(page.url(), /\/wallboard\/$/);
  const headers = response.headers();
  assert.match(headers['content-security-policy'], /script-src 'self'/);
  assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(await page.locator('#connection').getAttribute('data-state'), 'offline');

  // A wrong password is refused with a message.
  await page.fill('input[name=password]', 'wrong');
  await page.click('button[type=submit]');
  await page.waitForSelector('#login-error:not(:empty)');

  await page.fill('input[name=username]', 'supervisor');
  await page.fill('input[name=password]', 'tally-demo');
  await page.click('button[type=submit]');
  await page.waitForSelector('#connection[data-state=connected]', { timeout: 15_000 });
  assert.equal(await page.locator('.agent').count(), 50);
  assert.equal(await page.locator('.queue').count(), 3);
  // The simulator logs agents in within two simulated minutes (12 s at 10x).
  // Polled from here: the page's CSP forbids the string evaluation waitForFunction polls with.
  await until(async () => (await page.locator('.agent:not([data-state=LoggedOut])').count()) >= 10, 30_000, 'agents logged in');

  // One agent goes not ready with a reason code, through the ingest API.
  const tokenRes = await fetch(`${url}/auth/v3/oauth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('simulator:ingest-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  const { access_token: ingestToken } = await tokenRes.json();
  // agent050 (not simulated): log in at its place, then not ready with a reason code.
  const now = Date.now();
  const events = [
    { type: 'EventAgentLogin', agentId: 'agent050', thisDN: '7050', placeId: 'place050', time: now },
    { type: 'EventAgentNotReady', thisDN: '7050', reasons: { ReasonCode: 'Coaching' }, time: now + 1 },
  ];
  const r = await fetch(`${url}/ingest/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/x-ndjson' },
    body: events.map((e) => JSON.stringify(e)).join('\n'),
  });
  assert.equal(r.status, 200, await r.text());
  const tile = page.locator('.agent[data-agent=agent050]');
  // A bound, not a timing goal (the latency is measured in BENCHMARKS.md).
  await tile.and(page.locator('[data-state=NotReadyForNextCall]')).waitFor({ timeout: 10_000 });
  assert.match(await tile.locator('.detail').textContent(), /Coaching/);

  // Queue tiles are filled from the subscription.
  const waiting = await page.locator('.queue[data-queue="8001"] dd[data-field=waiting]').textContent();
  assert.match(waiting, /^\d+$/);
  // Filter by group: only that group's agents stay visible.
  await page.selectOption('#group-filter', 'Sales');
  assert.equal(await page.locator('.agent:not([hidden])').count(), 13);
  await page.selectOption('#group-filter', '');

  await page.screenshot({ path: path.join(OUTPUT, 'wallboard.png'), fullPage: true });
  await page.click('#logout');
  await page.waitForSelector('#login:not([hidden])');
  assert.equal(await page.locator('#connection').getAttribute('data-state'), 'offline');
  assert.deepEqual(errors, [], 'no script errors on the page');
  assert.deepEqual(await page.evaluate(() => window.__violations), [], 'the wallboard satisfies its CSP');
  await page.close();
});
