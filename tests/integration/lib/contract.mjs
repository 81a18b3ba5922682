// The OpenAPI contract (docs/openapi.yaml) applied to every answer the suite gets from Tally.
// installContract() replaces the global fetch with one that checks each response before the
// test sees it: the route (method + path template) and the status must be in the document, and
// a JSON body must match the schema of that operation and status. A response that leaves the
// document rejects the fetch, so the test fails. lib/tally.mjs installs it: always on.
import { appendFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';

const DOC_FILE = path.resolve(import.meta.dirname, '../../../docs/openapi.yaml');
// Paths the document owns entirely: an answer under them that matches no route must be one of
// the document's generic answers (unknown path, other method, …).
const OWNED = ['/statistics/v3/', '/auth/v3/', '/ingest/v1/', '/admin/v1/'];
const SCHEMA_ID = 'tally-openapi';

export class ContractError extends Error {}

function pointer(doc, ref) {
  if (!ref.startsWith('#/')) throw new Error(`only local references are supported: ${ref}`);
  return ref.slice(2).split('/').reduce((node, key) => node?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
}

// Follows `$ref`s of path items and responses (not of schemas: ajv resolves those).
function deref(doc, node) {
  let n = node;
  while (n && n.$ref) n = pointer(doc, n.$ref);
  return n;
}

// Schema references of the document, made absolute so that any fragment compiles on its own.
function absoluteRefs(node) {
  if (Array.isArray(node)) return node.map(absoluteRefs);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')
      ? `${SCHEMA_ID}#/$defs/${v.slice('#/components/schemas/'.length)}`
      : absoluteRefs(v);
  }
  return out;
}

const mediaType = (contentType) => (contentType ?? '').split(';')[0].trim().toLowerCase();
const isJson = (type) => type === 'application/json' || type.endsWith('+json');

// A validator of responses against one OpenAPI document (an object, as parsed from YAML).
export function makeContract(doc) {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  ajv.addSchema({ $id: SCHEMA_ID, $defs: absoluteRefs(doc.components?.schemas ?? {}) });
  const compiled = new Map();
  const validatorOf = (schema) => {
    if (!compiled.has(schema)) compiled.set(schema, ajv.compile(absoluteRefs(schema)));
    return compiled.get(schema);
  };
  const routes = Object.entries(doc.paths).map(([template, item]) => {
    const segments = template.split('/').slice(1);
    return {
      template,
      item: deref(doc, item),
      segments,
      literals: segments.filter((s) => !s.startsWith('{')).length,
    };
  });
  // The route of a raw path, as the server routes it (before %-decoding; more literal segments win).
  const routeOf = (pathname) => {
    const parts = pathname.split('/').slice(1);
    let best = null;
    for (const r of routes) {
      if (r.segments.length !== parts.length) continue;
      const ok = r.segments.every((s, i) => (s.startsWith('{') ? parts[i] !== '' : s === parts[i]));
      if (ok && (best === null || r.literals > best.literals)) best = r;
    }
    return best;
  };
  const generic = doc['x-tally-generic-responses'] ?? {};
  const proxy = doc['x-tally-proxy-responses'] ?? {};
  const stats = { checked: 0, json: 0, outside: 0, seen: new Set(), violations: [] };

  // Checks one answer; throws ContractError when it leaves the document. `body` is the text.
  function check({ method, url, status, contentType, body }) {
    const pathname = new URL(url, 'http://x').pathname;
    const verb = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
    const where = `${method.toUpperCase()} ${pathname} → ${status}`;
    const route = routeOf(pathname);
    let response;
    let label;
    if (route && route.item[verb]) {
      const op = route.item[verb];
      // An operation's own answers, or one of the load balancer's (502/503/504, any route).
      response = op.responses[String(status)] ?? op.responses.default ?? proxy[String(status)];
      label = `${verb.toUpperCase()} ${route.template} ${status}`;
      if (!response) {
        throw new ContractError(`${where}: status ${status} is not documented for ${verb.toUpperCase()} ${route.template} (docs/openapi.yaml)`);
      }
    } else if (route || OWNED.some((p) => pathname.startsWith(p))) {
      response = generic[String(status)];
      label = `generic ${status}`;
      if (!response) {
        throw new ContractError(`${where}: ${route ? `method not in ${route.template}` : 'no such route'} in docs/openapi.yaml, and ${status} is not one of its generic answers`);
      }
    } else {
      stats.outside += 1;
      return { outside: true };
    }
    response = deref(doc, response);
    stats.checked += 1;
    stats.seen.add(label);
    const type = mediaType(contentType);
    const content = response.content ?? {};
    if (body === '' && Object.keys(content).length === 0) return { label };
    const media = content[type];
    if (!media) {
      throw new ContractError(`${where}: Content-Type '${type}' is not documented for ${label} (documented: ${Object.keys(content).join(', ') || 'no body'})`);
    }
    if (!isJson(type)) return { label };
    let value;
    try {
      value = JSON.parse(body);
    } catch (e) {
      throw new ContractError(`${where}: the body is not JSON (${e.message}): ${body.slice(0, 200)}`);
    }
    if (!media.schema) return { label };
    const validate = validatorOf(media.schema);
    stats.json += 1;
    if (!validate(value)) {
      const errors = validate.errors.slice(0, 8).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`);
      throw new ContractError(`${where}: the body leaves docs/openapi.yaml (${label}):\n  ${errors.join('\n  ')}\nbody: ${body.slice(0, 600)}`);
    }
    return { label, json: true };
  }
  return { check, stats };
}

let contract;
export function loadContract() {
  contract ??= makeContract(YAML.parse(readFileSync(DOC_FILE, 'utf8')));
  return contract;
}

let installed = false;
// Makes the global fetch check every answer against the document (idempotent). Returns the
// violations seen so far (lib/tally.mjs fails the file on any).
export function installContract() {
  const { check, stats } = loadContract();
  if (installed) return stats.violations;
  installed = true;
  const plainFetch = globalThis.fetch;
  globalThis.fetch = async function checkedFetch(input, init = {}) {
    const res = await plainFetch(input, init);
    const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
    const method = init.method ?? (typeof input === 'object' && 'method' in input ? input.method : 'GET');
    let body;
    try {
      body = await res.clone().text();
    } catch {
      return res;  // the caller aborted the exchange: there is no answer to check
    }
    try {
      check({ method, url, status: res.status, contentType: res.headers.get('content-type'), body });
    } catch (e) {
      // Also kept for the end of the file: a test that swallows fetch errors (retries while a
      // node restarts) must not swallow this one.
      if (e instanceof ContractError) stats.violations.push(e.message);
      throw e;
    }
    return res;
  };
  // The official Genesys client calls the REST API through superagent, not fetch: its answers
  // are checked as they arrive (a violation fails the file at its end, lib/tally.mjs).
  const require = createRequire(import.meta.url);
  const ApiClient = require('genesys-statistics-client-js/src/internal/ApiClient.js');
  const applyAuth = ApiClient.prototype.applyAuthToRequest;
  ApiClient.prototype.applyAuthToRequest = function checkedRequest(request, ...rest) {
    request.on('response', (res) => {
      try {
        check({ method: request.method, url: request.url, status: res.status, contentType: res.header['content-type'], body: res.text ?? '' });
      } catch (e) {
        if (!(e instanceof ContractError)) throw e;
        stats.violations.push(`official client: ${e.message}`);
      }
    });
    return applyAuth.call(this, request, ...rest);
  };
  // How many answers were checked, for the record of a run (TALLY_CONTRACT_REPORT=file).
  if (process.env.TALLY_CONTRACT_REPORT) {
    process.on('exit', () => {
      appendFileSync(process.env.TALLY_CONTRACT_REPORT, `${JSON.stringify({
        file: path.basename(process.argv[1] ?? ''),
        checked: stats.checked,
        json: stats.json,
        outside: stats.outside,
        seen: [...stats.seen].sort(),
      })}\n`);
    });
  }
  return stats.violations;
}
