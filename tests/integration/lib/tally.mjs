// Starts the real tally binary on port 0 and tells the test where it listens.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { after } from 'node:test';
import { installContract } from './contract.mjs';

// Every answer a test fetches is checked against docs/openapi.yaml (lib/contract.mjs).
const contractViolations = installContract();

// Servers still running when a test file ends (a test failed before stopping its server) are
// killed, so a failure cannot keep the file's process alive until the suite's timeout.
const live = new Set();
after(() => {
  for (const p of live) p.kill('SIGKILL');
  if (contractViolations.length > 0) {
    throw new Error(`answers left docs/openapi.yaml:\n${contractViolations.join('\n')}`);
  }
});

export const TALLY_BIN = process.env.TALLY_BIN;
export const SOURCE_DIR = process.env.TALLY_SOURCE_DIR ?? path.resolve(import.meta.dirname ?? '.', '../../..');
if (!TALLY_BIN) throw new Error('TALLY_BIN must point at the tally binary (ctest sets it)');

export function tempDir(prefix = 'tally-test-') {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export function writeConfig(text) {
  const file = path.join(tempDir(), 'tally.toml');
  writeFileSync(file, text);
  return file;
}

export function runTally(args) {
  return spawnSync(TALLY_BIN, args, { encoding: 'utf8', timeout: 30_000 });
}

// Starts `tally serve` and resolves once it listens and (unless waitReady is false) has
// finished recovery. `configFile` reuses a config (restarts); `listen` pins the address; `env`
// adds environment variables.
export async function startTally({
  config = '',
  configFile = undefined,
  extraArgs = [],
  waitReady = true,
  listen = '127.0.0.1:0',
  env = undefined,
} = {}) {
  const file = configFile ?? writeConfig(config);
  const proc = spawn(TALLY_BIN, ['serve', '--config', file, '--listen', listen, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ? { ...process.env, ...env } : process.env,
  });
  let output = '';
  live.add(proc);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    live.delete(proc);
    resolve({ code, signal });
  }));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tally did not start:\n${output}`)), 30_000);
    const onData = (chunk) => {
      output += chunk;
      const m = /listening on https?:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (m && (!waitReady || /\bready\s*$/m.test(output))) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`tally exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    port,
    configFile: file,
    url: `http://127.0.0.1:${port}`,
    proc,
    output: () => output,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

// Sends raw bytes and collects everything the server answers until it closes the connection.
export function rawExchange(port, bytes, { endAfterWrite = false } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (d) => (data += d));
    // A server that hangs up early (a reset, or a write into a closed socket) is an answer too.
    socket.on('error', (e) => (['ECONNRESET', 'EPIPE'].includes(e.code) ? resolve(data) : reject(e)));
    socket.on('close', () => resolve(data));
    socket.write(bytes, () => endAfterWrite && socket.end());
  });
}

export async function metricsText(url) {
  const res = await fetch(`${url}/metrics`);
  return res.text();
}

// Value of one sample line in Prometheus text (exact name{labels}), or undefined.
export function metricValue(text, sample) {
  for (const line of text.split('\n')) {
    if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}
