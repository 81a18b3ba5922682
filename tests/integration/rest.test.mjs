// REST API v3 and /auth/v3 against the real binary: happy paths, the error matrix, limits and
// tenant isolation. (The official Genesys client needs CometD for initialize(); its tests come
// with the CometD issue.)
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startTally } from './lib/tally.mjs';
import { hash } from './lib/api.mjs';

const SECRET = 'integration-test-signing-key-0123456789';

function config({ apiKeys = [], rps = 1000, maxBody = 65536 } = {}) {
  const users = [['acme', 'ann'], ['acme', 'bob'], ['globex', 'gus'], ['globex', 'gil']]
    .map(([tenant, name]) => `[[auth.user]]\nname = "${name}"\ntenant = "${tenant}"\npassword_hash = "${hash(`${name}-pw`)}"\nroles = ["statistics:read"]\n`).join('\n');
  return `
[server]
max_body_bytes = ${maxBody}
[statistics]
catalog = "${process.env.TALLY_SOURCE_DIR}/config/statistics.toml"
[auth]
secret = "${SECRET}"
api_keys = [${apiKeys.map((k) => `"${k}"`).join(', ')}]
${users}
[[auth.client]]
id = "app"
secret_hash = "${hash('app-secret')}"
tenant = "acme"
roles = ["statistics:read"]
[limits]
statistics_per_request = 5
statistics_per_subscription = 5
subscriptions_per_principal = 3
requests_per_second = ${rps}
[[tenant]]
name = "acme"
agents = ["a1", "a2"]
queues = ["8001"]
[[tenant.place]]
id = "p1"
dns = ["7001"]
[[tenant.group]]
type = "GroupAgents"
name = "sales"
members = ["a1", "a2"]
[[tenant]]
name = "globex"
agents = ["g1"]
queues = ["9001"]
`;
}

const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function token(url, username, password, { client = ['app', 'app-secret'], grant = 'password', extra = {} } = {}) {
  const body = new URLSearchParams({ grant_type: grant, username, password, scope: '*', ...extra });
  const res = await fetch(`${url}/auth/v3/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic(...client), 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  return { status: res.status, body: await res.json() };
}

function sign(payload, secret = SECRET) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

async function call(url, tok, method, path, body, headers = {}) {
  const res = await fetch(`${url}/statistics/v3${path}`, {
    method,
    headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json };
}

describe('auth', () => {
  let tally;
  before(async () => { tally = await startTally({ config: config() }); });
  after(async () => { await tally.stop(); });

  test('password grant with tenant\\user and with a plain name', async () => {
    for (const username of ['acme\\ann', 'ann']) {
      const r = await token(tally.url, username, 'ann-pw');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.token_type, 'bearer');
      assert.equal(r.body.scope, '*');
      assert.ok(r.body.expires_in > 0);
      assert.ok(r.body.access_token && r.body.refresh_token);
    }
  });

  test('bad credentials, client, grant and scope are refused with OAuth errors', async () => {
    let r = await token(tally.url, 'ann', 'wrong');
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
    r = await token(tally.url, 'globex\\ann', 'ann-pw');  // ann is not in globex
    assert.equal(r.status, 400);
    r = await token(tally.url, 'ann', 'ann-pw', { client: ['app', 'nope'] });
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'invalid_client');
    r = await token(tally.url, 'ann', 'ann-pw', { grant: 'magic' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'unsupported_grant_type');
    r = await token(tally.url, 'ann', 'ann-pw', { extra: { scope: 'everything' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_scope');
    const res = await fetch(`${tally.url}/auth/v3/oauth/token`, { method: 'POST', body: 'grant_type=password' });
    assert.equal(res.status, 401);
  });

  test('client_credentials and refresh_token grants', async () => {
    const cc = await token(tally.url, '', '', { grant: 'client_credentials' });
    assert.equal(cc.status, 200);
    const refreshed = await token(tally.url, '', '', { grant: 'refresh_token', extra: { refresh_token: cc.body.refresh_token } });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const misuse = await token(tally.url, '', '', { grant: 'refresh_token', extra: { refresh_token: cc.body.access_token } });
    assert.equal(misuse.status, 400);
    // A refresh token is not an access token.
    const r = await call(tally.url, cc.body.refresh_token, 'GET', '/statistic-values/Current_In_Queue?objectId=8001&objectType=Queue');
    assert.equal(r.status, 401);
  });

  test('userinfo names the user and the contact center', async () => {
    const t = (await token(tally.url, 'acme\\bob', 'bob-pw')).body.access_token;
    const res = await fetch(`${tally.url}/auth/v3/userinfo`, { headers: { authorization: `bearer ${t}` } });
    assert.equal(res.status, 200);
    const info = await res.json();
    assert.equal(info.username, 'acme\\bob');
    assert.equal(info.contactCenterId, 'acme');
    assert.deepEqual(info.authorities, ['statistics:read']);
  });
});

describe('statistics endpoints', () => {
  let tally;
  let ann;
  before(async () => {
    tally = await startTally({ config: config() });
    ann = (await token(tally.url, 'acme\\ann', 'ann-pw')).body.access_token;
  });
  after(async () => { await tally.stop(); });

  test('statistic-values peeks one catalog statistic (scheme in any case, JSON content type on GET)', async () => {
    const res = await fetch(`${tally.url}/statistics/v3/statistic-values/CurrentAgentState?objectId=a1&objectType=Agent`, {
      headers: { authorization: `bEaReR ${ann}`, 'content-type': 'application/json' },
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status.code, 0);
    const s = body.data.statistic;
    assert.equal(s.name, 'CurrentAgentState');
    assert.equal(s.value.intValue, 23);
    assert.equal(s.value.stringValue, 'LoggedOut');
    assert.equal(s.value.agentStatus.agentId, 'a1');
    assert.equal(typeof s.timestamp, 'number');
  });

  test('get-statistic-ex peeks many; per-statistic failures go to errors[]', async () => {
    const r = await call(tally.url, ann, 'POST', '/operations/get-statistic-ex', { data: { statistics: [
      { name: 'CurrentReadyAgents', objectType: 'GroupAgents', objectId: 'sales' },
      { name: 'Current_In_Queue', objectType: 'Queue', objectId: '8001@default' },
      { name: 'NoSuchStatistic', objectType: 'Agent', objectId: 'a1' },
      { name: 'TimeInCurrentState', objectType: 'Agent', objectId: 'nobody' },
    ] } });
    assert.equal(r.status, 200);
    assert.equal(r.body.data.statistics.length, 2);
    assert.deepEqual(r.body.data.statistics.map((s) => s.value.intValue), [0, 0]);
    assert.equal(r.body.errors.length, 2);
    assert.match(r.body.errors[0].status.message, /data\.statistics\[2\].*NoSuchStatistic.*not in the catalog/);
    assert.equal(r.body.errors[1].status.code, 404);
    assert.match(r.body.errors[1].status.message, /Agent 'nobody' does not exist/);
  });

  test('subscriptions: create (catalog + ad-hoc), peek with both id encodings, verbose, delete', async () => {
    const create = await call(tally.url, ann, 'POST', '/subscriptions?verbose=INFO', {
      operationId: 'op-1',
      data: { statistics: [
        { statisticId: 's1', objectId: 'a1', objectType: 'Agent', name: 'CurrentAgentState', definition: null },
        { statisticId: 's2', objectId: '8001', objectType: 'Queue', name: null,
          definition: { category: 'CurrentNumber', subject: 'DNAction', mainMask: 'CallWait', notificationMode: 'PERIODICAL', notificationFrequency: '5', insensitivity: 1 } },
        { statisticId: 's3', objectId: '8001', objectType: 'Queue', definition: { category: 'CurrentNumber', mainMask: 'NoSuchAction' } },
      ] },
    });
    assert.equal(create.status, 200, JSON.stringify(create.body));
    assert.equal(create.body.data.subscriptionId, 'op-1');
    assert.equal(create.body.data.operationId, 'op-1');
    assert.deepEqual(create.body.data.statistics.map((s) => s.statisticId), ['s1', 's2']);
    assert.equal(create.body.data.statistics[0].name, 'CurrentAgentState');
    assert.equal(create.body.data.statistics[1].objectType, 'Queue');
    assert.match(create.body.errors[0].status.message, /statisticId 's3': mainMask: unknown action 'NoSuchAction'/);

    let peek = await call(tally.url, ann, 'GET', '/subscriptions/op-1/statistic-values');
    assert.deepEqual(peek.body.data.statistics.map((s) => s.statisticId), ['s1', 's2']);
    peek = await call(tally.url, ann, 'GET', '/subscriptions/op-1/statistic-values?statisticIds=s2,s1');
    assert.deepEqual(peek.body.data.statistics.map((s) => s.statisticId), ['s2', 's1']);
    peek = await call(tally.url, ann, 'GET', '/subscriptions/op-1/statistic-values?statisticIds=s2&statisticIds=s1&verbose=OFF');
    assert.deepEqual(peek.body.data.statistics.map((s) => s.statisticId), ['s2', 's1']);
    assert.equal(peek.body.data.statistics[0].objectId, undefined);  // verbose OFF
    assert.equal(peek.body.data.statistics[0].value.intValue, 0);

    const dup = await call(tally.url, ann, 'POST', '/subscriptions', { operationId: 'op-1', data: { statistics: [] } });
    assert.equal(dup.status, 409);
    assert.match(dup.body.status.message, /operationId/);

    const del = await call(tally.url, ann, 'DELETE', '/subscriptions/op-1');
    assert.equal(del.status, 200);
    assert.equal(del.body.status.code, 0);
    assert.equal((await call(tally.url, ann, 'GET', '/subscriptions/op-1/statistic-values')).status, 404);
    assert.equal((await call(tally.url, ann, 'DELETE', '/subscriptions/never-existed')).status, 200);
  });

  test('error matrix: each answer names the field and the server keeps serving', async () => {
    const cases = [
      ['POST', '/operations/get-statistic-ex', '{not json', 400, /malformed JSON/],
      ['POST', '/operations/get-statistic-ex', '[1]', 400, /must be an object/],
      ['POST', '/operations/get-statistic-ex', { data: {} }, 400, /data\.statistics/],
      ['POST', '/operations/get-statistic-ex', { data: { statistics: [{ name: 'X', objectType: 'Agent' }] } }, 400, /data\.statistics\[0\]\.objectId' is required/],
      ['POST', '/operations/get-statistic-ex', { data: { statistics: [{ name: 5, objectType: 'Agent', objectId: 'a1' }] } }, 400, /data\.statistics\[0\]\.name' must be a string/],
      ['POST', '/operations/get-statistic-ex', { data: { statistics: [{ name: 'X', objectType: 'Spaceship', objectId: 'a1' }] } }, 400, /unknown object type 'Spaceship'/],
      ['POST', '/operations/get-statistic-ex', { data: { statistics: Array(6).fill({ name: 'X', objectType: 'Agent', objectId: 'a1' }) } }, 400, /more than 5 entries/],
      ['GET', '/statistic-values/CurrentAgentState?objectType=Agent', undefined, 400, /query 'objectId' is required/],
      ['GET', '/statistic-values/Nope?objectType=Agent&objectId=a1', undefined, 404, /not in the catalog/],
      ['GET', '/statistic-values/Current_In_Queue?objectType=Agent&objectId=a1', undefined, 400, /does not apply to Agent/],
      ['POST', '/subscriptions', { data: { statistics: [] } }, 400, /operationId' is required/],
      ['POST', '/subscriptions?verbose=LOUD', { operationId: 'x', data: { statistics: [] } }, 400, /verbose/],
      ['POST', '/subscriptions', { operationId: 'x', data: { statistics: [{ statisticId: 's', objectId: 'a1', objectType: 'Agent' }] } }, 400, /exactly one of 'name' and 'definition'/],
      ['POST', '/subscriptions', { operationId: 'x', data: { statistics: [{ statisticId: 's', objectId: 'a1', objectType: 'Agent', definition: 'CurrentNumber' }] } }, 400, /definition' must be an object/],
      ['POST', '/subscriptions', { operationId: 'x', data: { statistics: [{ statisticId: 's', objectId: 'a1', objectType: 'Agent', name: 'A' }, { statisticId: 's', objectId: 'a1', objectType: 'Agent', name: 'B' }] } }, 400, /used twice/],
      ['GET', '/subscriptions/unknown/statistic-values', undefined, 404, /does not exist/],
    ];
    for (const [method, path, body, status, message] of cases) {
      const r = await call(tally.url, ann, method, path, body);
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.notEqual(r.body.status.code, 0);
      assert.match(r.body.status.message, message, `${method} ${path}`);
      assert.equal(typeof r.body.path, 'string');
    }
    // An ad-hoc definition error names the definition field, inside errors[].
    const bad = await call(tally.url, ann, 'POST', '/subscriptions', { operationId: 'bad-def', data: { statistics: [
      { statisticId: 's', objectId: '8001', objectType: 'Queue', definition: { category: 'TotalNumber', mainMask: 'CallEntered', dynamicTimeProfile: '25:99' } },
    ] } });
    assert.match(bad.body.errors[0].status.message, /dynamicTimeProfile/);
    assert.equal((await call(tally.url, ann, 'GET', '/statistic-values/Current_In_Queue?objectType=Queue&objectId=8001')).status, 200);
  });

  test('limits: subscriptions per principal and statistics per subscription', async () => {
    const stat = (i) => ({ statisticId: `s${i}`, objectId: '8001', objectType: 'Queue', name: 'Current_In_Queue' });
    const tooMany = await call(tally.url, ann, 'POST', '/subscriptions', { operationId: 'big', data: { statistics: [0, 1, 2, 3, 4, 5].map(stat) } });
    assert.equal(tooMany.status, 400);
    assert.match(tooMany.body.status.message, /statistics per subscription/);
    const bob = (await token(tally.url, 'acme\\bob', 'bob-pw')).body.access_token;
    for (let i = 0; i < 3; i++) {
      assert.equal((await call(tally.url, bob, 'POST', '/subscriptions', { operationId: `b${i}`, data: { statistics: [stat(0)] } })).status, 200);
    }
    const fourth = await call(tally.url, bob, 'POST', '/subscriptions', { operationId: 'b3', data: { statistics: [stat(0)] } });
    assert.equal(fourth.status, 400);
    assert.match(fourth.body.status.message, /subscriptions \(the limit\)/);
  });

  test('tokens: missing, forged, expired, wrong tenant claim and missing role', async () => {
    const path = '/statistic-values/Current_In_Queue?objectType=Queue&objectId=8001';
    const now = Math.floor(Date.now() / 1000);
    const good = { sub: 'ann', tenant: 'acme', roles: ['statistics:read'], iss: 'tally', aud: 'tally', use: 'access', iat: now, exp: now + 600 };
    const cases = [
      [undefined, 401, /Authorization: Bearer/],
      ['garbage', 401, /not a JWT/],
      [sign(good, 'another-secret-another-secret-xx'), 401, /signature is invalid/],
      [sign({ ...good, exp: now - 3600 }), 401, /expired/],
      [sign({ ...good, iss: 'evil' }), 401, /issuer/],
      [sign({ ...good, tenant: undefined }), 403, /not bound to a tenant/],
      [sign({ ...good, roles: ['events:write'] }), 403, /statistics:read/],
    ];
    for (const [tok, status, message] of cases) {
      const r = await call(tally.url, tok, 'GET', path);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.match(r.body.status.message, message);
    }
    assert.equal((await call(tally.url, sign(good), 'GET', path)).status, 200);
  });
});

describe('tenant isolation', () => {
  let tally;
  const tok = {};
  before(async () => {
    tally = await startTally({ config: config() });
    for (const [user, tenant] of [['ann', 'acme'], ['bob', 'acme'], ['gus', 'globex'], ['gil', 'globex']]) {
      tok[user] = (await token(tally.url, `${tenant}\\${user}`, `${user}-pw`)).body.access_token;
    }
  });
  after(async () => { await tally.stop(); });

  test('no read, peek or delete crosses a tenant or a user', async () => {
    const sub = { operationId: 'shared-name', data: { statistics: [{ statisticId: 's', objectId: '8001', objectType: 'Queue', name: 'Current_In_Queue' }] } };
    assert.equal((await call(tally.url, tok.ann, 'POST', '/subscriptions', sub)).status, 200);
    // The same operationId by others is their own subscription, not a conflict.
    const gusSub = { operationId: 'shared-name', data: { statistics: [{ statisticId: 's', objectId: '9001', objectType: 'Queue', name: 'Current_In_Queue' }] } };
    assert.equal((await call(tally.url, tok.gus, 'POST', '/subscriptions', gusSub)).status, 200);
    for (const other of ['bob', 'gil']) {
      assert.equal((await call(tally.url, tok[other], 'GET', '/subscriptions/shared-name/statistic-values')).status, 404, other);
      assert.equal((await call(tally.url, tok[other], 'DELETE', '/subscriptions/shared-name')).status, 200, other);
    }
    // Deletes by others changed nothing.
    const annPeek = await call(tally.url, tok.ann, 'GET', '/subscriptions/shared-name/statistic-values?verbose=INFO');
    assert.equal(annPeek.status, 200);
    assert.equal(annPeek.body.data.statistics[0].objectId, '8001');
    const gusPeek = await call(tally.url, tok.gus, 'GET', '/subscriptions/shared-name/statistic-values?verbose=INFO');
    assert.equal(gusPeek.body.data.statistics[0].objectId, '9001');
    // Objects resolve in the caller's tenant only.
    assert.equal((await call(tally.url, tok.gus, 'GET', '/statistic-values/Current_In_Queue?objectType=Queue&objectId=8001')).status, 404);
    assert.equal((await call(tally.url, tok.ann, 'GET', '/statistic-values/Current_In_Queue?objectType=Queue&objectId=9001')).status, 404);
    assert.equal((await call(tally.url, tok.ann, 'GET', '/statistic-values/Current_In_Queue?objectType=Queue&objectId=8001')).status, 200);
  });
});

describe('api keys, body size and rate limits', () => {
  let tally;
  let ann;
  before(async () => {
    tally = await startTally({ config: config({ apiKeys: ['k-123'], rps: 5, maxBody: 2048 }) });
    ann = (await token(tally.url, 'ann', 'ann-pw')).body.access_token;
  });
  after(async () => { await tally.stop(); });

  test('x-api-key is enforced when keys are configured', async () => {
    const path = '/statistic-values/Current_In_Queue?objectType=Queue&objectId=8001';
    let r = await call(tally.url, ann, 'GET', path);
    assert.equal(r.status, 401);
    assert.match(r.body.status.message, /x-api-key/);
    r = await call(tally.url, ann, 'GET', path, undefined, { 'x-api-key': 'wrong' });
    assert.equal(r.status, 401);
    r = await call(tally.url, ann, 'GET', path, undefined, { 'x-api-key': 'k-123' });
    assert.equal(r.status, 200);
  });

  test('an oversized body is a 413', async () => {
    const r = await call(tally.url, ann, 'POST', '/operations/get-statistic-ex', JSON.stringify({ pad: 'x'.repeat(5000) }), { 'x-api-key': 'k-123' });
    assert.equal(r.status, 413);
  });

  test('more requests per second than allowed get 429 with Retry-After', async () => {
    const path = '/statistic-values/Current_In_Queue?objectType=Queue&objectId=8001';
    const statuses = [];
    for (let i = 0; i < 30; i++) statuses.push((await call(tally.url, ann, 'GET', path, undefined, { 'x-api-key': 'k-123' })).status);
    assert.ok(statuses.includes(200));
    assert.ok(statuses.includes(429), statuses.join(','));
  });
});

describe('external identity provider (JWKS)', () => {
  let tally;
  const idp = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

  function external(key, alg, kid, claims) {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${b64({ alg, kid, typ: 'JWT' })}.${b64(claims)}`;
    const sig = crypto.sign('sha256', Buffer.from(input), alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key);
    return `${input}.${sig.toString('base64url')}`;
  }

  before(async () => {
    const dir = (await import('./lib/tally.mjs')).tempDir();
    const fs = await import('node:fs');
    const jwks = { keys: [
      { ...idp.publicKey.export({ format: 'jwk' }), kid: 'idp-ec', alg: 'ES256' },
      { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'idp-rsa', alg: 'RS256' },
    ] };
    fs.writeFileSync(`${dir}/jwks.json`, JSON.stringify(jwks));
    tally = await startTally({ config: config().replace('[auth]', `[auth]\njwks_file = "${dir}/jwks.json"\nexternal_issuer = "https://idp.example"\nexternal_audience = "tally"`) });
  });
  after(async () => { await tally.stop(); });

  test('RS256 and ES256 tokens from the configured JWKS are accepted; others are not', async () => {
    const path = '/statistic-values/Current_In_Queue?objectType=Queue&objectId=8001';
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'sso-user', tenant: 'acme', iss: 'https://idp.example', aud: 'tally', iat: now, exp: now + 300 };
    assert.equal((await call(tally.url, external(idp.privateKey, 'ES256', 'idp-ec', claims), 'GET', path)).status, 200);
    assert.equal((await call(tally.url, external(rsa.privateKey, 'RS256', 'idp-rsa', claims), 'GET', path)).status, 200);
    const forged = await call(tally.url, external(stranger.privateKey, 'ES256', 'idp-ec', claims), 'GET', path);
    assert.equal(forged.status, 401);
    assert.match(forged.body.status.message, /signature is invalid/);
    const wrongIssuer = await call(tally.url, external(idp.privateKey, 'ES256', 'idp-ec', { ...claims, iss: 'https://evil' }), 'GET', path);
    assert.equal(wrongIssuer.status, 401);
    const otherTenant = await call(tally.url, external(idp.privateKey, 'ES256', 'idp-ec', { ...claims, tenant: 'globex' }), 'GET', path);
    assert.equal(otherTenant.status, 404);  // 8001 does not exist in globex
  });
});

describe('generated signing key', () => {
  test('is created on first start (0600) and reused, so tokens survive a restart', async () => {
    const { tempDir } = await import('./lib/tally.mjs');
    const fs = await import('node:fs');
    const dir = tempDir();
    const cfg = config().replace(`secret = "${SECRET}"`, `secret_file = "${dir}/jwt.key"`);
    let tally = await startTally({ config: cfg });
    const t = (await token(tally.url, 'ann', 'ann-pw')).body.access_token;
    await tally.stop();
    assert.equal(fs.statSync(`${dir}/jwt.key`).mode & 0o777, 0o600);
    tally = await startTally({ config: cfg });
    try {
      const r = await call(tally.url, t, 'GET', '/statistic-values/Current_In_Queue?objectType=Queue&objectId=8001');
      assert.equal(r.status, 200, JSON.stringify(r.body));
    } finally {
      await tally.stop();
    }
  });
});
