import { sql, type Kysely } from 'kysely';
import type { DB } from './schema.js';

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
export function scheduleContentPurge(db: Kysely<DB>, days: number, onError: (err: unknown) => void): () => void {
  const run = () => void purgeContent(db, days).catch(onError);
  run();
  const timer = setInterval(run, HOUR_MS);
  timer.unref();
  return () => clearInterval(timer);
}
