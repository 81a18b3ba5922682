// Ingest → notification latency (a stand-in for the load tool's missing `stats` mode): SESSIONS
// raw long-polling Bayeux sessions of one principal, one principal-bound subscription to an
// agent's CurrentAgentState; EVENTS agent-state events are ingested one by one, and for each the
// time from the ingest answer (durable) to its arrival at every session is recorded.
// Usage: TALLY_URL=http://127.0.0.1:8080 node bench/notify_latency.mjs [SESSIONS] [EVENTS]
//        (the demo config with the simulator off; see BENCHMARKS.md)
const url = process.env.TALLY_URL ?? 'http://127.0.0.1:8080';
const sessions = Number(process.argv[2] ?? 100);
const events = Number(process.argv[3] ?? 200);
const base = `${url}/statistics/v3/notifications`;
const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function token(client, secret, form) {
  const r = await fetch(`${url}/auth/v3/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic(client, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return (await r.json()).access_token;
}

const reader = await token('wallboard', 'wallboard-secret', { grant_type: 'password', username: 'supervisor', password: 'tally-demo' });
const feeder = await token('simulator', 'ingest-secret', { grant_type: 'client_credentials' });
const post = async (path, body, cookie) => {
  const r = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: JSON.stringify(body),
  });
  return { body: await r.json(), cookies: r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') };
};

const acked = new Map();  // event number → time of the ingest answer
const arrivals = [];     // [event number, arrival time]: an update may beat the ingest answer
let stop = false;
async function session() {
  const hs = await post('/handshake', [{ channel: '/meta/handshake', version: '1.0', id: '1' }]);
  const clientId = hs.body[0].clientId;
  const cookie = hs.cookies;
  await post('/', [{ channel: '/meta/subscribe', subscription: '/statistics/v3/updates', clientId, id: '2' }], cookie);
  let first = true;
  (async () => {
    while (!stop) {
      const m = { channel: '/meta/connect', connectionType: 'long-polling', clientId, id: '3' };
      if (first) m.advice = { timeout: 0 };
      first = false;
      const r = await post('/connect', [m], cookie);
      const now = performance.now();
      for (const msg of r.body) {
        for (const s of msg.data?.data?.statistics ?? []) {
          const n = Number(s.value?.agentStatus?.reasons?.n);
          if (n > 0) arrivals.push([n, now]);
        }
      }
    }
  })();
}
for (let i = 0; i < sessions; i++) await session();
const sub = await fetch(`${url}/statistics/v3/subscriptions`, {
  method: 'POST',
  headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' },
  body: JSON.stringify({ operationId: `lat-${Date.now()}`, data: { statistics: [{ statisticId: 's', objectId: 'agent001', objectType: 'Agent', name: 'CurrentAgentStateReasons' }] } }),
});
if (sub.status !== 200) throw new Error(`subscription: ${sub.status}`);
await new Promise((r) => setTimeout(r, 500));
let t = Date.now();
const ingest = (body) => fetch(`${url}/ingest/v1/events`, {
  method: 'POST', headers: { authorization: `Bearer ${feeder}`, 'content-type': 'application/x-ndjson' }, body,
});
await ingest(JSON.stringify({ type: 'EventAgentLogin', agentId: 'agent001', thisDN: '7001', placeId: 'place001', time: t }));
for (let n = 1; n <= events; n++) {
  const e = { type: 'EventAgentNotReady', thisDN: '7001', time: ++t, reasons: { n: String(n) } };
  const r = await ingest(JSON.stringify(e));
  acked.set(n, performance.now());
  if (r.status !== 200) throw new Error(`ingest: ${r.status}`);
  await new Promise((res) => setTimeout(res, 20));
}
await new Promise((r) => setTimeout(r, 1000));
stop = true;
const latencies = arrivals.filter(([n]) => acked.has(n)).map(([n, at]) => Math.max(0, at - acked.get(n)));
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)].toFixed(1);
console.log(`${sessions} sessions, ${events} events: ${latencies.length} deliveries (expected ${sessions * events}); ` +
  `ingest answer → notification ms p50 ${pct(50)} p90 ${pct(90)} p99 ${pct(99)} max ${pct(100)}`);
process.exit(0);
