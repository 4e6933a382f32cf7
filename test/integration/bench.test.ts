import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { isLocalDatabase, type CpuPerDelivery } from '../../bench/cpu.js';
import type { BenchSummary } from '../../bench/summary.js';
import { isAlive } from '../support/process-alive.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * `npm run bench` end to end with few requests, on the ledger under test: it builds and starts the
 * server, drives every variant, the paced run and the three ceilings, and checks the ledger. What
 * is asserted is that it works and counts exactly, never how fast.
 */
describe('npm run bench', () => {
  it('runs every stage and reports an exact ledger in its JSON line', async () => {
    const databaseUrl = inject('databaseUrl');
    const where = databaseUrl ? [] : ['--embedded'];
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', ...where, '--requests', '200', '--concurrency', '8', '--rate', '100', '--paced-seconds', '2', '--commit-seconds', '1', '--dense-bodies', '3', '--dense-spans', '5000'],
      // Stopped (SIGTERM: it cleans up) before the test's own limit, so that a run that hangs
      // fails with its stderr, and is not left running.
      { cwd: root, env: { ...process.env, DATABASE_URL: databaseUrl || undefined }, maxBuffer: 16 * 1024 * 1024, timeout: 200_000 },
    );
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as BenchSummary;

    expect(summary.ledger).toBe(databaseUrl ? 'postgres' : 'pglite');
    expect(summary.variants.map((v) => v.variant)).toEqual(['privacy-json', 'privacy-protobuf', 'content-json']);
    for (const v of summary.variants) expect(v.deliveries_per_s).toBeGreaterThan(0);
    expect(summary.paced.achieved_per_s).toBeGreaterThan(0);
    const { p50_ms, p99_ms, p999_ms, max_ms } = summary.paced;
    expect(p50_ms).toBeGreaterThan(0);
    expect([p50_ms, p99_ms, p999_ms, max_ms]).toEqual([p50_ms, p99_ms, p999_ms, max_ms].sort((a, b) => a - b));
    for (const field of ['raw_ceiling_deliveries_per_s', 'writer_ceiling_deliveries_per_s', 'http_ceiling_deliveries_per_s'] as const) {
      expect(summary[field]).toBeGreaterThan(0);
    }
    // The database's durable commit alone, one after another for 1 s: on its own ledger, so the
    // check below counts none of its rows.
    const floor = summary.commit_floor;
    expect(floor.commits).toBeGreaterThan(0);
    expect([floor.p50_ms, floor.p99_ms, floor.p999_ms, floor.max_ms]).toEqual([floor.p50_ms, floor.p99_ms, floor.p999_ms, floor.max_ms].sort((a, b) => a - b));
    expect(floor.over_50_ms).toBeGreaterThanOrEqual(0);
    expect(floor.over_50_ms).toBeLessThanOrEqual(floor.commits);
    // Measured only after the machine's pending writes reached the disk (`sync`), so that their
    // write-back cannot land in it.
    expect(floor.flush_error).toBeUndefined();
    expect(floor.flushed_before_ms).toBeGreaterThanOrEqual(0);
    expect(stdout).toContain(`(${floor.commits} one-row transactions, one after another, after ${floor.flushed_before_ms} ms flushing the bench's pending writes)`);
    // What a wake-up of another thread costs, with nothing else running; and the setting behind
    // it on a KVM guest, where the kernel has one.
    const { wake_up } = summary;
    expect(wake_up.round_trips).toBeGreaterThan(0);
    expect(wake_up.p99_us).toBeGreaterThanOrEqual(wake_up.p50_us);
    expect(wake_up.p50_us).toBeGreaterThan(0);
    expect(stdout).toContain(`a wake-up of another thread and back (${wake_up.round_trips} round trips)`);
    const half = summary.paced_half_capacity;
    expect(half.rate_per_s).toBe(Math.max(1, Math.round(summary.variants[0]!.deliveries_per_s / 2)));
    expect(half.achieved_per_s).toBeGreaterThan(0);
    // 2,000 warm-up deliveries, 200 + 200 + 100 measured, 100 × 3 paced (1 s unmeasured, 2 s
    // measured), and 3 s at half capacity.
    const sent = 2800 + half.rate_per_s * 3;
    expect(summary.ledger_check).toEqual({ sent_deliveries: sent, spans: 3 * sent, generations: sent, exact: true });
    // Bodies of minimal spans at once, on a server and ledger of their own: its memory, and every span kept.
    expect(summary.dense).toMatchObject({ bodies: 3, spans_per_body: 5000, accepted: 3, exact: true });
    expect(summary.dense!.server_peak_rss_mb).toBeGreaterThan(0);
    expect(stdout).toContain(`dense bodies: 3 of 5,000 minimal spans (protobuf, ${(summary.dense!.body_bytes / 1024 / 1024).toFixed(1)} MB each) at once: 3 of 3 accepted`);

    // Every run says where the CPU went, per delivery; Postgres's share wherever it runs on this
    // machine (PGlite's is inside the server's threads).
    const postgresHere = Boolean(databaseUrl) && isLocalDatabase(databaseUrl);
    const measured = (c: CpuPerDelivery) => {
      for (const part of ['serving_thread', 'serving_thread_waiting_for_cpu', 'other_server_threads', 'load_generator', 'load_generator_waiting_for_cpu', 'machine'] as const) expect(c[part]).toBeGreaterThanOrEqual(0);
      if (postgresHere) expect(c.postgres).toBeGreaterThanOrEqual(0);
      else expect(c.postgres).toBeNull();
    };
    for (const row of [...summary.variants, summary.paced, half]) measured(row.cpu_us_per_delivery);
    // The server's own timing of the paced requests, read from its /metrics, whole and by stage.
    for (const row of [summary.paced, half]) {
      expect(row.server_share_over_50_ms).toBeGreaterThanOrEqual(0);
      expect(row.server_share_over_50_ms).toBeLessThanOrEqual(1);
      expect(Object.keys(row.server_stages_ms)).toEqual(['receive', 'prepare', 'commit']);
      for (const { p50, p99 } of Object.values(row.server_stages_ms)) {
        expect(p50).toBeGreaterThan(0);
        expect(p99).toBeGreaterThanOrEqual(p50);
      }
      // The commit stage holds the group commit's wait for company (2 ms by default) and a
      // transaction; preparing one small delivery takes a fraction of that.
      expect(row.server_stages_ms.commit.p50).toBeGreaterThan(row.server_stages_ms.prepare.p50);
    }
  }, 240_000);

  /**
   * Starts the bench from source, enough requests that it is still running when the test acts,
   * and resolves once it has named its server and its ledger.
   */
  async function startedBench(databaseUrl: string) {
    const where = databaseUrl ? [] : ['--embedded'];
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--from-source', ...where, '--requests', '20000', '--concurrency', '8'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: databaseUrl || undefined },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    // On its exit, not on its stderr's end: a server it left running would hold that open. Its
    // last lines are read within a moment of its exit, or once that server has gone.
    const closed = new Promise<void>((resolve) => child.stderr.once('end', resolve));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))).then(async (code) => {
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2_000))]);
      return code;
    });
    let started: RegExpExecArray | null = null;
    while (!(started = /bench: server pid (\d+) at \S+; ledger (schema|directory) (\S+)/.exec(stderr))) {
      if (child.exitCode !== null) throw new Error(`the bench exited early: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { pid: child.pid!, serverPid: Number(started[1]), ledger: started[3]!, exited, stderr: () => stderr };
  }

  /** Whether anything the bench made is left: its server, its schemas or its directory. */
  async function leftBehind(databaseUrl: string, bench: { serverPid: number; ledger: string }) {
    const serverRunning = isAlive(bench.serverPid);
    if (!databaseUrl) return { serverRunning, ledger: existsSync(bench.ledger) ? [bench.ledger] : [] };
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const schemas = await client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE $1 || '%'`, [bench.ledger]);
      return { serverRunning, ledger: schemas.rows.map((r) => r.nspname) };
    } finally {
      await client.end();
    }
  }

  it('stops its server and removes its ledger when interrupted, and exits 130', async () => {
    const databaseUrl = inject('databaseUrl');
    const bench = await startedBench(databaseUrl);
    expect(await leftBehind(databaseUrl, bench)).toEqual({ serverRunning: true, ledger: [bench.ledger] });
    // The bench alone, not its process group: it must stop its server itself.
    process.kill(bench.pid, 'SIGINT');
    expect(await bench.exited).toBe(130);
    expect(bench.stderr()).toContain('bench interrupted by SIGINT');
    expect(bench.stderr()).not.toContain('bench failed');
    expect(await leftBehind(databaseUrl, bench)).toEqual({ serverRunning: false, ledger: [] });
  }, 120_000);

  it('fails with the reason when its server dies, and still removes its ledger', async () => {
    const databaseUrl = inject('databaseUrl');
    const bench = await startedBench(databaseUrl);
    process.kill(bench.serverPid, 'SIGKILL');
    expect(await bench.exited).toBe(1);
    expect(bench.stderr()).toMatch(/bench failed: Error: ledger server: \d+ requests failed/);
    expect(await leftBehind(databaseUrl, bench)).toEqual({ serverRunning: false, ledger: [] });
  }, 120_000);
});
