// The OpenAPI document (docs/openapi.yaml): the server serves exactly the file, and the
// contract check that every suite's fetch goes through (lib/contract.mjs) refuses answers that
// leave the document — shown here on doctored answers, so the check is known to be able to fail.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { startTally, SOURCE_DIR } from './lib/tally.mjs';
import { ContractError, loadContract, makeContract } from './lib/contract.mjs';

const DOC_TEXT = readFileSync(path.join(SOURCE_DIR, 'docs/openapi.yaml'), 'utf8');

describe('the served document', () => {
  let tally;
  before(async () => { tally = await startTally({ config: '' }); });
  after(async () => { await tally.stop(); });

  test('GET /statistics/v3/openapi.yaml answers docs/openapi.yaml byte for byte, without a token', async () => {
    const res = await fetch(`${tally.url}/statistics/v3/openapi.yaml`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^application\/yaml/);
    assert.equal(await res.text(), DOC_TEXT);
  });

  test('an unknown route under /statistics/v3 is a generic 404 of the document', async () => {
    const res = await fetch(`${tally.url}/statistics/v3/no-such-thing`);
    assert.equal(res.status, 404);
    assert.equal((await res.json()).status.code, 404);
  });
});

describe('the contract check', () => {
  const { check } = makeContract(YAML.parse(DOC_TEXT));
  const url = (p) => `http://127.0.0.1:1${p}`;
  const json = 'application/json';
  const number = { intValue: 3, stringValue: '3', timestamp: 1772352000000, doubleValue: 3, intervalLength: 0 };
  const peek = (value) => JSON.stringify({
    status: { code: 0 },
    data: { statistic: { name: 'Current_In_Queue', objectId: '8001', objectType: 'Queue', timestamp: 1772352000000, value } },
  });
  const peekAnswer = (body, status = 200, contentType = json) => ({
    method: 'GET', url: url('/statistics/v3/statistic-values/Current_In_Queue?objectId=8001&objectType=Queue'),
    status, contentType, body,
  });
  const refuses = (answer, pattern) => assert.throws(() => check(answer), (e) => e instanceof ContractError && pattern.test(e.message));

  test('accepts answers of the document', () => {
    assert.equal(check(peekAnswer(peek(number))).json, true);
    const agent = {
      intValue: 23, stringValue: 'LoggedOut', timestamp: 1,
      agentStatus: { agentId: 'a1', status: 23, statusName: 'LoggedOut', time: 1 },
    };
    assert.equal(check(peekAnswer(peek(agent))).json, true);
    const error = JSON.stringify({ status: { code: 404, message: "statistic 'X' is not in the catalog" }, path: '/statistics/v3/statistic-values/X' });
    assert.equal(check(peekAnswer(error, 404)).json, true);
    assert.equal(check({ method: 'DELETE', url: url('/statistics/v3/subscriptions/team%2Fa'), status: 200, contentType: json, body: '{"status":{"code":0}}' }).json, true);
    assert.equal(check({ method: 'GET', url: url('/healthz'), status: 200, contentType: 'text/plain; charset=utf-8', body: 'ok\n' }).label, 'GET /healthz 200');
    // Outside the document and outside the paths it owns (the wallboard): not checked.
    assert.equal(check({ method: 'GET', url: url('/wallboard/app.js'), status: 200, contentType: 'text/javascript', body: '' }).outside, true);
  });

  test('refuses a value of the wrong type, a missing field and a field the document does not have', () => {
    refuses(peekAnswer(peek({ ...number, intValue: '3' })), /leaves docs\/openapi.yaml/);
    const { intervalLength, ...without } = number;
    assert.equal(intervalLength, 0);
    refuses(peekAnswer(peek(without)), /leaves docs\/openapi.yaml/);
    refuses(peekAnswer(peek({ ...number, median: 2 })), /leaves docs\/openapi.yaml/);
    refuses(peekAnswer(JSON.stringify({ status: { code: 0 }, data: {} })), /must have required property 'statistic'/);
    refuses(peekAnswer(JSON.stringify({ status: { code: 1 }, data: {} })), /leaves/);
  });

  test('refuses an error without the envelope, an undocumented status, route, method or content type', () => {
    refuses(peekAnswer(JSON.stringify({ error: 'nope' }), 404), /leaves docs\/openapi.yaml/);
    refuses(peekAnswer(peek(number), 418), /status 418 is not documented/);
    refuses({ method: 'GET', url: url('/statistics/v3/no-such-thing'), status: 200, contentType: json, body: '{}' }, /no such route/);
    refuses({ method: 'PUT', url: url('/statistics/v3/subscriptions'), status: 200, contentType: json, body: '{}' }, /method not in/);
    refuses(peekAnswer(peek(number), 200, 'text/html'), /Content-Type 'text\/html' is not documented/);
    refuses(peekAnswer('{"status":', 200), /not JSON/);
  });

  test('ingest and token answers are checked too', () => {
    const ingest = { method: 'POST', url: url('/ingest/v1/events'), status: 200, contentType: json };
    assert.equal(check({ ...ingest, body: '{"accepted":2,"firstSeq":1,"lastSeq":2}' }).json, true);
    refuses({ ...ingest, body: '{"accepted":2,"firstSeq":"1","lastSeq":2}' }, /leaves/);
    refuses({ ...ingest, body: '{"accepted":2,"firstSeq":1,"lastSeq":2,"duplicate":false}' }, /leaves/);
    const token = { method: 'POST', url: url('/auth/v3/oauth/token'), status: 400, contentType: json };
    refuses({ ...token, body: '{"error":"invalid_grant","error_description":"x"}' }, /leaves/);
  });

  test('the suite\'s own check is this one, and it is on', () => {
    // lib/tally.mjs (imported above) installed it: this file's own fetches were counted.
    assert.ok(loadContract().stats.checked >= 2);
    assert.equal(globalThis.fetch.name, 'checkedFetch');
  });
});
