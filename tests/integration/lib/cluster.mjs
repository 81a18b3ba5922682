// A Tally cluster on this machine for the tests: a NATS JetStream cluster (Debian nats-server,
// one process per node, routes between them), Tally nodes with the JetStream journal, and
// HAProxy (Debian haproxy) in front. Loopback ports only; every process is stopped by PID
// (and killed when the test file ends, should a test fail first).
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after } from 'node:test';
import { startTally, tempDir, SOURCE_DIR } from './tally.mjs';

const live = new Set();
after(() => {
  for (const p of live) p.kill('SIGKILL');
});

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function listening(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

async function waitListening(port, what, ms = 15_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await listening(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on ${port}`);
}

async function waitLogLine(file, text, what, ms = 15_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    let log = '';
    try { log = readFileSync(file, 'utf8'); } catch { /* not written yet */ }
    if (log.includes(text)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: no "${text}" in its log`);
}

function track(proc) {
  live.add(proc);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    live.delete(proc);
    resolve({ code, signal });
  }));
  return exited;
}

// `n` nats-server processes in one cluster, JetStream on each. A port found free can be taken
// by another process before nats-server binds it (it then exits at once: "address already in
// use"); the cluster is then started again on other ports, up to three times.
export async function startNats(n = 3) {
  for (let attempt = 1; ; attempt++) {
    const nats = await startNatsOnce(n);
    try {
      await nats.ready;
      return nats;
    } catch (e) {
      await nats.stop();
      if (attempt === 3) throw e;
    }
  }
}

async function startNatsOnce(n) {
  const dir = tempDir('tally-nats-');
  const ports = [];
  const taken = new Set();
  const distinctPort = async () => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) { taken.add(p); return p; }
    }
  };
  for (let i = 0; i < n; i++) ports.push({ client: await distinctPort(), route: await distinctPort() });
  const nodes = ports.map((p, i) => {
    const name = `n${i + 1}`;
    const file = path.join(dir, `${name}.conf`);
    mkdirSync(path.join(dir, name), { recursive: true });
    const routes = ports.filter((_, j) => j !== i).map((q) => `nats-route://127.0.0.1:${q.route}`);
    writeFileSync(file, `server_name: ${name}
listen: 127.0.0.1:${p.client}
jetstream { store_dir: "${path.join(dir, name)}" }
${n > 1 ? `cluster { name: tally-test, listen: 127.0.0.1:${p.route}, routes: [${routes.join(', ')}] }` : ''}
`);
    const node = {
      name, port: p.client, url: `nats://127.0.0.1:${p.client}`, file, proc: null, exited: null,
      start() {
        const log = path.join(dir, `${name}.log`);
        this.proc = spawn('nats-server', ['-c', file, '-l', log], { stdio: 'ignore' });
        this.exited = track(this.proc);
        // Listening, or exited first (a port taken): then the log's last line says why.
        const died = this.exited.then(({ code, signal }) => {
          let last = '';
          try { last = readFileSync(log, 'utf8').trim().split('\n').at(-1); } catch { /* no log */ }
          throw new Error(`nats-server ${name} exited (${code ?? signal}) before it was ready: ${last}`);
        });
        // Ready: its client port answers and, in a cluster, its log says the route port is
        // bound (nats-server binds it after the client port, and exits if it is taken).
        const ready = (async () => {
          await waitListening(p.client, `nats-server ${name}`);
          if (n > 1) await waitLogLine(log, `Listening for route connections on 127.0.0.1:${p.route}`, `nats-server ${name}`);
        })();
        return Promise.race([ready, died]);
      },
      async kill() {
        if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
        await this.exited;
      },
    };
    return node;
  });
  const ready = Promise.all(nodes.map((x) => x.start()));
  ready.catch(() => {});  // awaited by startNats
  return {
    ready,
    nodes,
    urls: nodes.map((x) => x.url),
    async stop() { await Promise.all(nodes.map((x) => x.kill())); },
  };
}

// The [storage]/[jetstream]/[cluster] part of a Tally node's configuration.
export function clusterToml({ urls, node, replicas = 3, tenants = [], stream = 'TALLY', snapshotEvery = 1_000_000 }) {
  return `
[storage]
backend = "jetstream"
snapshot_every_events = ${snapshotEvery}
[jetstream]
servers = [${urls.map((u) => `"${u}"`).join(', ')}]
stream = "${stream}"
subject_prefix = "${stream.toLowerCase()}"
replicas = ${replicas}
timeout_ms = 3000
[cluster]
node = "${node}"
${tenants.length ? `tenants = [${tenants.map((t) => `"${t}"`).join(', ')}]` : ''}
apply_delay_ms = 250
`;
}

// A Tally node on a fixed port (HAProxy names it); `config(node)` gives its whole configuration.
export async function startNode({ name, config, port }) {
  const listen = `127.0.0.1:${port ?? await freePort()}`;
  const tally = await startTally({ config: config(name), listen });
  return Object.assign(tally, {
    name,
    async kill9() {
      if (tally.proc.exitCode === null && tally.proc.signalCode === null) tally.proc.kill('SIGKILL');
      await tally.exited;
    },
  });
}

// A shipped HAProxy file (deploy/haproxy) with this test's addresses: its bind line and each
// backend's server lines replaced (`backends`: backend name → [[server name, port]]), and,
// when given, the frontend's group rules (`route`: tenant → backend).
export function shippedHaproxy(name, port, backends, route = undefined) {
  const lines = readFileSync(path.join(SOURCE_DIR, 'deploy/haproxy', name), 'utf8').split('\n');
  const out = [];
  let backend;
  for (const line of lines) {
    const section = /^(\w+)\s*(\S*)/.exec(line);
    if (section) {
      if (backend && backends[backend]) out.push(...backends[backend].map(([n, p]) => `  server ${n} 127.0.0.1:${p} check`));
      backend = section[1] === 'backend' ? section[2] : undefined;
    }
    if (/^\s+bind /.test(line)) {
      out.push(`  bind 127.0.0.1:${port}`);
    } else if (/^\s+server /.test(line) && backend) {
      // replaced
    } else if (route && /^\s+(use_backend|default_backend) /.test(line)) {
      if (/default_backend/.test(line)) {
        out.push(...Object.entries(route).map(([t, b]) => `  use_backend ${b} if { var(txn.tenant) -m str ${t} }`));
        out.push(`  default_backend ${Object.values(route)[0]}`);
      }
    } else {
      out.push(line);
    }
  }
  if (backend && backends[backend]) out.push(...backends[backend].map(([n, p]) => `  server ${n} 127.0.0.1:${p} check`));
  return out.join('\n') + '\n';
}

// HAProxy in front of the given Tally ports, configured by deploy/haproxy/tally.cfg (the file
// operators use), or by `config` (the text of another).
export async function startHaproxy(ports, { config = undefined } = {}) {
  const dir = tempDir('tally-haproxy-');
  const port = await freePort();
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, config ? config(port) : shippedHaproxy('tally.cfg', port, { nodes: ports.map((p, i) => [`t${i + 1}`, p]) }));
  const proc = spawn('haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  const exited = track(proc);
  await waitListening(port, 'haproxy');
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

export const CATALOG_PATH = path.join(SOURCE_DIR, 'config/statistics.toml');
