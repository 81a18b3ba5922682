// Tally wallboard: logs in with the password grant, subscribes through the Statistics API REST
// endpoints and receives updates over CometD (the npm `cometd` client, served by Tally).
// Updates touch only the tiles they concern; a 1 s ticker refreshes the "time in state" text.
// The chart starts from the statistic history of the last 30 minutes, and "today by 15 minutes"
// comes from history too (docs/api.md "Statistic history").
import { CometD } from './vendor/cometd/cometd.js';
import uPlot from './vendor/uplot/uPlot.esm.js';

// The page's OAuth client (a public client: its secret is not a secret).
const CLIENT_ID = 'wallboard';
const CLIENT_SECRET = 'wallboard-secret';
const CHUNK = 400; // statistics per subscription request
const QUEUE_STATS = [
  ['waiting', 'CurrentNumberWaitingCalls', 'Calls waiting'],
  ['longest', 'LongestWaitingTime', 'Longest wait'],
  ['sl', 'ServiceLevel', 'Service level (30 min)'],
  ['answered', 'Total_Answered', 'Answered today'],
  ['abandoned', 'Total_Abandoned', 'Abandoned today'],
];
const AHT_DEFINITION = (queue) => ({
  // Average connected time (talk, holds included) of the calls this queue distributed: the
  // CallInbound actions of the agents' DNs, seen at tenant level, filtered on ThisQueue.
  category: 'AverageTime', subject: 'DNAction', mainMask: 'CallInbound',
  intervalType: 'GrowingWindow', dynamicFilter: `ThisQueue="${queue}"`,
});

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem('tally.token'),
  refreshToken: sessionStorage.getItem('tally.refresh'),
  refreshTimer: null,
  user: sessionStorage.getItem('tally.user'),
  cometd: null,
  tenant: '',
  agents: new Map(),
  queues: new Map(),
  subscriptions: [],
  serviceUp: true,
  history: [[], [], []],
  timers: [],
};

function setConnection(kind, text) {
  const el = $('connection');
  el.className = `conn conn-${kind}`;
  el.dataset.state = kind;
  el.textContent = text ?? kind;
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${state.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(json?.status?.message ?? res.statusText), { status: res.status });
  return json;
}

async function tokenRequest(fields) {
  const res = await fetch('/auth/v3/oauth/token', {
    method: 'POST',
    headers: {
      authorization: `Basic ${btoa(`${CLIENT_ID}:${CLIENT_SECRET}`)}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ ...fields, scope: '*' }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error_description ?? body.error ?? `login failed (${res.status})`);
  state.token = body.access_token;
  state.refreshToken = body.refresh_token;
  sessionStorage.setItem('tally.token', state.token);
  sessionStorage.setItem('tally.refresh', state.refreshToken);
  // A CometD session lives as long as the newest token presented for it: a fresh one is taken
  // a minute before this one expires, and the next connect presents it.
  clearTimeout(state.refreshTimer);
  const wait = Math.max(10, (body.expires_in ?? 1800) - 60) * 1000;
  state.refreshTimer = setTimeout(() => refresh().catch(console.error), wait);
  if (state.cometd) state.cometd.configure({ requestHeaders: { Authorization: `Bearer ${state.token}` } });
}

async function login(username, password) {
  await tokenRequest({ grant_type: 'password', username, password });
  state.user = username;
  sessionStorage.setItem('tally.user', username);
}

async function refresh() {
  if (!state.refreshToken) return;
  await tokenRequest({ grant_type: 'refresh_token', refresh_token: state.refreshToken });
}

function fmtDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

// --- layout -----------------------------------------------------------------------------------

function buildBoard(layout) {
  const groupFilter = $('group-filter');
  for (const g of layout.groups) groupFilter.add(new Option(g, g));
  const agentsEl = $('agents');
  agentsEl.replaceChildren();
  state.agents.clear();
  for (const a of layout.agents) {
    const el = document.createElement('div');
    el.className = 'agent';
    el.dataset.agent = a.id;
    el.dataset.state = 'LoggedOut';
    el.innerHTML = '<span class="time"></span><div class="name"></div><div class="state"></div><div class="detail"></div>';
    el.querySelector('.name').textContent = a.id;
    agentsEl.append(el);
    state.agents.set(a.id, {
      id: a.id, groups: a.groups, el,
      stateEl: el.querySelector('.state'), timeEl: el.querySelector('.time'), detailEl: el.querySelector('.detail'),
      status: 'LoggedOut', since: 0,
    });
  }
  const queuesEl = $('queues');
  queuesEl.replaceChildren();
  state.queues.clear();
  for (const q of layout.queues) {
    const el = document.createElement('div');
    el.className = 'queue';
    el.dataset.queue = q;
    const rows = [...QUEUE_STATS.map(([key, , label]) => [key, label]), ['aht', 'Avg talk time']]
      .map(([key, label]) => `<dt>${label}</dt><dd data-field="${key}">–</dd>`).join('');
    el.innerHTML = `<h3>Queue ${q}</h3><dl>${rows}</dl>`;
    queuesEl.append(el);
    const fields = {};
    for (const dd of el.querySelectorAll('dd')) fields[dd.dataset.field] = dd;
    state.queues.set(q, { id: q, el, fields, values: {} });
  }
  applyFilterAndSort();
}

function applyFilterAndSort() {
  const group = $('group-filter').value;
  const sort = $('sort').value;
  const list = [...state.agents.values()];
  let visible = 0;
  for (const a of list) {
    a.el.hidden = group !== '' && !a.groups.includes(group);
    if (!a.el.hidden) visible++;
  }
  const order = { name: (x, y) => x.id.localeCompare(y.id),
    state: (x, y) => x.status.localeCompare(y.status) || x.id.localeCompare(y.id),
    time: (x, y) => (x.since - y.since) || x.id.localeCompare(y.id) }[sort];
  list.sort(order);
  const container = $('agents');
  list.forEach((a, i) => {
    if (container.children[i] !== a.el) container.insertBefore(a.el, container.children[i] ?? null);
  });
  $('counts').textContent = `${visible} agents`;
}

// --- values -----------------------------------------------------------------------------------

function callTypeOf(status) {
  for (const dn of status.placeStatus?.dnStatuses ?? []) {
    for (const a of dn.actions ?? []) {
      const m = /^Call(Inbound|Outbound|Internal|Consult)$/.exec(a.action);
      if (m) return m[1];
    }
  }
  return '';
}

function reasonOf(status) {
  const all = [status.reasons, ...(status.placeStatus?.dnStatuses ?? []).map((d) => d.reasons)];
  for (const r of all) {
    if (r && Object.keys(r).length) return Object.values(r)[0];
  }
  return '';
}

function applyAgent(id, value) {
  const a = state.agents.get(id);
  const status = value?.agentStatus;
  if (!a || !status) return;
  a.status = status.statusName;
  a.since = status.time;
  a.el.dataset.state = status.statusName;
  const call = callTypeOf(status);
  if (call) a.el.dataset.call = call; else delete a.el.dataset.call;
  a.stateEl.textContent = status.statusName;
  const reason = reasonOf(status);
  a.detailEl.textContent = [call && `${call} call`, reason].filter(Boolean).join(' · ');
  a.timeEl.textContent = fmtDuration((Date.now() - a.since) / 1000);
}

function applyQueue(id, key, value) {
  const q = state.queues.get(id);
  if (!q) return;
  const n = value?.doubleValue ?? value?.intValue ?? 0;
  q.values[key] = n;
  const text = key === 'sl' ? `${Math.round(n)}%` : key === 'longest' || key === 'aht' ? fmtDuration(n) : String(Math.round(n));
  q.fields[key].textContent = text;
}

function applyEntry(s) {
  const [kind, id, key] = s.statisticId.split('|');
  if (kind === 'a') applyAgent(id, s.value);
  else if (kind === 'q') applyQueue(id, key, s.value);
}

async function subscribe() {
  const wanted = [];
  for (const id of state.agents.keys()) {
    wanted.push({ statisticId: `a|${id}`, objectId: id, objectType: 'Agent', name: 'CurrentAgentStateReasons' });
  }
  for (const q of state.queues.keys()) {
    for (const [key, name] of QUEUE_STATS) wanted.push({ statisticId: `q|${q}|${key}`, objectId: q, objectType: 'Queue', name });
    wanted.push({ statisticId: `q|${q}|aht`, objectId: state.tenant, objectType: 'Tenant', definition: AHT_DEFINITION(q) });
  }
  await unsubscribe();
  const run = `wb-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  for (let i = 0; i < wanted.length; i += CHUNK) {
    const id = `${run}-${i / CHUNK}`;
    const r = await api('POST', '/statistics/v3/subscriptions?verbose=OFF',
      { operationId: id, data: { statistics: wanted.slice(i, i + CHUNK) } });
    state.subscriptions.push(id);
    for (const s of r.data.statistics) applyEntry(s);
    for (const e of r.errors ?? []) console.warn('statistic not opened:', e.status?.message);
  }
  applyFilterAndSort();
}

async function unsubscribe() {
  const ids = state.subscriptions.splice(0);
  await Promise.allSettled(ids.map((id) => api('DELETE', `/statistics/v3/subscriptions/${encodeURIComponent(id)}`)));
}

// --- notifications ----------------------------------------------------------------------------

function connect() {
  const cometd = new CometD();
  state.cometd = cometd;
  cometd.configure({
    url: `${location.origin}/statistics/v3/notifications`,
    requestHeaders: { Authorization: `Bearer ${state.token}` },
    logLevel: 'warn',
  });
  // A WebSocket carries no headers: every connect presents the current token, so the session
  // survives token refreshes and resumes on a new socket after a network drop or a failover.
  cometd.registerExtension('tally-auth', {
    outgoing: (m) => {
      if (m.channel === '/meta/connect') m.ext = { ...(m.ext ?? {}), authorization: `Bearer ${state.token}` };
      return m;
    },
  });
  setConnection('connecting');
  cometd.addListener('/meta/connect', (m) => {
    if (cometd.isDisconnected()) return;
    if (m.successful) setConnection(state.serviceUp ? 'connected' : 'unavailable', state.serviceUp ? 'connected' : 'service unavailable');
    else setConnection('reconnecting');
  });
  cometd.addListener('/meta/unsuccessful', () => setConnection('reconnecting'));
  // The handshake callback runs again after automatic re-handshakes: subscribe again then.
  cometd.handshake({ ext: { authorization: `Bearer ${state.token}` } }, (reply) => {
    if (!reply.successful) {
      setConnection('offline', reply.error === '403::handshake_denied' ? 'session expired: log in again' : 'offline');
      return;
    }
    cometd.batch(() => {
      cometd.subscribe('/statistics/v3/updates', (m) => {
        for (const s of m.data?.data?.statistics ?? []) applyEntry(s);
      });
      cometd.subscribe('/statistics/v3/service', (m) => {
        const up = m.data?.data?.serviceState === 'AVAILABLE';
        state.serviceUp = up;
        setConnection(up ? 'connected' : 'unavailable', up ? 'connected' : 'service unavailable');
        if (up) subscribe().catch(console.error);
      });
    });
    setConnection('connected');
    subscribe().catch((e) => {
      if (e.status === 503) setConnection('unavailable', 'service unavailable');
      else console.error(e);
    });
  });
}

// --- chart ------------------------------------------------------------------------------------

function startChart() {
  const el = $('chart');
  el.replaceChildren();
  const plot = new uPlot({
    width: Math.max(300, el.clientWidth || 800), height: 200,
    series: [{}, { label: 'Calls waiting', stroke: '#f0883e', scale: 'n' },
      { label: 'Service level %', stroke: '#2ea043', scale: '%' }],
    axes: [{ stroke: '#8b98a5' }, { scale: 'n', stroke: '#8b98a5' }, { scale: '%', side: 1, stroke: '#8b98a5', grid: { show: false } }],
    scales: {
      x: { time: true, range: () => [Date.now() / 1000 - 1800, Date.now() / 1000] },
      n: { range: (u, min, max) => [0, Math.max(5, max)] },
      '%': { range: [0, 100] },
    },
  }, state.history, el);
  const sample = () => {
    const qs = [...state.queues.values()];
    const now = Date.now() / 1000;
    state.history[0].push(now);
    state.history[1].push(qs.reduce((sum, q) => sum + (q.values.waiting ?? 0), 0));
    const sls = qs.map((q) => q.values.sl).filter((v) => v !== undefined);
    state.history[2].push(sls.length ? sls.reduce((a, b) => a + b, 0) / sls.length : null);
    while (state.history[0].length && state.history[0][0] < now - 1800) state.history.forEach((s) => s.shift());
    plot.setData(state.history);
  };
  sample();
  state.timers.push(setInterval(sample, 5000));
  return plot;
}

// --- history (POST /statistics/v3/operations/get-statistic-history, a Tally extension) ---------

const QUARTER = 15 * 60_000;
const TODAY_STATS = [
  ['answered', { name: 'Total_Answered' }],
  ['abandoned', { name: 'Total_Abandoned' }],
  ['sl', { name: 'ServiceLevel' }],
];

async function history(from, to, bucket, statistics) {
  return api('POST', '/statistics/v3/operations/get-statistic-history', { data: { from, to, bucket, statistics } });
}

const valueOf = (v) => v?.doubleValue ?? v?.intValue ?? Number(v?.stringValue ?? 0);

// The last 30 minutes before the page opened: calls waiting and service level at the end of each
// quarter hour that ended in them, summed and averaged over the queues as the live samples are
// (a bucket's service level is its quarter hour's). The live samples go on from there.
async function fillChartFromHistory(plot, attempt = 0) {
  const now = Date.now();
  const statistics = [];
  for (const q of state.queues.keys()) {
    statistics.push({ statisticId: `${q}|waiting`, objectType: 'Queue', objectId: q, name: 'CurrentNumberWaitingCalls' });
    statistics.push({ statisticId: `${q}|sl`, objectType: 'Queue', objectId: q, name: 'ServiceLevel' });
  }
  let r;
  try {
    r = await history(now - 30 * 60_000, now, '15m', statistics);
  } catch (e) {
    // Busy (history runs a few requests at a time): a few more tries.
    if (e.status === 503 && attempt < 3 && state.token) {
      await new Promise((resolve) => setTimeout(resolve, 5000 * (attempt + 1)));
      return fillChartFromHistory(plot, attempt + 1);
    }
    $('chart').dataset.history = `unavailable: ${e.message}`;
    return;
  }
  const points = new Map();  // bucket end (s) → { waiting, sls }
  for (const s of r.data.statistics) {
    const key = s.statisticId.split('|')[1];
    for (const b of s.buckets) {
      if (!b.complete || b.end > now || b.end < now - 30 * 60_000) continue;
      const p = points.get(b.end / 1000) ?? { waiting: 0, sls: [] };
      if (key === 'waiting') p.waiting += valueOf(b.value);
      else p.sls.push(valueOf(b.value));
      points.set(b.end / 1000, p);
    }
  }
  const first = state.history[0][0] ?? Infinity;  // the first live sample
  const times = [...points.keys()].filter((t) => t < first).sort((a, b) => a - b);
  state.history[0].unshift(...times);
  state.history[1].unshift(...times.map((t) => points.get(t).waiting));
  state.history[2].unshift(...times.map((t) => {
    const { sls } = points.get(t);
    return sls.length ? sls.reduce((a, b) => a + b, 0) / sls.length : null;
  }));
  $('chart').dataset.history = String(times.length);
  $('chart').dataset.historyWaiting = times.map((t) => points.get(t).waiting).join(',');
  plot.setData(state.history);
}

// Today by 15 minutes for one queue: answered, abandoned, service level and average talk time of
// each quarter hour since the tenant's midnight (the last row so far), newest first. One request
// at a time: a refresh comes a minute after the previous answer, and an answer for a queue no
// longer selected is dropped.
const today = { midnight: 0, request: 0, timer: null };

async function tenantMidnight(now, statistic) {
  // The day bucket's start is the tenant's midnight (its time zone, not the browser's): asked
  // once a day.
  if (today.midnight && now < today.midnight + 23 * 3_600_000) return today.midnight;
  const day = await history(now - 1, now, '1d', [statistic]);
  today.midnight = day.data.statistics[0]?.buckets[0]?.start ?? now - (now % 86_400_000);
  return today.midnight;
}

function scheduleToday(ms) {
  clearTimeout(today.timer);
  today.timer = setTimeout(() => showToday().catch(console.error), ms);
}

async function showToday() {
  const q = $('today-queue').value;
  const table = $('today');
  if (!q || !state.token) return;
  const request = ++today.request;
  const now = Date.now();
  let retryMs = 60_000;
  const statistics = TODAY_STATS.map(([key, s]) => ({ statisticId: key, objectType: 'Queue', objectId: q, ...s }));
  statistics.push({ statisticId: 'aht', objectType: 'Tenant', objectId: state.tenant, definition: AHT_DEFINITION(q) });
  try {
    const midnight = await tenantMidnight(now, statistics[0]);
    const r = await history(midnight, now, '15m', statistics);
    if (request !== today.request) return;  // another queue was chosen meanwhile
    const rows = new Map();
    for (const s of r.data.statistics) {
      for (const b of s.buckets) {
        if (b.start > now) continue;
        const row = rows.get(b.start) ?? { start: b.start, complete: b.complete };
        row[s.statisticId] = valueOf(b.value);
        row.complete &&= b.complete;
        rows.set(b.start, row);
      }
    }
    const body = [...rows.values()].sort((a, b) => b.start - a.start).map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.start = String(row.start);
      const at = new Date(row.start).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      const cells = [at + (row.start + QUARTER > now ? ' (so far)' : ''), String(Math.round(row.answered ?? 0)),
        String(Math.round(row.abandoned ?? 0)), `${Math.round(row.sl ?? 0)}%`, fmtDuration(row.aht ?? 0)];
      const fields = ['time', 'answered', 'abandoned', 'sl', 'aht'];
      cells.forEach((text, i) => {
        const td = document.createElement('td');
        td.dataset.field = fields[i];
        td.textContent = text;
        tr.append(td);
      });
      return tr;
    });
    table.tBodies[0].replaceChildren(...body);
    table.dataset.queue = q;
    $('today-error').textContent = '';
  } catch (e) {
    // Busy (history runs a few requests at a time, the chart's among them): again shortly.
    retryMs = e.status === 503 ? 2000 : 60_000;
    if (request === today.request && e.status !== 503) $('today-error').textContent = `history unavailable: ${e.message}`;
  } finally {
    if (request === today.request && state.token) scheduleToday(retryMs);
  }
}

// --- page -------------------------------------------------------------------------------------

async function showBoard() {
  $('login').hidden = true;
  $('board').hidden = false;
  $('logout').hidden = false;
  $('who').textContent = state.user ?? '';
  let layout;
  try {
    layout = await api('GET', '/wallboard/api/layout');
  } catch (e) {
    if (e.status === 401) return logout();
    throw e;
  }
  state.tenant = layout.tenant;
  buildBoard(layout);
  const plot = startChart();
  connect();
  fillChartFromHistory(plot).catch(console.error);
  const todayQueue = $('today-queue');
  todayQueue.replaceChildren(...layout.queues.map((q) => new Option(`Queue ${q}`, q)));
  showToday().catch(console.error);
  state.timers.push(setInterval(() => {
    const now = Date.now();
    for (const a of state.agents.values()) {
      if (!a.el.hidden && a.since) a.timeEl.textContent = fmtDuration((now - a.since) / 1000);
    }
  }, 1000));
  state.timers.push(setInterval(() => { if ($('sort').value !== 'name') applyFilterAndSort(); }, 5000));
}

async function logout() {
  state.timers.splice(0).forEach(clearInterval);
  clearTimeout(today.timer);
  today.request++;
  today.midnight = 0;
  await unsubscribe().catch(() => {});
  if (state.cometd) state.cometd.disconnect();
  state.cometd = null;
  state.token = null;
  state.refreshToken = null;
  clearTimeout(state.refreshTimer);
  sessionStorage.removeItem('tally.token');
  sessionStorage.removeItem('tally.refresh');
  sessionStorage.removeItem('tally.user');
  $('board').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('who').textContent = '';
  setConnection('offline');
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  $('login-error').textContent = '';
  try {
    await login(form.get('username'), form.get('password'));
    await showBoard();
  } catch (e) {
    $('login-error').textContent = e.message;
  }
});
$('logout').addEventListener('click', () => logout());
$('group-filter').addEventListener('change', applyFilterAndSort);
$('sort').addEventListener('change', applyFilterAndSort);
$('today-queue').addEventListener('change', () => showToday().catch(console.error));
// A reload keeps the session: take a fresh token first (the stored one may be near its end).
if (state.token) refresh().catch(() => {}).then(() => showBoard()).catch(console.error);
