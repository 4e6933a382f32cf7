import { sql, type Kysely } from 'kysely';
import type { DB } from './schema.js';
import { runEvery } from './run-every.js';

/*
 * PGlite runs Postgres as one process, without autovacuum: nothing else ever analyses or vacuums
 * the embedded ledger. Without statistics a report plans for a table of one row (at 300,000
 * generations `report --by day,model` took 0.9-1.5 s, 0.34 s once analysed), without a visibility
 * map every index-only scan reads the table too, and without freezing, transaction ids would in
 * the end wrap around. The server does autovacuum's job on autovacuum's thresholds.
 */

export interface MaintenanceLog {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const CHECK_INTERVAL_MS = 60_000;

/**
 * Tables grown by a fifth (and 8 pages) since last vacuumed or analysed, autovacuum's scale
 * factor; measured in pages from the catalog, as PGlite keeps no activity counters across restarts.
 */
const grownTables = sql<{ name: string }>`
  SELECT c.relname AS name FROM pg_class c
  WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
    AND pg_relation_size(c.oid) / current_setting('block_size')::int > c.relpages * 1.2 + 8
  ORDER BY c.relname`;

/** Whether the database's oldest unfrozen transaction id is past the age at which VACUUM freezes whole tables. */
const freezeDue = sql<{ due: boolean }>`
  SELECT age(datfrozenxid) > current_setting('vacuum_freeze_table_age')::int AS due
  FROM pg_database WHERE datname = current_database()`;

/**
 * Read only by primary key (and content by its age), so their statistics would serve no plan, and
 * sampling their JSON is dear: 0.7 s of the 1.3 s a pass over 450,000 spans took. Vacuumed only.
 */
const VACUUM_ONLY = new Set(['spans', 'span_content']);

/** One pass: vacuums (and analyses) each table that has grown, and freezes the database when due. */
export async function maintainEmbeddedLedger(db: Kysely<DB>, log: MaintenanceLog): Promise<void> {
  for (const { name } of (await grownTables.execute(db)).rows) {
    const analyse = !VACUUM_ONLY.has(name);
    await timed(log, { table: name, analysed: analyse }, () =>
      (analyse ? sql`VACUUM (ANALYZE) ${sql.table(name)}` : sql`VACUUM ${sql.table(name)}`).execute(db),
    );
  }
  const [freeze] = (await freezeDue.execute(db)).rows;
  if (freeze?.due) await timed(log, { table: '(all, freezing)', analysed: false }, () => sql`VACUUM`.execute(db));
}

async function timed(log: MaintenanceLog, fields: { table: string; analysed: boolean }, vacuum: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  await vacuum();
  log.info({ ...fields, ms: Math.round(performance.now() - started) }, 'embedded ledger vacuumed');
}

/** Maintains the ledger now and then every minute while the server runs; returns the function that stops it. */
export function scheduleEmbeddedMaintenance(db: Kysely<DB>, log: MaintenanceLog): () => Promise<void> {
  return runEvery(CHECK_INTERVAL_MS, () => maintainEmbeddedLedger(db, log), (err) => log.error({ err }, 'embedded ledger maintenance failed'));
}
