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
 * SQL sent with BEGIN (`opening`) and with COMMIT (`closing`). Under load every round trip waits
 * for a busy event loop and wakes a Postgres backend, so a batch's transaction makes as few as it
 * can: the opening travels in the query string of the transaction's first statement, which for a
 * batch of fresh spans is its first COPY. It must therefore answer no rows (a row would reach the
 * COPY's handler), and, being sent as a simple query like the closing, take no parameters: the
 * caller inlines only values it has checked.
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
    // The transaction opens with its first statement: sent before it, or (a COPY) in its string.
    let opening: string | null = `${begin} ${statements.opening};`;
    const open = (): string => {
      const sql = opening ?? '';
      opening = null;
      return sql;
    };
    try {
      const result = await work({
        query: async (text, params) => {
          // Parameters need a query of their own: the opening goes first, in a round trip of its own.
          if (opening !== null) await client.query(open());
          return (await client.query(text, params)).rows;
        },
        copyIn: (table, columns, rows) =>
          new Promise((resolve, reject) => {
            const stream = client.query(copyFrom(`${open()} ${copyStatement(table, columns, 'STDIN')}`));
            // 'finish' comes once the server has taken every row.
            stream.once('finish', resolve);
            stream.once('error', reject);
            stream.end(rows);
          }),
      });
      await client.query(`${open()} ${statements.closing}; COMMIT`);
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
