// Turns Google Benchmark JSON files of bench/engine_bench.cc into the engine table of
// BENCHMARKS.md (markdown on stdout), with the goals of issue 15 and the floor ratio (full
// catalog against the same events with an empty catalog, in the same run).
// Usage: node bench/engine_report.mjs FILE.json...
import { readFileSync } from 'node:fs';

const runs = process.argv.slice(2).flatMap((f) => JSON.parse(readFileSync(f, 'utf8')).benchmarks);
// Aggregates (median) when repetitions ran; otherwise the median of the single runs given.
function pick(name, field) {
  const agg = runs.find((b) => b.run_name === name && b.aggregate_name === 'median');
  if (agg) return agg[field];
  const values = runs.filter((b) => b.run_name === name && !b.aggregate_name).map((b) => b[field]).sort((a, b) => a - b);
  return values.length ? values[Math.floor(values.length / 2)] : NaN;
}
const fmt = (v, digits = 0) => Number.isFinite(v)
  ? v.toFixed(digits).replace(/\B(?=(\d{3})+(?!\d))/g, ' ')
  : 'n/a';
const mark = (ok) => (ok ? ' ✓' : ' ✗');
const eps = (n) => pick(`BM_EngineEventsWithCatalog/${n}`, 'items_per_second');
const floor = (n) => pick(`BM_EngineEventsEmptyCatalog/${n}`, 'items_per_second');
const ratio = (n) => eps(n) > 0 ? floor(n) / eps(n) : NaN;
const ms = (name) => pick(name, 'real_time');
const replay = pick('BM_EngineEventsRecoveryReplay/10000', 'items_per_second');
const catalogRss = pick('BM_MemoryPerCatalogStatistic/10000/iterations:1', 'rss_bytes_per_catalog_stat');
const adhocRss = pick('BM_MemoryPerOpenStatistic/100000/iterations:1', 'rss_bytes_per_stat');
const pause = ms('BM_SnapshotSave/10000');
const rows = [
  '| measure | 1 000 agents | 10 000 agents | goal |',
  '|---|---|---|---|',
  `| events/s, full catalog (median of 5) | **${fmt(eps(1000))}**${mark(eps(1000) >= 2e6)} | **${fmt(eps(10000))}**${mark(eps(10000) >= 1e6)} | ≥ 2 000 000 / ≥ 1 000 000 |`,
  `| µs per event, full catalog | ${fmt(1e6 / eps(1000), 2)} | ${fmt(1e6 / eps(10000), 2)} | ≤ 0.5 / ≤ 1 |`,
  `| floor: the same events, empty catalog (events/s) | ${fmt(floor(1000))} | ${fmt(floor(10000))} | — |`,
  `| full / floor (time per event) | **${fmt(ratio(1000), 1)}×**${mark(ratio(1000) <= 3)} | **${fmt(ratio(10000), 1)}×**${mark(ratio(10000) <= 3)} | ≤ 3× |`,
  `| catalog statistics maintained | ${fmt(pick('BM_EngineEventsWithCatalog/1000', 'catalog_stats'))} | ${fmt(pick('BM_EngineEventsWithCatalog/10000', 'catalog_stats'))} | — |`,
  `| bytes per catalog statistic, accounted (its words in the object block + their heap parts) | ${fmt(pick('BM_EngineEventsWithCatalog/1000', 'bytes_per_catalog_stat'))} | ${fmt(pick('BM_EngineEventsWithCatalog/10000', 'bytes_per_catalog_stat'))} | — |`,
  `| RSS bytes per catalog statistic, everything (objects, calls, listeners; mid-day center) | — | **${fmt(catalogRss)}**${mark(catalogRss <= 128)} | ≤ 128 |`,
  `| RSS bytes per open ad-hoc statistic (100 000 opened) | **${fmt(adhocRss)}**${mark(adhocRss <= 256)} | — | ≤ 256 |`,
  `| recovery replay, engine side (AdvanceTo + Apply per record, records/s) | — | **${fmt(replay)}**${mark(replay >= 1e6)} | ≥ 1 000 000 |`,
  `| snapshot: engine pause to serialize (median of 5) | — | **${fmt(pause)} ms**${mark(pause <= 30)} | ≤ 30 ms |`,
  `| snapshot size | — | ${fmt(pick('BM_SnapshotSave/10000', 'bytes') / 1e6, 1)} MB | — |`,
  `| snapshot load at recovery (median of 5) | — | ${fmt(ms('BM_SnapshotLoad/10000'))} ms | — |`,
];
console.log(rows.join('\n'));
