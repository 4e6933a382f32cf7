/**
 * npm run bench:report -- [--org seed] [--runs 5]
 *
 * On a seeded ledger (npm run seed): times `report --by day,model --last 30d` (the same code the
 * CLI runs), prints its plan, and streams the full CSV export to nowhere while sampling memory.
 */
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.js';
import { openDatabaseForCli } from '../src/ledger/database.js';
import { resolveOrg } from '../src/reports/orgs.js';
import { parseReportParams } from '../src/reports/report-params.js';
import { spendReport } from '../src/reports/spend-report.js';
import { exportStream } from '../src/reports/exports.js';

const { values } = parseArgs({ options: { org: { type: 'string', default: 'seed' }, runs: { type: 'string', default: '5' } } });
const config = loadConfig();
const ledger = await openDatabaseForCli({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR, poolSize: 2 });
try {
  const org = await resolveOrg(ledger.db, values.org);
  const [count] = (await sql<{ n: string }>`SELECT count(*)::text AS n FROM span_usage WHERE org_id = ${org.id}`.execute(ledger.db)).rows;
  console.log(`organisation ${org.slug}: ${count!.n} generations`);

  const params = parseReportParams({ last: '30d', by: 'day,model' });
  const times: number[] = [];
  let groups = 0;
  for (let i = 0; i < Number(values.runs); i++) {
    const t0 = performance.now();
    const report = await spendReport(ledger.db, org, params);
    times.push(performance.now() - t0);
    groups = report.rows.length;
  }
  times.sort((a, b) => a - b);
  console.log(`report --by day,model --last 30d: ${groups} groups; best ${times[0]!.toFixed(0)} ms, median ${times[Math.floor(times.length / 2)]!.toFixed(0)} ms over ${times.length} runs`);

  const plan = await sql<{ 'QUERY PLAN': string }>`EXPLAIN (ANALYZE, BUFFERS)
    SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), model, count(*), sum(cost_usd)
    FROM span_usage WHERE org_id = ${org.id} AND role = 'generation' AND NOT has_usage_below
      AND started_at >= now() - interval '30 days' AND started_at < now() GROUP BY 1, 2`.execute(ledger.db);
  console.log(plan.rows.map((r) => r['QUERY PLAN']).join('\n'));

  const window = parseReportParams({ last: '90d' });
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  let bytes = 0;
  let lines = 0;
  let nextSample = 100_000;
  const samples: string[] = [];
  const t0 = performance.now();
  for await (const chunk of exportStream(ledger.db, 'csv', org.id, window)) {
    bytes += chunk.length;
    for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) lines++;
    const rss = process.memoryUsage().rss;
    peak = Math.max(peak, rss);
    if (lines >= nextSample) {
      samples.push(`${nextSample / 1000}k:${(rss / 1e6).toFixed(0)}`);
      nextSample += 100_000;
    }
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`export csv: ${lines - 1} rows, ${(bytes / 1e6).toFixed(0)} MB in ${s.toFixed(1)} s (${Math.round((lines - 1) / s)} rows/s); RSS ${(rss0 / 1e6).toFixed(0)} MB before, peak ${(peak / 1e6).toFixed(0)} MB`);
  console.log(`RSS (MB) by rows exported: ${samples.join(' ')}`);
} finally {
  await ledger.close();
}
