// Foundation: the real binary on port 0 — health, metrics, errors, limits, timeouts, shutdown, CLI.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  startTally, runTally, writeConfig, rawExchange, metricsText, metricValue, SOURCE_DIR, TALLY_BIN,
} from './lib/tally.mjs';

const CONFIG = `
[server]
io_threads = 2
max_body_bytes = 1024
max_header_bytes = 2048
header_timeout_ms = 10000
idle_timeout_ms = 5000
shutdown_grace_ms = 5000
[log]
level = "info"
`;

describe('HTTP server', () => {
  let tally;
  before(async () => { tally = await startTally({ config: CONFIG }); });
  after(async () => { await tally.stop(); });

  test('GET /healthz answers 200', async () => {
    const res = await fetch(`${tally.url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok\n');
  });

  test('GET /readyz answers 200 once started', async () => {
    const res = await fetch(`${tally.url}/readyz`);
    assert.equal(res.status, 200);
  });

  test('unknown path is a 404 with the JSON error envelope', async () => {
    const res = await fetch(`${tally.url}/no/such/path`);
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type'), /application\/json/);
    const body = await res.json();
    assert.equal(body.status.code, 404);
    assert.match(body.status.message, /no such path: \/no\/such\/path/);
    assert.equal(body.path, '/no/such/path');
  });

  test('known path with the wrong method is a 405 with Allow', async () => {
    const res = await fetch(`${tally.url}/healthz`, { method: 'DELETE' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET');
  });

  test('an oversized body is refused with 413 naming the limit', async () => {
    const body = 'x'.repeat(5000);
    const { status, text } = await new Promise((resolve, reject) => {
      const req = http.request(`${tally.url}/healthz`, { method: 'POST', headers: { 'content-length': body.length } }, (res) => {
        let t = '';
        res.on('data', (d) => (t += d));
        res.on('end', () => resolve({ status: res.statusCode, text: t }));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(status, 413);
    assert.match(JSON.parse(text).status.message, /larger than the limit of 1024 bytes/);
  });

  test('an oversized chunked body is refused with 413 too', async () => {
    const chunk = 'y'.repeat(900);
    const raw = `POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `${chunk.length.toString(16)}\r\n${chunk}\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
    const answer = await rawExchange(tally.port, raw);
    assert.match(answer, /^HTTP\/1\.1 413 /);
  });

  test('an oversized header is refused with 431', async () => {
    const raw = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'z'.repeat(4000)}\r\n\r\n`;
    const answer = await rawExchange(tally.port, raw);
    assert.match(answer, /^HTTP\/1\.1 431 /);
  });

  test('garbage is answered 400 and the server keeps serving', async () => {
    const answer = await rawExchange(tally.port, 'THIS IS NOT HTTP\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.equal((await fetch(`${tally.url}/healthz`)).status, 200);
  });

  test('keep-alive serves pipelined requests in order', async () => {
    const one = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const last = 'GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const answer = await rawExchange(tally.port, one + one + last);
    const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '200', '200']);
    assert.ok(answer.lastIndexOf('ready') > answer.lastIndexOf('ok'));
  });

  test('/metrics reports requests by route and status, latency, connections and RSS', async () => {
    await fetch(`${tally.url}/healthz`);
    await fetch(`${tally.url}/nope`);
    const text = await metricsText(tally.url);
    assert.ok(metricValue(text, 'tally_http_requests_total{route="/healthz",method="GET",status="200"}') >= 1);
    assert.ok(metricValue(text, 'tally_http_requests_total{route="unmatched",method="GET",status="404"}') >= 1);
    assert.ok(metricValue(text, 'tally_http_request_duration_seconds_count{route="/healthz"}') >= 1);
    assert.ok(metricValue(text, 'tally_http_open_connections') >= 1);
    assert.ok(metricValue(text, 'process_resident_memory_bytes') > 1_000_000);
    assert.match(text, /# TYPE tally_http_request_duration_seconds histogram/);
  });
});

describe('slow clients', () => {
  // A server of its own with a short header deadline, so a loaded machine cannot make the
  // other tests' ordinary requests look slow.
  let tally;
  before(async () => {
    tally = await startTally({
      config: CONFIG.replace('header_timeout_ms = 10000', 'header_timeout_ms = 500\nbody_timeout_ms = 500')
        .replace('idle_timeout_ms = 5000', 'idle_timeout_ms = 1500'),
    });
  });
  after(async () => { await tally.stop(); });

  // One request on a raw keep-alive socket; resolves with the response text once it is whole.
  const exchange = (socket, request) => new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = /content-length: *(\d+)/i.exec(text);
      if (end >= 0 && length && text.length >= end + 4 + Number(length[1])) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(request);
  });

  test('a client that stops sending its body is disconnected (body_timeout_ms)', async () => {
    const before_ = metricValue(await metricsText(tally.url), 'tally_http_connections_timed_out_total');
    const socket = net.connect(tally.port, '127.0.0.1');
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.on('error', () => {});
    socket.write('POST /healthz HTTP/1.1\r\nHost: slow\r\nContent-Length: 100\r\n\r\n0123456789');
    await closed;
    const after_ = metricValue(await metricsText(tally.url), 'tally_http_connections_timed_out_total');
    assert.ok(after_ >= before_ + 1, `timed-out counter ${before_} -> ${after_}`);
  });

  test('an idle keep-alive connection is closed after idle_timeout_ms; a busy one is not', async () => {
    const idle = net.connect(tally.port, '127.0.0.1');
    const busy = net.connect(tally.port, '127.0.0.1');
    let idleClosedAt = 0;
    let busyClosed = false;
    idle.on('close', () => { idleClosedAt = Date.now(); });
    busy.on('close', () => { busyClosed = true; });
    idle.on('error', () => {});
    busy.on('error', () => {});
    const request = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    assert.match(await exchange(idle, request), /^HTTP\/1.1 200/);
    const idleSince = Date.now();
    // The busy connection asks every 300 ms for 3 s: each request moves its deadline on.
    for (let i = 0; i < 10; ++i) {
      assert.match(await exchange(busy, request), /^HTTP\/1.1 200/);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.ok(idleClosedAt > 0, 'the idle connection is still open after 3 s (idle_timeout_ms = 1500)');
    assert.ok(idleClosedAt - idleSince >= 1400, `closed after ${idleClosedAt - idleSince} ms, before its deadline`);
    assert.equal(busyClosed, false, 'the busy connection was closed');
    busy.destroy();
  });

  test('a client that never finishes its header is disconnected; others are served meanwhile', async () => {
    const before_ = metricValue(await metricsText(tally.url), 'tally_http_connections_timed_out_total');
    const socket = net.connect(tally.port, '127.0.0.1');
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.on('error', () => {});
    socket.write('GET /healthz HTTP/1.1\r\nHost: slow\r\n');  // and never the blank line
    assert.equal((await fetch(`${tally.url}/healthz`)).status, 200);
    await closed;  // the server hangs up on the slow client (header_timeout_ms = 500)
    const after_ = metricValue(await metricsText(tally.url), 'tally_http_connections_timed_out_total');
    assert.ok(after_ >= before_ + 1, `timed-out counter ${before_} -> ${after_}`);
  });

});

describe('shutdown', () => {
  test('SIGTERM closes idle keep-alive connections and exits 0', async () => {
    const tally = await startTally({ config: CONFIG });
    // An idle keep-alive connection must not hold the shutdown.
    const socket = net.connect(tally.port, '127.0.0.1');
    socket.on('error', () => {});
    const closed = new Promise((resolve) => socket.on('close', resolve));
    await new Promise((resolve) => socket.on('connect', resolve));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    const { code, signal } = await tally.stop('SIGTERM');
    assert.equal(signal, null);
    assert.equal(code, 0);
    await closed;
    assert.match(tally.output(), /tally stopped/);
  });
});

describe('command line', () => {
  test('check-config accepts the shipped demo config', () => {
    const r = runTally(['check-config', path.join(SOURCE_DIR, 'config/demo.toml')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ok/);
  });

  test('check-config names the line of a typo\'d key and exits 1', () => {
    const file = writeConfig('[server]\nlisten = "127.0.0.1:8080"\nio_thraeds = 2\n');
    const r = runTally(['check-config', file]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /tally\.toml:3:1: server\.io_thraeds: unknown key/);
  });

  test('serve refuses an invalid config with exit 1', () => {
    const file = writeConfig('[server]\nio_threads = "many"\n');
    const r = runTally(['serve', '--config', file]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /server\.io_threads: expected an integer/);
  });

  test('hash-password prints a PBKDF2 hash of standard input', () => {
    const r = spawnSync(TALLY_BIN, ['hash-password', '--iterations', '1000'], { input: 'pa55word\n', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^pbkdf2-sha256\$1000\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\n$/);
    const empty = spawnSync(TALLY_BIN, ['hash-password'], { input: '', encoding: 'utf8' });
    assert.equal(empty.status, 1);
    assert.match(empty.stderr, /no password/);
  });

  test('version prints the version', () => {
    const r = runTally(['version']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^tally \d+\.\d+\.\d+/);
  });

  test('--help works on every subcommand', () => {
    for (const args of [['--help'], ['serve', '--help'], ['check-config', '--help'], ['version', '--help'], ['hash-password', '--help']]) {
      const r = runTally(args);
      assert.equal(r.status, 0, args.join(' '));
      assert.match(r.stdout, /Usage|usage/);
    }
  });
});

describe('TLS', () => {
  test('serves HTTPS with the configured certificate and refuses plain HTTP on that port', async () => {
    const { tempDir } = await import('./lib/tally.mjs');
    const fs = await import('node:fs');
    const https = await import('node:https');
    const dir = tempDir();
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1',
      '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`], { encoding: 'utf8' });
    assert.equal(gen.status, 0, gen.stderr);
    const tally = await startTally({ config: `${CONFIG}\n`.replace('[server]', `[server]\ntls_cert_file = "${dir}/cert.pem"\ntls_key_file = "${dir}/key.pem"`) });
    try {
      assert.match(tally.output(), /listening on https:/);
      const body = await new Promise((resolve, reject) => {
        https.get({ host: '127.0.0.1', port: tally.port, path: '/healthz', ca: fs.readFileSync(`${dir}/cert.pem`) }, (res) => {
          let t = '';
          res.on('data', (d) => (t += d));
          res.on('end', () => resolve(`${res.statusCode} ${t}`));
        }).on('error', reject);
      });
      assert.equal(body, '200 ok\n');
      const plain = await rawExchange(tally.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.doesNotMatch(plain, /^HTTP\/1\.1 200/);
    } finally {
      await tally.stop();
    }
  });

  test('check-config wants both the certificate and the key', () => {
    const file = writeConfig('[server]\ntls_cert_file = "cert.pem"\n');
    const r = runTally(['check-config', file]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /TLS needs both tls_cert_file and tls_key_file/);
  });
});
