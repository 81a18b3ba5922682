// Browser-safe defaults (issue 18, item 12): a page of a second origin, listed in
// server.cors_allowed_origins, uses Tally from Debian's Chromium — token, REST subscription and
// CometD (the npm `cometd` browser build) — and receives an update; a page of an origin that is
// not listed cannot read Tally's answers, and its WebSocket is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const TALLY_BIN = process.env.TALLY_BIN;
const SOURCE_DIR = process.env.TALLY_SOURCE_DIR;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const COMETD_DIR = path.join(SOURCE_DIR, 'web/node_modules/cometd');

// The page of the other origin: logs in, creates a subscription, connects with cometd.
const PAGE = (tally) => `<!doctype html><meta charset="utf-8"><title>other origin</title>
<script type="module">
import { CometD } from './cometd/cometd.js';
const tally = ${JSON.stringify(tally)};
window.__got = [];
window.__errors = [];
try {
  const res = await fetch(tally + '/auth/v3/oauth/token', {
    method: 'POST',
    headers: { authorization: 'Basic ' + btoa('wallboard:wallboard-secret'),
               'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=password&username=supervisor&password=tally-demo&scope=*',
  });
  const { access_token: token } = await res.json();
  const cometd = new CometD();
  cometd.unregisterTransport('websocket');
  cometd.configure({ url: tally + '/statistics/v3/notifications',
                     requestHeaders: { Authorization: 'Bearer ' + token }, logLevel: 'warn' });
  await new Promise((resolve, reject) => cometd.handshake((r) => r.successful ? resolve() : reject(new Error(JSON.stringify(r)))));
  await new Promise((resolve) => cometd.subscribe('/statistics/v3/updates',
    (m) => window.__got.push(...m.data.data.statistics), resolve));
  const sub = await fetch(tally + '/statistics/v3/subscriptions', {
    method: 'POST', credentials: 'include',
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
    body: JSON.stringify({ operationId: 'cross-origin', data: { statistics: [
      { statisticId: 'state', objectId: 'agent050', objectType: 'Agent', name: 'CurrentAgentState' }] } }),
  });
  window.__subscribed = sub.status;
} catch (e) {
  window.__errors.push(String(e));
}
window.__ready = true;
</script>`;

// A page of an origin that is not listed: every call fails in the browser.
const DENIED_PAGE = (tally) => `<!doctype html><meta charset="utf-8"><title>not listed</title>
<script type="module">
const tally = ${JSON.stringify(tally)};
window.__outcome = {};
try {
  await fetch(tally + '/auth/v3/oauth/token', { method: 'POST',
    headers: { authorization: 'Basic ' + btoa('wallboard:wallboard-secret'), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=password&username=supervisor&password=tally-demo&scope=*' });
  window.__outcome.fetch = 'answered';
} catch (e) { window.__outcome.fetch = 'refused'; }
const ws = new WebSocket(tally.replace('http', 'ws') + '/statistics/v3/notifications');
ws.onopen = () => { window.__outcome.ws = 'open'; };
ws.onerror = () => { window.__outcome.ws = 'refused'; };
</script>`;

function pageServer(html) {
  const server = createServer((req, res) => {
    if (req.url.startsWith('/cometd/')) {
      const file = path.join(COMETD_DIR, path.basename(req.url));
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(readFileSync(file));
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(html());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let tally;
let tallyUrl;
let listed;
let unlisted;
let browser;
let pages = {};

before(async () => {
  listed = await pageServer(() => pages.listed);
  unlisted = await pageServer(() => pages.unlisted);
  const dir = mkdtempSync(path.join(tmpdir(), 'tally-cors-'));
  const demo = readFileSync(path.join(SOURCE_DIR, 'config/demo.toml'), 'utf8')
    .replace(/^\[simulator\][\s\S]*?(?=^\[)/m, '')
    .replace('catalog = "statistics.toml"', `catalog = "${path.join(SOURCE_DIR, 'config/statistics.toml')}"`)
    .replace(/^path = .*$/m, `path = "${path.join(dir, 'journal.db')}"`)
    .replace(/^\[server\]$/m, `[server]\ncors_allowed_origins = ["http://127.0.0.1:${listed.address().port}"]`);
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
  tally = proc;
  tallyUrl = `http://127.0.0.1:${port}`;
  pages = { listed: PAGE(tallyUrl), unlisted: DENIED_PAGE(tallyUrl) };
  browser = await chromium.launch({ executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});

after(async () => {
  await browser?.close();
  listed?.close();
  unlisted?.close();
  if (tally) {
    tally.kill('SIGTERM');
    await new Promise((r) => tally.on('exit', r));
  }
});

test('a listed origin logs in, subscribes and receives updates over CometD', async () => {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${listed.address().port}/`);
  await page.waitForFunction(() => window.__ready === true, null, { timeout: 15_000 });
  assert.deepEqual(await page.evaluate(() => window.__errors), []);
  assert.equal(await page.evaluate(() => window.__subscribed), 200);
  // An event for the agent, ingested by the test.
  const tok = await fetch(`${tallyUrl}/auth/v3/oauth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('simulator:ingest-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  const { access_token: ingestToken } = await tok.json();
  const r = await fetch(`${tallyUrl}/ingest/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/x-ndjson' },
    body: JSON.stringify({ type: 'EventAgentLogin', agentId: 'agent050', thisDN: '7050', placeId: 'place050' }),
  });
  assert.equal(r.status, 200);
  await page.waitForFunction(() => window.__got.some((s) => s.value.stringValue === 'LoggedIn'), null, { timeout: 10_000 });
  await page.close();
});

test('an origin that is not listed cannot read answers or open the WebSocket', async () => {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${unlisted.address().port}/`);
  await page.waitForFunction(() => window.__outcome.fetch && window.__outcome.ws, null, { timeout: 15_000 });
  assert.deepEqual(await page.evaluate(() => window.__outcome), { fetch: 'refused', ws: 'refused' });
  // The preflight itself is answered 403, naming the setting.
  const preflight = await fetch(`${tallyUrl}/auth/v3/oauth/token`, {
    method: 'OPTIONS',
    headers: { origin: `http://127.0.0.1:${unlisted.address().port}`, 'access-control-request-method': 'POST' },
  });
  assert.equal(preflight.status, 403);
  assert.match((await preflight.json()).status.message, /cors_allowed_origins/);
  await page.close();
});
