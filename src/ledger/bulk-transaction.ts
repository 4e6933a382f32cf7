import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';
import { CopyScript, type CopyRows } from './copy-script.js';

export type { CopyRows } from './copy-script.js';

/**
 * One transaction on one session: the lock-holding reads the ledger writer may need before it
 * knows its rows, then the rows appended with COPY. kysely offers neither COPY nor control over
 * round trips.
 */
export interface BulkTransaction {
  /** Runs inside the transaction, after the opening statement (the trace locks) has run. */
  query<R>(text: string, params: unknown[]): Promise<R[]>;
}

/**
 * SQL run first in the transaction (`opening`) and last, after the rows and before COMMIT
 * (`closing`). Being sent as simple queries, they take no parameters: the caller inlines only
 * values it has checked.
 */
export interface BulkStatements {
  opening: string;
  closing: string;
}

/**
 * Runs `work`, which may query and returns the rows to append; then appends them, runs the closing
 * statement and commits. Rolls back if anything fails.
 */
export type RunBulkTransaction = (
  statements: BulkStatements,
  work: (tx: BulkTransaction) => Promise<CopyRows[]>,
) => Promise<void>;

const copyStatement = (rows: CopyRows, source: string) => `COPY ${rows.table} (${rows.columns.join(', ')}) FROM ${source}`;

/**
 * On a pg pool, a client of its own for the transaction (discarded if the connection broke).
 * Under load every round trip waits for a busy event loop, so the usual batch — one that needs no
 * reads — is one query string: BEGIN, the opening, each COPY, the closing and COMMIT, answered in
 * one round trip per COPY plus one. A batch that reads first sends BEGIN and the opening before
 * its first read, so that its reads see the ledger under the locks.
 */
export function pgBulkTransaction(pool: pg.Pool): RunBulkTransaction {
  return async (statements, work) => {
    const client = await pool.connect();
    let broken: Error | undefined;
    let begun = false;
    try {
      const copies = await work({
        query: async (text, params) => {
          if (!begun) {
            await client.query(`BEGIN; ${statements.opening}`);
            begun = true;
          }
          return (await client.query(text, params)).rows;
        },
      });
      const script = [
        ...(begun ? [] : ['BEGIN', statements.opening]),
        ...copies.map((c) => copyStatement(c, 'STDIN')),
        statements.closing,
        'COMMIT',
      ].join('; ');
      await new Promise<void>((resolve, reject) => {
        client.query(new CopyScript(script, copies, (err) => (err ? reject(err) : resolve())));
      });
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
 * PGlite is one Postgres session and two transactions must never interleave in it. Its calls
 * cost no round trips, and its COPY takes one blob per statement.
 */
export function pgliteBulkTransaction(client: PGlite, turn: () => Promise<() => void>): RunBulkTransaction {
  return async (statements, work) => {
    const release = await turn();
    try {
      await client.exec(`BEGIN; ${statements.opening}`);
      const copies = await work({
        query: async (text, params) => (await client.query<never>(text, params)).rows,
      });
      for (const c of copies) {
        await client.query(copyStatement(c, "'/dev/blob'"), [], { blob: new Blob([c.rows]) });
      }
      await client.exec(`${statements.closing}; COMMIT`);
    } catch (err) {
      // The work's error is the one to report; outside a transaction ROLLBACK only warns.
      await client.exec('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      release();
    }
  };
}
