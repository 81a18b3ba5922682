// Turns Google Benchmark JSON files of bench/engine_bench.cc into the engine table of
// BENCHMARKS.md (markdown on stdout). Usage: node bench/engine_report.mjs FILE.json...
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
const eps = (n) => pick(`BM_EngineEventsWithCatalog/${n}`, 'items_per_second');
const ms = (name) => pick(name, 'real_time') * (pick(name, 'time_unit') === 'ms' ? 1 : 1);
const rows = [
  '| measure | 1 000 agents | 10 000 agents | goal |',
  '|---|---|---|---|',
  `| events/s, full catalog (median of 5) | **${fmt(eps(1000))}** | **${fmt(eps(10000))}** | ≥ 2 000 000 |`,
  `| µs per event | ${fmt(1e6 / eps(1000), 1)} | ${fmt(1e6 / eps(10000), 1)} | ≤ 0.5 |`,
  `| catalog statistics maintained | ${fmt(pick('BM_EngineEventsWithCatalog/1000', 'catalog_stats'))} | ${fmt(pick('BM_EngineEventsWithCatalog/10000', 'catalog_stats'))} | — |`,
  `| bytes per catalog statistic (accounted) | ${fmt(pick('BM_EngineEventsWithCatalog/1000', 'bytes_per_catalog_stat'))} | ${fmt(pick('BM_EngineEventsWithCatalog/10000', 'bytes_per_catalog_stat'))} | ≤ 256 |`,
  `| RSS bytes per open ad-hoc statistic (100 000 opened, median of the processes run) | ${fmt(pick('BM_MemoryPerOpenStatistic/100000/iterations:1', 'rss_bytes_per_stat'))} | — | ≤ 256 |`,
  `| snapshot: engine pause to serialize (median of 5) | — | **${fmt(ms('BM_SnapshotSave/10000'))} ms** | short (ingest waits, never refused) |`,
  `| snapshot size | — | ${fmt(pick('BM_SnapshotSave/10000', 'bytes') / 1e6, 1)} MB | — |`,
  `| snapshot load at recovery (median of 5) | — | ${fmt(ms('BM_SnapshotLoad/10000'))} ms | — |`,
];
console.log(rows.join('\n'));
