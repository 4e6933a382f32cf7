import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * One transaction on one session, with COPY: what the ledger writer needs and kysely does not
 * offer. Statements run in order; the transaction commits when the callback returns and rolls back
 * when it throws.
 */
export interface BulkTransaction {
  query<R>(text: string, params: unknown[]): Promise<R[]>;
  /** Appends rows given in COPY text format (see copy-text.ts) to a table. */
  copyIn(table: string, columns: readonly string[], rows: string): Promise<void>;
}

export type RunBulkTransaction = <T>(work: (tx: BulkTransaction) => Promise<T>) => Promise<T>;

const copyStatement = (table: string, columns: readonly string[], source: string) =>
  `COPY ${table} (${columns.join(', ')}) FROM ${source}`;

/** On a pg pool: a client of its own for the transaction, discarded if the connection broke. */
export function pgBulkTransaction(pool: pg.Pool): RunBulkTransaction {
  return async (work) => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work({
        query: async (text, params) => (await client.query(text, params)).rows,
        copyIn: (table, columns, rows) =>
          pipeline(Readable.from([rows]), client.query(copyFrom(copyStatement(table, columns, 'STDIN')))),
      });
      await client.query('COMMIT');
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
  return async (work) => {
    const release = await turn();
    try {
      await client.query('BEGIN');
      try {
        const result = await work({
          query: async (text, params) => (await client.query<never>(text, params)).rows,
          copyIn: async (table, columns, rows) => {
            await client.query(copyStatement(table, columns, "'/dev/blob'"), [], { blob: new Blob([rows]) });
          },
        });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    } finally {
      release();
    }
  };
}
