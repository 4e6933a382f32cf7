import { sql, type Kysely } from 'kysely';
import type { DB } from './schema.js';
import { runEvery } from './run-every.js';

/** Deletes stored prompt/completion content received more than `days` ago; returns rows deleted. */
export async function purgeContent(db: Kysely<DB>, days: number): Promise<number> {
  const result = await db
    .deleteFrom('span_content')
    .where('received_at', '<', sql<Date>`now() - make_interval(days => ${days})`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

const HOUR_MS = 3_600_000;

/** Purges once now and then hourly while the server runs; returns the function that stops it. */
export function scheduleContentPurge(db: Kysely<DB>, days: number, onError: (err: unknown) => void): () => Promise<void> {
  return runEvery(HOUR_MS, () => purgeContent(db, days), onError);
}
