import { sql, type Kysely } from 'kysely';
import type { DB } from './schema.js';
import { runEvery } from './run-every.js';
import type { EmbeddedFlush } from './embedded-flush.js';

/*
 * PGlite runs Postgres as one process, without autovacuum: nothing else ever analyses or vacuums
 * the embedded ledger. Without statistics a report plans for a table of one row (at 300,000
 * generations `report --by day,model` took 0.9-1.5 s, 0.34 s once analysed), without a visibility
 * map every index-only scan reads the table too, and without freezing, transaction ids would in
 * the end wrap around. The server does autovacuum's job, and the checkpointer's.
 *
 * A pass runs on the serving thread and holds the ledger's one session: every delivery waits for
 * it. VACUUM's work is the pages added since the last one, so a table is vacuumed once it has
 * grown by a fifth (autovacuum's scale factor) or by MOST_PAGES_UNVACUUMED, whichever comes first:
 * with a fifth alone, a pass grows with the ledger (at 200,000 deliveries it held everything 2 s).
 */

export interface MaintenanceLog {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const CHECK_INTERVAL_MS = 10_000;
const ANALYSE_EVERY_MS = 60_000;

/**
 * PGlite, one process without a checkpointer, checkpoints only when it closes: pg_wal held 106
 * segments (1.7 GB) after as much WAL, and a crash would replay all of it. The server checkpoints
 * once this much WAL has been written since the last checkpoint.
 */
const CHECKPOINT_WAL_BYTES = 256 * 1024 * 1024;

const walSinceCheckpoint = sql<{ bytes: string }>`
  SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), redo_lsn)::bigint::text AS bytes FROM pg_control_checkpoint()`;

/** 32 MB of new pages: 50-60 ms of VACUUM on a ledger's tables here. */
const MOST_PAGES_UNVACUUMED = 4096;

/**
 * Read only by primary key (and content by its age), so their statistics would serve no plan, and
 * sampling their JSON is dear: 0.7 s of the 1.3 s a pass over 450,000 spans took. Vacuumed only.
 */
const VACUUM_ONLY = ['spans', 'span_content'];

/** Pages past which a table without statistics is analysed (a few hundred generations). */
const MIN_PAGES_ANALYSED = 8;

/**
 * Vacuum by pages from the catalog (`relpages` is set by the last VACUUM or ANALYZE and survives a
 * restart). Analyse, for the tables reports plan on, once the rows changed since the last ANALYZE
 * are more than a fifth of the table plus 50 (autovacuum's base threshold), counted by the activity
 * counters; PGlite keeps those only while it runs, so after a restart a table never analysed at all
 * (no statistics) is analysed once it has some rows (MIN_PAGES_ANALYSED) and others count afresh.
 * Never sooner: statistics of a table of a row or two mislead the planner for good (a one-row
 * span_usage made org_id look unique, migrations/010_nested_usage_index.sql). The counters are
 * flushed first, as a session flushes them at most once a second.
 */
const dueTables = (mostPagesUnvacuumed: number) => sql<{ name: string; vacuum: boolean; analyse: boolean }>`
  WITH sizes AS (
    SELECT c.oid, c.relname, c.relpages, greatest(c.reltuples, 0) AS reltuples,
      pg_relation_size(c.oid) / current_setting('block_size')::int AS pages,
      coalesce(s.n_mod_since_analyze, 0) AS changed
    FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
  )
  SELECT relname AS name,
    pages > least(relpages * 1.2 + 8, relpages + ${mostPagesUnvacuumed}) AS vacuum,
    relname <> ALL (${VACUUM_ONLY})
      AND (changed > reltuples * 0.2 + 50
        OR (pages > ${MIN_PAGES_ANALYSED} AND NOT EXISTS (SELECT FROM pg_statistic WHERE starelid = sizes.oid))) AS analyse
  FROM sizes
  ORDER BY relname`;

/** Whether the database's oldest unfrozen transaction id is past the age at which VACUUM freezes whole tables. */
const freezeDue = sql<{ due: boolean }>`
  SELECT age(datfrozenxid) > current_setting('vacuum_freeze_table_age')::int AS due
  FROM pg_database WHERE datname = current_database()`;

export interface MaintenanceOptions {
  /** Growth in pages that calls for a vacuum though the table has not grown by a fifth. */
  mostPagesUnvacuumed?: number;
  /** The least time between two analyses of a table by this server. */
  analyseEveryMs?: number;
  /** WAL written since the last checkpoint that calls for one. */
  checkpointWalBytes?: number;
}

/**
 * The server's maintenance. An analysis samples 30,000 rows whatever the table's size (0.5-0.7 s
 * on 250,000 generations), so while a young ledger grows fast it would be due at every check:
 * like autovacuum, which looks at a database once a minute, it analyses a table at most once a minute.
 */
export class EmbeddedMaintenance {
  readonly #analysedAt = new Map<string, number>();
  readonly #mostPagesUnvacuumed: number;
  readonly #analyseEveryMs: number;
  readonly #checkpointWalBytes: number;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly flush: EmbeddedFlush | null,
    private readonly log: MaintenanceLog,
    opts: MaintenanceOptions = {},
  ) {
    this.#mostPagesUnvacuumed = opts.mostPagesUnvacuumed ?? MOST_PAGES_UNVACUUMED;
    this.#analyseEveryMs = opts.analyseEveryMs ?? ANALYSE_EVERY_MS;
    this.#checkpointWalBytes = opts.checkpointWalBytes ?? CHECKPOINT_WAL_BYTES;
  }

  /**
   * One pass: flushes the commits neither the ledger writer nor the bridge did (the content purge's,
   * keys' last use), vacuums and analyses each table that is due, freezes the database and checkpoints
   * when due.
   */
  async pass(): Promise<void> {
    const { db } = this;
    await this.flush?.sessionCommitted(db);
    await sql`SELECT pg_stat_force_next_flush()`.execute(db);
    for (const due of (await dueTables(this.#mostPagesUnvacuumed).execute(db)).rows) {
      const last = this.#analysedAt.get(due.name);
      const analyse = due.analyse && (last === undefined || performance.now() - last >= this.#analyseEveryMs);
      if (!due.vacuum && !analyse) continue;
      const table = sql.table(due.name);
      if (analyse) this.#analysedAt.set(due.name, performance.now());
      await this.#timed({ table: due.name, vacuumed: due.vacuum, analysed: analyse }, () =>
        (due.vacuum ? (analyse ? sql`VACUUM (ANALYZE) ${table}` : sql`VACUUM ${table}`) : sql`ANALYZE ${table}`).execute(db),
      );
    }
    const [freeze] = (await freezeDue.execute(db)).rows;
    if (freeze?.due) await this.#timed({ table: '(all, freezing)', vacuumed: true, analysed: false }, () => sql`VACUUM`.execute(db));
    const [wal] = (await walSinceCheckpoint.execute(db)).rows;
    if (Number(wal!.bytes) >= this.#checkpointWalBytes) await this.#checkpoint(Number(wal!.bytes));
  }

  /** A checkpoint writes the data files (with fsync off, not to the disk): they are flushed after it. */
  async #checkpoint(walBytes: number): Promise<void> {
    const started = performance.now();
    await sql`CHECKPOINT`.execute(this.db);
    const checkpointed = performance.now();
    await this.flush?.everything();
    this.log.info(
      { walMb: Math.round(walBytes / 1024 / 1024), ms: Math.round(checkpointed - started), flushMs: Math.round(performance.now() - checkpointed) },
      'embedded ledger checkpointed',
    );
  }

  async #timed(fields: { table: string; vacuumed: boolean; analysed: boolean }, work: () => Promise<unknown>): Promise<void> {
    const started = performance.now();
    await work();
    this.log.info({ ...fields, ms: Math.round(performance.now() - started) }, fields.vacuumed ? 'embedded ledger vacuumed' : 'embedded ledger analysed');
  }
}

/** Maintains the ledger now and then every ten seconds while the server runs; returns the function that stops it. */
export function scheduleEmbeddedMaintenance(db: Kysely<DB>, flush: EmbeddedFlush | null, log: MaintenanceLog): () => Promise<void> {
  const maintenance = new EmbeddedMaintenance(db, flush, log);
  return runEvery(CHECK_INTERVAL_MS, () => maintenance.pass(), (err) => log.error({ err }, 'embedded ledger maintenance failed'));
}
