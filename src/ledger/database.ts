import { mkdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { pgliteDialect, sessionTurns } from './pglite-dialect.js';
import { pgBulkTransaction, pgliteBulkTransaction, type RunBulkTransaction } from './bulk-transaction.js';
import { acquireLock, DataDirBusyError, lockHolder } from './data-dir-lock.js';
import { bridgeAnswers, bridgeDialect, serveBridge } from './local-bridge.js';
import type { DB } from './schema.js';

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
    return { db, kind: 'postgres', pool, bulkTransaction: pgBulkTransaction(pool, opts.writeFlushAfterKb), close: () => db.destroy() };
  }
  const inMemory = opts.dataDir.startsWith('memory://');
  if (!inMemory) mkdirSync(opts.dataDir, { recursive: true });
  const unlock = inMemory ? () => {} : acquireLock(opts.dataDir);
  // int8 and numeric stay strings, as pg gives them: counts and money are never rounded to doubles.
  try {
    const client = await PGlite.create({
      dataDir: opts.dataDir,
      parsers: { [INT8]: (v: string) => v, [NUMERIC]: (v: string) => v },
    });
    const turn = sessionTurns();
    const db = new Kysely<DB>({ dialect: pgliteDialect(client, turn) });
    const stopBridge = opts.serveLocalBridge && !inMemory ? await serveBridge(db, opts.dataDir) : async () => {};
    const close = async () => {
      await stopBridge();
      await db.destroy();
      unlock();
    };
    return { db, kind: 'pglite', bulkTransaction: pgliteBulkTransaction(client, turn), close };
  } catch (err) {
    unlock();
    throw err;
  }
}

/** How long a command waits for a held embedded ledger to be served or let go. */
const HELD_LEDGER_WAIT_MS = 30_000;

/**
 * The command line's ledger: Postgres when configured; otherwise the embedded ledger, reached
 * through the running server's bridge when a server holds it, or opened directly when none does.
 * A holder that does not answer yet is waited for: a server answers only once PGlite has opened
 * (seconds on a first start, when `npm start` and the first `keys create` are typed together),
 * and another command lets go when it ends.
 */
export async function openDatabaseForCli(opts: DatabaseOptions & { waitMs?: number }): Promise<LedgerDatabase> {
  if (opts.databaseUrl) return openDatabase({ ...opts, serveLocalBridge: false });
  const waitMs = opts.waitMs ?? HELD_LEDGER_WAIT_MS;
  const deadline = performance.now() + waitMs;
  for (;;) {
    const holder = lockHolder(opts.dataDir);
    if (holder !== null && (await bridgeAnswers(opts.dataDir))) {
      const db = new Kysely<DB>({ dialect: bridgeDialect(opts.dataDir) });
      return { db, kind: 'bridge', close: () => db.destroy() };
    }
    if (holder === null || performance.now() >= deadline) {
      try {
        return await openDatabase({ ...opts, serveLocalBridge: false });
      } catch (err) {
        if (!(err instanceof DataDirBusyError)) throw err;
        if (performance.now() >= deadline) {
          throw new DataDirBusyError(`${err.message}, which neither served it to commands nor let it go within ${waitMs / 1000} s`);
        }
        // Taken by a process that started in between: wait for it too.
      }
    }
    await delay(100);
  }
}
