// A deterministic contact-center event stream for durability tests: four agents on DNs
// 7001..7004 in group "sales", one queue 8001; calls queued, distributed, answered, released,
// after-call work, ready again; every fifth call is abandoned in the queue.
export const BASE_TIME = Date.UTC(2027, 0, 15, 9, 0, 0);

export const STREAM_TENANT = `
[[tenant]]
name = "acme"
agents = ["a1", "a2", "a3", "a4"]
queues = ["8001"]
[[tenant.place]]
id = "p1"
dns = ["7001"]
[[tenant.place]]
id = "p2"
dns = ["7002"]
[[tenant.place]]
id = "p3"
dns = ["7003"]
[[tenant.place]]
id = "p4"
dns = ["7004"]
[[tenant.group]]
type = "GroupAgents"
name = "sales"
members = ["a1", "a2", "a3", "a4"]
`;

export function makeStream(calls) {
  const events = [];
  let t = BASE_TIME;
  const at = (e) => events.push({ ...e, time: (t += 1000) });
  for (let a = 1; a <= 4; a++) {
    at({ type: 'EventAgentLogin', agentId: `a${a}`, thisDN: `700${a}`, placeId: `p${a}` });
    at({ type: 'EventAgentReady', agentId: `a${a}`, thisDN: `700${a}` });
  }
  for (let c = 1; c <= calls; c++) {
    const conn = `c${c}`;
    const dn = `700${1 + (c % 4)}`;
    at({ type: 'EventQueued', thisDN: '8001', connId: conn, callType: 'Inbound' });
    if (c % 5 === 0) {
      at({ type: 'EventAbandoned', thisDN: '8001', connId: conn });
      continue;
    }
    at({ type: 'EventDiverted', thisDN: '8001', connId: conn, otherDN: dn });
    at({ type: 'EventRinging', thisDN: dn, connId: conn, callType: 'Inbound', thisQueue: '8001' });
    at({ type: 'EventEstablished', thisDN: dn, connId: conn, callType: 'Inbound' });
    if (c % 3 === 0) {
      at({ type: 'EventHeld', thisDN: dn, connId: conn });
      at({ type: 'EventRetrieved', thisDN: dn, connId: conn });
    }
    at({ type: 'EventReleased', thisDN: dn, connId: conn, callType: 'Inbound' });
    at({ type: 'EventAgentNotReady', thisDN: dn, workMode: 'AfterCallWork' });
    at({ type: 'EventAgentReady', thisDN: dn });
  }
  return events;
}

export function batches(events, size) {
  const out = [];
  for (let i = 0; i < events.length; i += size) out.push(events.slice(i, i + size));
  return out;
}

// Every catalog statistic for every object of the stream, as one get-statistic-ex body.
export function everyStatistic(names) {
  const objects = [
    ...['a1', 'a2', 'a3', 'a4'].map((id) => ['Agent', id]),
    ...['p1', 'p2', 'p3', 'p4'].map((id) => ['Place', id]),
    ['Queue', '8001'],
    ['GroupAgents', 'sales'],
  ];
  const statistics = [];
  for (const name of names) {
    for (const [objectType, objectId] of objects) statistics.push({ name, objectType, objectId });
  }
  return { data: { statistics } };
}

// A subscription with catalog and ad-hoc statistics (ad-hoc ones accumulate from their opening).
export const SUBSCRIPTION = {
  operationId: 'durable-1',
  data: {
    statistics: [
      { statisticId: 'state', objectId: 'a1', objectType: 'Agent', name: 'CurrentAgentState' },
      { statisticId: 'answered', objectId: '8001', objectType: 'Queue', name: 'Total_Answered' },
      { statisticId: 'adhoc-talk', objectId: 'sales', objectType: 'GroupAgents',
        definition: { category: 'TotalTime', subject: 'DNAction', mainMask: 'CallInbound', intervalType: 'GrowingWindow' } },
      { statisticId: 'adhoc-abandoned', objectId: '8001', objectType: 'Queue',
        definition: { category: 'TotalNumber', subject: 'DNAction', mainMask: 'CallAbandoned' } },
    ],
  },
};
