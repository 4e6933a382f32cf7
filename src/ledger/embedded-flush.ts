import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';

/*
 * PGlite starts Postgres with fsync off and its Node file system has no fsync either (PGlite
 * issue #1107): a commit's WAL reaches the kernel's page cache, never the disk on its own. strace
 * of a server storing 20 deliveries saw 23 pwrite64s and no fsync or fdatasync. That survives a
 * crash of the process (kill -9), not of the machine: a power loss or kernel panic could take
 * acknowledged deliveries with it. So the server flushes what Postgres would have: a commit's WAL
 * before the commit is acknowledged, and every file after a checkpoint (the server's own, PGlite's
 * at close, and the one that ends a recovery at open).
 */

/**
 * The session's WAL insert position: its LSN, and the segment file the next record goes to (the
 * last commit's, or the one after).
 */
export const WAL_POSITION_SQL = 'SELECT pg_current_wal_insert_lsn()::text AS lsn, pg_walfile_name(pg_current_wal_insert_lsn()) AS wal';

interface WalPosition {
  lsn: string;
  wal: string;
}

export type FlushFile = (file: string, isDirectory: boolean) => Promise<void>;

/** fdatasync for a file (its data; its size with it), fsync for a directory (its entries). */
export const flushToDisk: FlushFile = async (file, isDirectory) => {
  const handle = await open(file, 'r');
  try {
    await (isDirectory ? handle.sync() : handle.datasync());
  } finally {
    await handle.close();
  }
};

const FLUSHES_AT_ONCE = 16;

/** The directories of a Postgres data directory (`base`, `global`, `pg_wal`, `pg_xact`, …). */
const POSTGRES_DIRS = /^(base|global|pg_[a-z_]+)$/;
const POSTGRES_FILES = /^(PG_VERSION|postgresql(\.auto)?\.conf|pg_[a-z]+\.conf)$/;

/** Whether a name in a data directory is one of Postgres's own. */
export function isPostgresEntry(name: string): boolean {
  return POSTGRES_DIRS.test(name) || POSTGRES_FILES.test(name);
}

export class EmbeddedFlush {
  readonly #walDir: string;
  #segment: string | null = null;
  #flushedLsn: string | null = null;

  constructor(
    private readonly dataDir: string,
    private readonly flushFile: FlushFile = flushToDisk,
  ) {
    this.#walDir = path.join(dataDir, 'pg_wal');
  }

  /**
   * After a commit, given the WAL segment the session writes to now: that segment is flushed.
   * When it is not the one of the last flush, the commit may have ended in (or spanned) the ones
   * before, so every segment is.
   */
  async committed(segment: string): Promise<void> {
    if (segment === this.#segment) {
      await this.flushFile(path.join(this.#walDir, segment), false);
      return;
    }
    const segments = (await readdir(this.#walDir)).filter((name) => /^[0-9A-F]{24}$/.test(name));
    await this.#flushAll(segments.map((name) => ({ file: path.join(this.#walDir, name), isDirectory: false })));
    await this.flushFile(this.#walDir, true);
    this.#segment = segment;
  }

  /**
   * For commits made outside the writer (the command line's through the bridge, the server's
   * own): reads the session's position on `db` and flushes as `committed`, unless nothing was
   * written since the last position flushed here (reads write no WAL).
   */
  async sessionCommitted<T>(db: Kysely<T>): Promise<void> {
    const { lsn, wal } = (await sql.raw<WalPosition>(WAL_POSITION_SQL).execute(db)).rows[0]!;
    if (lsn === this.#flushedLsn) return;
    await this.committed(wal);
    this.#flushedLsn = lsn;
  }

  /**
   * Every file and directory of the ledger: after a checkpoint, which writes the data files. Only
   * Postgres's own directories are walked: PGlite makes its ledger in a directory that holds other
   * things too (DATA_DIR set to a home directory), and those are not the ledger's to flush.
   */
  async everything(): Promise<void> {
    const top = await readdir(this.dataDir, { withFileTypes: true });
    const ledgerDirs = top.filter((e) => e.isDirectory() && POSTGRES_DIRS.test(e.name));
    const below = await Promise.all(ledgerDirs.map((d) => readdir(path.join(this.dataDir, d.name), { recursive: true, withFileTypes: true })));
    const all = [...top.filter((e) => e.isFile() && POSTGRES_FILES.test(e.name)), ...ledgerDirs, ...below.flat()]
      .filter((e) => e.isFile() || e.isDirectory())
      .map((e) => ({ file: path.join(e.parentPath, e.name), isDirectory: e.isDirectory() }));
    await this.#flushAll(all.filter((e) => !e.isDirectory));
    await this.#flushAll([...all.filter((e) => e.isDirectory), { file: this.dataDir, isDirectory: true }]);
  }

  async #flushAll(entries: { file: string; isDirectory: boolean }[]): Promise<void> {
    for (let i = 0; i < entries.length; i += FLUSHES_AT_ONCE) {
      await Promise.all(
        entries.slice(i, i + FLUSHES_AT_ONCE).map(async ({ file, isDirectory }) => {
          try {
            await this.flushFile(file, isDirectory);
          } catch (err) {
            // Removed since it was listed (a recycled WAL segment, a dropped table's file).
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          }
        }),
      );
    }
  }
}
