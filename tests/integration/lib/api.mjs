// Helpers shared by the integration suites: tokens, REST calls and ingest against a real server.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { TALLY_BIN } from './tally.mjs';

const hashes = new Map();
// PBKDF2 hash from the real `tally hash-password` (cached: each call runs the binary).
export function hash(password) {
  if (!hashes.has(password)) {
    const r = spawnSync(TALLY_BIN, ['hash-password', '--iterations', '1000'], { input: `${password}\n`, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    hashes.set(password, r.stdout.trim());
  }
  return hashes.get(password);
}

export const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

// A token from /auth/v3/oauth/token: password grant when username is given, else client_credentials.
export async function getToken(url, { client, secret, username, password }) {
  const form = username
    ? { grant_type: 'password', username, password, scope: '*' }
    : { grant_type: 'client_credentials', scope: '*' };
  const res = await fetch(`${url}/auth/v3/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic(client, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.access_token;
}

// POSTs events (objects → NDJSON, or a raw string) to /ingest/v1/events.
export async function ingest(url, token, events, { key, contentType = 'application/x-ndjson' } = {}) {
  const body = typeof events === 'string' ? events : events.map((e) => JSON.stringify(e)).join('\n');
  const res = await fetch(`${url}/ingest/v1/events`, {
    method: 'POST',
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      'content-type': contentType,
      ...(key ? { 'idempotency-key': key } : {}),
    },
    body,
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json };
}

// A call to /statistics/v3.
export async function stats(url, token, method, path, body) {
  const res = await fetch(`${url}/statistics/v3${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json };
}

// Catalog statistic names of config/statistics.toml.
export function catalogNames(text) {
  // Sections are [Name] headers.
  return [...text.matchAll(/^\[([A-Za-z0-9_]+)\]\s*$/gm)].map((m) => m[1]);
}

// `[[auth.user]]` and `[[auth.client]]` tables: users as [name, tenant, roles], clients as
// [id, tenant ('' = multi-tenant), roles]; passwords are `<name>-pw`, secrets `<id>-secret`.
export function authToml({ users = [], clients = [] }) {
  const roles = (r) => r.map((x) => `"${x}"`).join(', ');
  const u = users.map(([name, tenant, r]) =>
    `[[auth.user]]\nname = "${name}"\ntenant = "${tenant}"\npassword_hash = "${hash(`${name}-pw`)}"\nroles = [${roles(r)}]\n`);
  const c = clients.map(([id, tenant, r]) =>
    `[[auth.client]]\nid = "${id}"\nsecret_hash = "${hash(`${id}-secret`)}"\n${tenant ? `tenant = "${tenant}"\n` : ''}roles = [${roles(r)}]\n`);
  return [...u, ...c].join('');
}
