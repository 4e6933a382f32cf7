/**
 * npm run bench -- [options]   (`npm run bench -- --help` lists them)
 *
 * Builds and starts the real server as the container image runs it (`--from-source`: through
 * tsx, as `npm start` does), against DATABASE_URL or PGlite with --embedded, creates a key, and
 * drives it over keep-alive HTTP with OpenRouter-shaped deliveries. Prints deliveries/s, spans/s,
 * latency, server CPU (and how long its serving thread waited for a core) and peak RSS per variant,
 * the latency of paced runs (at --rate, and at half the saturated privacy JSON rate; with the share
 * the server itself timed at over 50 ms), two database ceilings (the raw one of multi-row INSERTs, and
 * the ledger writer's own with COPY) and the floor under latency (the database's durable commit
 * alone), checks by SQL that the ledger holds exactly what was sent, measures a server's memory
 * under bodies of many minimal spans sent at once, the machine's HTTP ceiling (a bare Fastify
 * route) and what a wake-up of another thread costs it, and ends with one JSON line.
 * LEDGER_* variables set for the bench are passed to the server. However it ends (done, failed,
 * SIGINT or SIGTERM) it stops its servers and removes the schemas or directories it made, giving
 * up a step that takes over a minute and naming what it left.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { sql } from 'kysely';
import { createKey } from '../src/auth/key-store.js';
import { delivery, encode, type BodyEncoding, type Variant } from './deliveries.js';
import { driveAllOk, keepAlivePool, LATENCY_GOAL_MS, latencyTail, percentile } from './load.js';
import { rawInsertCeiling, writerCeiling } from './raw-ceiling.js';
import { httpCeiling } from './http-ceiling.js';
import { commitFloor } from './commit-floor.js';
import { wakeUpRoundTrip } from './wake-up.js';
import { denseBodies, denseRun } from './dense-bodies.js';
import { onLedger } from './ledger-admin.js';
import { cpuPerDelivery, cpuSnapshot, isLocalDatabase } from './cpu.js';
import { startServerProcess, stopServerProcesses } from './server-process.js';
import { Cleanup } from './cleanup.js';
import { benchOptions, benchUsage, BenchUsageError, type BenchOptions } from './options.js';
import { INGEST_STAGES } from '../src/http/metrics.js';
import { quantile, serverTimings, shareOverBound } from './server-latency.js';
import { formatSummary, type BenchSummary, type PacedRow, type VariantRow } from './summary.js';

let args: BenchOptions;
try {
  args = benchOptions(process.argv.slice(2), process.env);
} catch (err) {
  if (!(err instanceof BenchUsageError)) throw err;
  process.stderr.write(`bench: ${err.message}\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(benchUsage());
  process.exit(0);
}
const REQUESTS = args.requests;
const CONCURRENCY = args.concurrency;
const RATE = args.rate;
const PACED_SECONDS = args['paced-seconds'];
const PATH = '/developer/v1/ai-usage/openrouter/v1/traces';
/** Enough for tens of thousands of round trips even where each costs 100 µs. */
const WAKE_UP_SECONDS = 2;

let seq = 0;
function bodies(count: number, variant: Variant, encoding: BodyEncoding): Buffer[] {
  return Array.from({ length: count }, () => encode(delivery(seq++, variant).body, encoding));
}

const cleanup = new Cleanup();

/** Runs the bench; true when the ledger held exactly what was sent. */
async function main(): Promise<boolean> {
  // A ledger of the bench's own: a fresh schema on DATABASE_URL, or a fresh PGlite directory.
  const base = args.databaseUrl;
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const schemaUrl = (s: string) => {
    const u = new URL(base!);
    u.searchParams.set('options', `-c search_path=${s}`);
    return u.toString();
  };
  const admin = args.embedded ? null : new pg.Client({ connectionString: base });
  const newLedger = async (name: string): Promise<{ env: Record<string, string>; databaseUrl?: string; dataDir: string }> => {
    if (admin) {
      // Registered first: the drop queues behind the create on the one connection. Named with
      // the statement itself, for whoever must run it by hand when it fails.
      cleanup.add(`drop schema ${name} (by hand: DROP SCHEMA ${name} CASCADE)`, async () => {
        await admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      });
      await admin.query(`CREATE SCHEMA ${name}`);
      return { env: { DATABASE_URL: schemaUrl(name) }, databaseUrl: schemaUrl(name), dataDir: '' };
    }
    const dir = mkdtempSync(path.join(tmpdir(), `${name}-`));
    cleanup.add(`remove directory ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    return { env: { DATA_DIR: dir }, databaseUrl: undefined, dataDir: dir };
  };
  if (admin) {
    await admin.connect();
    cleanup.add('close its database connection', () => admin.end());
    // An interrupted ceiling may still hold its tables' locks for a moment; not for ever.
    await admin.query(`SET lock_timeout = '10s'`);
  }
  const ledger = await newLedger(schema);
  // Before the schemas made after it (the ceilings') are dropped, every server is stopped.
  cleanup.add('stop its servers', stopServerProcesses);

  // The server's own settings (LEDGER_BATCH_MAX_WAIT_MS and the rest) pass through, to try them.
  const settings = Object.entries(process.env).filter(([k, v]) => k.startsWith('LEDGER_') && v !== undefined);
  // The bench reads the server's own timings from /metrics, which answers only to this secret.
  const metricsToken = randomBytes(24).toString('base64url');
  const serverEnv: Record<string, string> = {
    ...(Object.fromEntries(settings) as Record<string, string>),
    ...ledger.env,
    LEDGER_METRICS_TOKEN: metricsToken,
  };
  if (args['write-concurrency']) serverEnv.LEDGER_WRITE_CONCURRENCY = args['write-concurrency'];
  if (args['prepare-threads']) serverEnv.LEDGER_PREPARE_THREADS = args['prepare-threads'];
  const compiled = !args['from-source'];
  if (compiled) execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const server = await startServerProcess(serverEnv, {
    nodeArgs: args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir=bench/profiles'] : [],
    compiled,
  });
  const { key } = await onLedger(ledger, (db) => createKey(db, { org: 'bench', scope: 'ingest' }));
  process.stderr.write(`bench: server pid ${server.pid} at ${server.url}; ledger ${admin ? `schema ${schema}` : `directory ${ledger.dataDir}`}\n`);

  const variants: { name: string; variant: Variant; encoding: BodyEncoding; requests: number }[] = [
    { name: 'privacy-json', variant: 'privacy', encoding: 'json', requests: REQUESTS },
    { name: 'privacy-protobuf', variant: 'privacy', encoding: 'protobuf', requests: REQUESTS },
    { name: 'content-json', variant: 'content', encoding: 'json', requests: Math.ceil(REQUESTS / 2) },
  ];
  // Postgres's own CPU is counted when it runs on this machine (PGlite's is the server's).
  const localPostgres = !args.embedded && isLocalDatabase(base!);
  const cpuNow = () => cpuSnapshot(server.pid, localPostgres);
  const pool = keepAlivePool(server.url, CONCURRENCY);
  let sentDeliveries = 0;
  const results: VariantRow[] = [];
  const send = async (b: Buffer[], encoding: BodyEncoding, rate?: number) => {
    const r = await driveAllOk('ledger server', {
      pool,
      path: PATH,
      key,
      contentType: encoding === 'json' ? 'application/json' : 'application/x-protobuf',
      bodies: b,
      concurrency: CONCURRENCY,
      ratePerSecond: rate,
    });
    sentDeliveries += b.length;
    return r;
  };

  await send(bodies(2_000, 'privacy', 'json'), 'json');
  for (const v of variants) {
    const b = bodies(v.requests, v.variant, v.encoding);
    const cpu0 = server.cpuSeconds();
    const parts0 = cpuNow();
    const r = await send(b, v.encoding);
    const parts1 = cpuNow();
    const lat = r.latenciesMs.slice().sort();
    const row: VariantRow = {
      variant: v.name,
      deliveries_per_s: Math.round(r.sent / r.seconds),
      spans_per_s: Math.round((r.sent * 3) / r.seconds),
      p50_ms: +percentile(lat, 50).toFixed(2),
      p99_ms: +percentile(lat, 99).toFixed(2),
      server_cpu_cores: +((server.cpuSeconds() - cpu0) / r.seconds).toFixed(2),
      // Where the rest of the machine went: the load generator (this process), and all CPU in use
      // (server, load generator, Postgres and anything else on the machine).
      load_generator_cpu_cores: +((parts1.loadGenerator - parts0.loadGenerator) / r.seconds).toFixed(2),
      machine_cpu_cores: parts0.machine === null || parts1.machine === null ? null : +((parts1.machine - parts0.machine) / r.seconds).toFixed(2),
      body_bytes: Math.round(b.reduce((n, x) => n + x.length, 0) / b.length),
      cpu_us_per_delivery: cpuPerDelivery(parts0, parts1, r.sent),
    };
    results.push(row);
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }

  const privacy = results[0]!;

  // One second at the paced rate first, not measured: the latency asked for is the steady state's
  // at that rate, not the queue left by the saturating run before it draining.
  const pacedRun = async (rate: number): Promise<PacedRow> => {
    const pacedBodies = bodies(rate * (1 + PACED_SECONDS), 'privacy', 'json');
    await send(pacedBodies.slice(0, rate), 'json', rate);
    const timings0 = await serverTimings(server.url, PATH, metricsToken);
    const parts0 = cpuNow();
    const paced = await send(pacedBodies.slice(rate), 'json', rate);
    const parts1 = cpuNow();
    const timings1 = await serverTimings(server.url, PATH, metricsToken);
    return {
      rate_per_s: rate,
      achieved_per_s: Math.round(paced.sent / paced.seconds),
      // With p99.9 and the slowest: a stall of a quarter second every minute or so is all but
      // invisible in a 10 s run's p99.
      ...latencyTail(paced.latenciesMs.slice().sort()),
      server_share_over_50_ms: +shareOverBound(timings0.requests, timings1.requests, LATENCY_GOAL_MS / 1000).toFixed(4),
      server_stages_ms: Object.fromEntries(
        INGEST_STAGES.map((stage) => {
          const ms = (q: number) => +(quantile(timings0.stages[stage], timings1.stages[stage], q) * 1000).toFixed(2);
          return [stage, { p50: ms(0.5), p99: ms(0.99) }];
        }),
      ) as PacedRow['server_stages_ms'],
      // Below saturation a delivery costs more than at it: smaller batches, more wake-ups.
      cpu_us_per_delivery: cpuPerDelivery(parts0, parts1, paced.sent),
    };
  };
  const pacedRow = await pacedRun(RATE);
  process.stdout.write(`paced: ${JSON.stringify(pacedRow)}\n`);
  // The same at half of what this machine took saturated: a fixed rate is a different share of the
  // capacity on every machine, and the latency near saturation is mostly queueing.
  const halfRow = await pacedRun(Math.max(1, Math.round(privacy.deliveries_per_s / 2)));
  process.stdout.write(`paced at half capacity: ${JSON.stringify(halfRow)}\n`);
  const peakRss = +server.peakRssMb().toFixed(1);
  await pool.close();
  await server.stop();

  // The ledger holds exactly what was sent: every span once, every delivery one generation.
  const counts = await onLedger(ledger, async (db) => (await sql<{ spans: string; generations: string }>`
    SELECT (SELECT count(*) FROM spans)::text AS spans, (SELECT count(*) FROM generations)::text AS generations`.execute(db)).rows[0]!);
  const exact = Number(counts.spans) === sentDeliveries * 3 && Number(counts.generations) === sentDeliveries;

  const dense =
    args['dense-bodies'] === 0
      ? null
      : await denseRun(await newLedger(`${schema}_dense`), serverEnv, {
          path: PATH,
          compiled,
          bodies: denseBodies(args['dense-bodies'], args['dense-spans']),
          spansPerBody: args['dense-spans'],
        });
  const http = await httpCeiling({ path: PATH, warmup: bodies(2_000, 'privacy', 'json'), bodies: bodies(REQUESTS, 'privacy', 'json'), concurrency: CONCURRENCY });
  const raw = await rawInsertCeiling(await newLedger(`${schema}_raw`), bodies(REQUESTS, 'privacy', 'json'));
  const writer = await writerCeiling(await newLedger(`${schema}_writer`), bodies(REQUESTS, 'privacy', 'json'));
  const commit = await commitFloor(await newLedger(`${schema}_commit`), args['commit-seconds']);
  const wakeUp = await wakeUpRoundTrip(WAKE_UP_SECONDS);

  const summary: BenchSummary = {
    ledger: args.embedded ? 'pglite' : 'postgres',
    server: compiled ? 'compiled' : 'sources',
    concurrency: CONCURRENCY,
    variants: results,
    paced: pacedRow,
    paced_half_capacity: halfRow,
    server_peak_rss_mb: peakRss,
    raw_ceiling_deliveries_per_s: Math.round(raw.deliveriesPerSecond),
    ratio_privacy_json_to_raw: +(privacy.deliveries_per_s / raw.deliveriesPerSecond).toFixed(2),
    writer_ceiling_deliveries_per_s: Math.round(writer.deliveriesPerSecond),
    ratio_privacy_json_to_writer: +(privacy.deliveries_per_s / writer.deliveriesPerSecond).toFixed(2),
    http_ceiling_deliveries_per_s: Math.round(http.deliveriesPerSecond),
    http_ceiling_server_cpu_cores: +http.serverCpuCores.toFixed(2),
    ratio_privacy_json_to_http: +(privacy.deliveries_per_s / http.deliveriesPerSecond).toFixed(2),
    commit_floor: commit,
    wake_up: wakeUp,
    ledger_check: { sent_deliveries: sentDeliveries, spans: Number(counts.spans), generations: Number(counts.generations), exact },
    dense,
  };
  process.stdout.write(`\n${formatSummary(summary)}\n\n`);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return exact && (dense?.exact ?? true);
}

let interrupted = false;
/** Runs the cleanup (once, however many ask); false when something it made is left. */
async function cleanUp(): Promise<boolean> {
  const failed = await cleanup.run();
  for (const what of failed) process.stderr.write(`bench could not ${what}\n`);
  return failed.length === 0;
}
for (const [signal, exitCode] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => {
    interrupted = true;
    process.stderr.write(`bench interrupted by ${signal}: stopping its servers, removing its ledgers\n`);
    void cleanUp().then(() => process.exit(exitCode));
  });
}
// Once interrupted, the signal's handler ends the run, and the run's own failures (its server gone)
// are the interruption's. A run that ends by itself and cleanly exits when its work is done, its
// output all written; one whose cleanup gave up a step exits at once, as that step may never end.
main().then(
  async (exact) => {
    if (interrupted) return;
    if (!(await cleanUp())) process.exit(1);
    process.exitCode = exact ? 0 : 1;
  },
  async (err: unknown) => {
    if (interrupted) return;
    process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
    await cleanUp();
    process.exit(1);
  },
);
