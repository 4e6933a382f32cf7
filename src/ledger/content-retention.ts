import { setImmediate } from 'node:timers/promises';
import { sql, type Kysely } from 'kysely';
import type { DB } from './schema.js';
import { runEvery } from './run-every.js';

const BATCH_ROWS = 1_000;

/**
 * Deletes stored prompt/completion content received more than `days` ago; returns rows deleted.
 * A thousand rows a statement, each committed on its own, with a pass of the event loop between:
 * retention first set on a ledger holding months of content is millions of rows, which as one
 * DELETE outran the pool's 30 s query timeout on Postgres (reported failed while Postgres went on
 * deleting, unseen, on a connection the pool had taken back), and on PGlite held the one session,
 * and so every delivery, for as long as it ran. Stops between batches once `signal` aborts.
 */
export async function purgeContent(db: Kysely<DB>, days: number, signal?: AbortSignal): Promise<number> {
  const { rows } = await sql<{ cutoff: string }>`SELECT (now() - make_interval(days => ${days}))::text AS cutoff`.execute(db);
  const cutoff = rows[0]!.cutoff;
  let deleted = 0;
  while (!signal?.aborted) {
    // By row address (a TID scan, whatever the statistics) the oldest rows first, found through
    // the received_at index: a sequential scan would pass every row an earlier batch had deleted.
    const result = await sql`
      DELETE FROM span_content WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM span_content WHERE received_at < ${cutoff}::timestamptz ORDER BY received_at LIMIT ${BATCH_ROWS}))`.execute(db);
    const batch = Number(result.numAffectedRows ?? 0n);
    deleted += batch;
    if (batch < BATCH_ROWS) break;
    await setImmediate();
  }
  return deleted;
}

const HOUR_MS = 3_600_000;

/**
 * Purges once now and then hourly while the server runs; returns the function that stops it (a
 * purge under way stops after its current batch).
 */
export function scheduleContentPurge(
  db: Kysely<DB>,
  days: number,
  onPurged: (rows: number) => void,
  onError: (err: unknown) => void,
): () => Promise<void> {
  return runEvery(HOUR_MS, async (signal) => onPurged(await purgeContent(db, days, signal)), onError);
}
