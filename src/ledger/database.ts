import { accessSync, chmodSync, constants, mkdirSync, readdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { pgliteDialect, sessionTurns } from './pglite-dialect.js';
import { pgBulkTransaction, pgliteBulkTransaction, type RunBulkTransaction } from './bulk-transaction.js';
import { acquireLock, DataDirBusyError, isLockFile, lockHolder } from './data-dir-lock.js';
import { bridgeAnswers, bridgeDialect, serveBridge, SOCKET_FILE } from './local-bridge.js';
import { EmbeddedFlush, isPostgresEntry } from './embedded-flush.js';
import type { DB } from './schema.js';
import { ConfigError } from '../config.js';

export interface LedgerDatabase {
  db: Kysely<DB>;
  /** `bridge`: the embedded ledger of a running server, reached through its local socket. */
  kind: 'postgres' | 'pglite' | 'bridge';
  /** The pg pool, for saturation metrics; absent on PGlite. */
  pool?: pg.Pool;
  close(): Promise<void>;
}

/** A ledger this process opened itself (not through the bridge): the writer's transactions too. */
export interface OwnLedgerDatabase extends LedgerDatabase {
  /** A transaction with COPY, for the ledger writer. */
  bulkTransaction: RunBulkTransaction;
  /** What flushes an embedded ledger's files to the disk; null on Postgres and in memory. */
  flush: EmbeddedFlush | null;
}

export interface DatabaseOptions {
  databaseUrl?: string;
  /** PGlite data directory; `memory://` keeps it in memory (tests). */
  dataDir: string;
  poolSize: number;
  /** Postgres's backend_flush_after for the ledger writer's transactions, in kB; 0 leaves it. */
  writeFlushAfterKb?: number;
  /** Let the command line reach this embedded ledger while the process holds it (the server). */
  serveLocalBridge?: boolean;
}

const INT8 = 20;
const NUMERIC = 1700;

export async function openDatabase(opts: DatabaseOptions): Promise<OwnLedgerDatabase> {
  if (opts.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.poolSize,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      // A request must not hang on a dead server: give up on one statement after 30 s.
      query_timeout: 30_000,
    });
    // A client losing its server emits 'error' (on the pool when idle, on the client when checked
    // out between statements); unheard, that would crash the process. The query in flight fails on
    // its own and the pool discards the broken client.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return { db, kind: 'postgres', pool, bulkTransaction: pgBulkTransaction(pool, opts.writeFlushAfterKb), flush: null, close: () => db.destroy() };
  }
  const inMemory = opts.dataDir.startsWith('memory://');
  if (!inMemory) makeDataDir(opts.dataDir);
  const unlock = inMemory ? () => {} : acquireLock(opts.dataDir);
  // int8 and numeric stay strings, as pg gives them: counts and money are never rounded to doubles.
  try {
    const client = await PGlite.create({
      dataDir: opts.dataDir,
      parsers: { [INT8]: (v: string) => v, [NUMERIC]: (v: string) => v },
    });
    const turn = sessionTurns();
    const db = new Kysely<DB>({ dialect: pgliteDialect(client, turn) });
    // What opening wrote (a recovery after a crash) is flushed before anything builds on it.
    const flush = inMemory ? null : new EmbeddedFlush(opts.dataDir);
    await flush?.everything();
    const stopBridge = opts.serveLocalBridge && !inMemory ? await serveBridge(db, opts.dataDir, flush) : async () => {};
    const close = async () => {
      await stopBridge();
      // Closing PGlite checkpoints: its data files are written, then flushed here.
      await db.destroy();
      try {
        await flush?.everything();
      } finally {
        unlock();
      }
    };
    return { db, kind: 'pglite', bulkTransaction: pgliteBulkTransaction(client, turn, flush), flush, close };
  } catch (err) {
    unlock();
    throw err;
  }
}

/**
 * The embedded ledger's directory, made if missing, owner-only; one that cannot be is a
 * configuration error naming DATA_DIR. PGlite makes its files writable by every local user
 * (mode 0666, whatever the umask), so only the directory's mode keeps others from rewriting the
 * ledger, as Postgres itself insists on for its data directories. A directory this user does not
 * own (a volume shared through its group) is left as it is.
 */
function makeDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    refuseForeignDirectory(dir);
    accessSync(dir, constants.W_OK);
    try {
      chmodSync(dir, 0o700);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const why = (err as NodeJS.ErrnoException).code === 'EEXIST' ? 'a file, not a directory' : (err as Error).message;
    throw new ConfigError(`invalid configuration: DATA_DIR: "${dir}" cannot hold the ledger: ${why}`);
  }
}

/** What an empty directory may hold: a file system's own, and what an earlier run of this service left. */
function isOwnFile(name: string): boolean {
  return name === 'lost+found' || name === SOCKET_FILE || isLockFile(name) || isPostgresEntry(name);
}

/**
 * PGlite makes its ledger in whatever directory it is given, beside what is there: DATA_DIR set
 * to a home directory or a project's would get twenty Postgres directories among its files. A
 * directory that holds other things and no ledger (PG_VERSION) is refused. Postgres's own entries
 * without PG_VERSION are a ledger whose making was cut off (killed in its first start): PGlite
 * makes it again.
 */
function refuseForeignDirectory(dir: string): void {
  const all = readdirSync(dir);
  if (all.includes('PG_VERSION')) return;
  const names = all.filter((name) => !isOwnFile(name));
  if (names.length === 0) return;
  const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? ', …' : '');
  throw new ConfigError(
    `invalid configuration: DATA_DIR: "${dir}" holds other files (${shown}) and no ledger: give an empty or new directory`,
  );
}

/** How long a process waits for a held embedded ledger to be served or let go. */
const HELD_LEDGER_WAIT_MS = 30_000;

export interface WaitOptions {
  /** How long to wait for the embedded ledger's holder (default 30 s). */
  waitMs?: number;
  /** Called once, when the ledger turns out to be held by a process that does not serve it yet. */
  onWait?: (holder: number) => void;
}

/**
 * Opens the embedded ledger when no live process holds it. A holder that serves it (a server,
 * answering on the bridge) gets `whenServed`; one that does not yet is waited for: a server answers
 * only once PGlite has opened (seconds on a first start, when `npm start` and the first command are
 * typed together), and a command lets go when it ends.
 */
async function openWhenFree<T>(
  opts: DatabaseOptions & WaitOptions,
  whenServed: (holder: number) => Promise<T>,
  open: () => Promise<T>,
): Promise<T> {
  const waitMs = opts.waitMs ?? HELD_LEDGER_WAIT_MS;
  const deadline = performance.now() + waitMs;
  let told = false;
  for (;;) {
    const holder = lockHolder(opts.dataDir);
    if (holder !== null && (await bridgeAnswers(opts.dataDir))) return whenServed(holder);
    if (holder === null || performance.now() >= deadline) {
      try {
        return await open();
      } catch (err) {
        if (!(err instanceof DataDirBusyError)) throw err;
        if (performance.now() >= deadline) {
          throw new DataDirBusyError(`${err.message}, which neither served it nor let it go within ${waitMs / 1000} s`);
        }
        // Taken by a process that started in between: wait for it too.
      }
    } else if (!told) {
      told = true;
      opts.onWait?.(holder);
    }
    await delay(100);
  }
}

/** The server's ledger: an embedded one held by a command is waited for; one another server serves is refused. */
export async function openDatabaseForServer(opts: DatabaseOptions & WaitOptions): Promise<OwnLedgerDatabase> {
  const open = () => openDatabase({ ...opts, serveLocalBridge: true });
  if (opts.databaseUrl) return open();
  return openWhenFree(
    opts,
    (holder) => Promise.reject(new DataDirBusyError(`the embedded ledger in ${opts.dataDir} is served by another server (process ${holder})`)),
    open,
  );
}

/**
 * The command line's ledger: Postgres when configured; otherwise the embedded ledger, reached
 * through the running server's bridge when a server holds it, or opened directly when none does.
 */
export async function openDatabaseForCli(opts: DatabaseOptions & WaitOptions): Promise<LedgerDatabase> {
  const open = () => openDatabase({ ...opts, serveLocalBridge: false });
  if (opts.databaseUrl) return open();
  return openWhenFree<LedgerDatabase>(
    opts,
    async () => {
      const db = new Kysely<DB>({ dialect: bridgeDialect(opts.dataDir) });
      return { db, kind: 'bridge', close: () => db.destroy() };
    },
    open,
  );
}
