import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { openDatabase } from '../src/ledger/database.js';
import { LATENCY_GOAL_MS, latencyTail, type LatencyTail } from './load.js';
import type { LedgerLocation } from './raw-ceiling.js';

/** How long the database's own durable commit takes, alone: the floor under any request's latency. */
export interface CommitFloor extends LatencyTail {
  commits: number;
  /** Commits that took longer than the latency goal's 50 ms. */
  over_50_ms: number;
  /** How long writing out this machine's pending writes took before the first commit; null if `sync` could not run. */
  flushed_before_ms: number | null;
  /** Why `sync` could not run, when it could not. */
  flush_error?: string;
}

/**
 * Commits one-row transactions, one after another, for `seconds`, on the machine with nothing else
 * of the bench's running. Each waits for its WAL flush as each of the server's batches does, so a
 * disk whose flush stalls for 200 ms holds every request whose batch is committing for as long,
 * whatever the server does. Measured apart from the paced runs, it shows what the disk can do to
 * a commit, not what it did during them: its stalls come in bursts that ten seconds can miss.
 *
 * The stages before it leave the kernel holding up to hundreds of MB of the ledger's pages unwritten
 * (the ledger check alone, reading every span, dirties each page it sets hint bits on), which it
 * writes out in one burst once they are 30 s old, and a commit waits behind that burst. So the
 * floor first writes them out (`sync`), and measures the disk, not the bench's leftovers.
 */
export async function commitFloor(ledger: LedgerLocation, seconds: number): Promise<CommitFloor> {
  const db = await openDatabase({ databaseUrl: ledger.databaseUrl, dataDir: ledger.dataDir, poolSize: 1 });
  try {
    await sql`CREATE TABLE commit_floor (n bigint NOT NULL)`.execute(db.db);
    const flush = await flushPendingWrites();
    const latencies: number[] = [];
    const end = performance.now() + seconds * 1000;
    for (let n = 0; performance.now() < end; n++) {
      const started = performance.now();
      await sql`INSERT INTO commit_floor VALUES (${n})`.execute(db.db);
      latencies.push(performance.now() - started);
    }
    return {
      commits: latencies.length,
      ...latencyTail(Float64Array.from(latencies).sort()),
      over_50_ms: latencies.filter((l) => l > LATENCY_GOAL_MS).length,
      ...flush,
    };
  } finally {
    await db.close();
  }
}

/** Writes out every file's pending pages on this machine and waits for the disk (`sync`). */
async function flushPendingWrites(): Promise<Pick<CommitFloor, 'flushed_before_ms' | 'flush_error'>> {
  const started = performance.now();
  try {
    await promisify(execFile)('sync');
    return { flushed_before_ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { flushed_before_ms: null, flush_error: (err as Error).message };
  }
}
