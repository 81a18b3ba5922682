// Shared setup for the CometD suites: a server with short notification timeouts, a supervisor
// and a second user, an ingest client, and small helpers.
import path from 'node:path';
import { SOURCE_DIR } from './tally.mjs';
import { authToml, getToken, ingest } from './api.mjs';
import { STREAM_TENANT } from './stream.mjs';

export function notifyConfig({ db = '', bench = false, timeoutMs = 3000, maxIntervalMs = 2000, clock = 'wall', maxSessions = 0, maxQueue = 0 } = {}) {
  return `
[statistics]
catalog = "${path.join(SOURCE_DIR, 'config/statistics.toml')}"
[engine]
clock = "${clock}"
${db ? `[storage]\npath = "${db}"\n` : ''}
[notifications]
timeout_ms = ${timeoutMs}
max_interval_ms = ${maxIntervalMs}
bench_channels = ${bench}
${maxSessions ? `max_sessions_per_principal = ${maxSessions}` : ''}
${maxQueue ? `max_queue = ${maxQueue}` : ''}
[auth]
secret = "notify-test-signing-key-0123456789abcdef"
${authToml({
    users: [['sup', 'acme', ['statistics:read']], ['other', 'acme', ['statistics:read']]],
    clients: [['board', 'acme', ['statistics:read']], ['feeder', 'acme', ['events:write']]],
  })}
${STREAM_TENANT}
`;
}

export const userToken = (url, username = 'sup', password = 'sup-pw') =>
  getToken(url, { client: 'board', secret: 'board-secret', username, password });
export const feederToken = (url) => getToken(url, { client: 'feeder', secret: 'feeder-secret' });

// Sends events stamped "now" (wall clock), one ms apart.
let lastTime = 0;
export async function feed(url, token, events) {
  const stamped = events.map((e) => {
    lastTime = Math.max(lastTime + 1, Date.now());
    return { time: lastTime, ...e };
  });
  const r = await ingest(url, token, stamped);
  if (r.status !== 200) throw new Error(`ingest failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

// Resolves when `predicate()` is truthy (polled), rejects after `ms`.
export async function waitFor(predicate, ms = 10_000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await predicate();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A cometd client extension that presents the token in ext.authorization of every /meta/connect
// (what WebSocket clients do to resume a session on a new socket).
export function authExtension(token) {
  return {
    outgoing(message) {
      if (message.channel === '/meta/connect') {
        message.ext = { ...(message.ext ?? {}), authorization: `Bearer ${token()}` };
      }
      return message;
    },
  };
}
