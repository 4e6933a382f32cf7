import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * One transaction on one session, with COPY: what the ledger writer needs and kysely does not
 * offer. Statements run in order; the transaction commits when the work returns and rolls back
 * when it throws.
 */
export interface BulkTransaction {
  query<R>(text: string, params: unknown[]): Promise<R[]>;
  /** Appends rows given in COPY text format (see copy-text.ts) to a table. */
  copyIn(table: string, columns: readonly string[], rows: Uint8Array): Promise<void>;
}

/**
 * SQL sent in the same round trip as BEGIN (`opening`) and as COMMIT (`closing`). Under load every
 * round trip waits for a busy event loop, so a batch's transaction makes as few as it can. Being
 * sent as a simple query, they take no parameters: the caller inlines only values it has checked.
 */
export interface BulkStatements {
  opening: string;
  closing: string;
}

export type RunBulkTransaction = <T>(statements: BulkStatements, work: (tx: BulkTransaction) => Promise<T>) => Promise<T>;

const copyStatement = (table: string, columns: readonly string[], source: string) =>
  `COPY ${table} (${columns.join(', ')}) FROM ${source}`;

/**
 * On a pg pool: a client of its own for the transaction, discarded if the connection broke.
 * `flushAfterKb` (0: leave it): backend_flush_after for the transaction alone. A writer evicts
 * many dirty pages itself; left in the kernel's cache they are written back ~200 MB at a time, and
 * every commit's WAL flush waits behind that (seen: commits of 50–250 ms).
 */
export function pgBulkTransaction(pool: pg.Pool, flushAfterKb = 0): RunBulkTransaction {
  const begin = flushAfterKb > 0 ? `BEGIN; SET LOCAL backend_flush_after = '${flushAfterKb}kB';` : 'BEGIN;';
  return async (statements, work) => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query(`${begin} ${statements.opening}`);
      const result = await work({
        query: async (text, params) => (await client.query(text, params)).rows,
        copyIn: (table, columns, rows) =>
          new Promise((resolve, reject) => {
            const stream = client.query(copyFrom(copyStatement(table, columns, 'STDIN')));
            // 'finish' comes once the server has taken every row.
            stream.once('finish', resolve);
            stream.once('error', reject);
            stream.end(rows);
          }),
      });
      await client.query(`${statements.closing}; COMMIT`);
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw err;
    } finally {
      client.release(broken);
    }
  };
}

/**
 * On embedded PGlite: the session is lent by `turn` (the same turns kysely queries take), since
 * PGlite is one Postgres session and two transactions must never interleave in it.
 */
export function pgliteBulkTransaction(client: PGlite, turn: () => Promise<() => void>): RunBulkTransaction {
  return async (statements, work) => {
    const release = await turn();
    try {
      await client.exec(`BEGIN; ${statements.opening}`);
      const result = await work({
        query: async (text, params) => (await client.query<never>(text, params)).rows,
        copyIn: async (table, columns, rows) => {
          await client.query(copyStatement(table, columns, "'/dev/blob'"), [], { blob: new Blob([rows]) });
        },
      });
      await client.exec(`${statements.closing}; COMMIT`);
      return result;
    } catch (err) {
      // The work's error is the one to report; outside a transaction ROLLBACK only warns.
      await client.exec('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      release();
    }
  };
}
