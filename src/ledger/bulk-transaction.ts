import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';
import { PipelinedCopyQuery } from './pipelined-copy.js';
import { WAL_POSITION_SQL, type EmbeddedFlush } from './embedded-flush.js';

/**
 * One transaction on one session, with COPY: what the ledger writer needs and kysely does not
 * offer. Statements run in order; the transaction commits when the work returns and rolls back
 * when it throws.
 */
export interface BulkTransaction {
  query<R>(text: string, params: unknown[]): Promise<R[]>;
  /**
   * Appends rows given in COPY text format (see copy-text.ts) to a table. The rows may travel
   * with the transaction's next statement (on Postgres they do), so an error in them may be
   * reported there, or by the commit.
   */
  copyIn(table: string, columns: readonly string[], rows: Uint8Array): Promise<void>;
}

/**
 * SQL sent with BEGIN (`opening`) and with COMMIT (`closing`). Under load every round trip waits
 * for a busy event loop and wakes a Postgres backend, so a batch's transaction makes as few as it
 * can: on Postgres the opening, the COPYs with their rows and the closing travel as one simple
 * query string. Being sent that way, they take no parameters: the caller inlines only values it
 * has checked.
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
  const begin = flushAfterKb > 0 ? `BEGIN; SET LOCAL backend_flush_after = '${flushAfterKb}kB'` : 'BEGIN';
  return async (statements, work) => {
    const client = await pool.connect();
    let broken: Error | undefined;
    // Statements not sent yet, with the rows of the COPYs among them. They go together, in one
    // query string, with the next query or with COMMIT: a batch of fresh spans sends its whole
    // transaction in one round trip.
    let unsent = [begin, statements.opening];
    let rows: Uint8Array[] = [];
    const send = async (last: string[]): Promise<void> => {
      const query = new PipelinedCopyQuery([...unsent, ...last].join('; '), rows);
      unsent = [];
      rows = [];
      client.query(query);
      await query.done;
    };
    try {
      const result = await work({
        query: async (text, params) => {
          // Parameters need a query of their own: what is unsent goes first, in a round trip of its own.
          if (unsent.length > 0) await send([]);
          return (await client.query(text, params)).rows;
        },
        copyIn: async (table, columns, data) => {
          unsent.push(copyStatement(table, columns, 'STDIN'));
          rows.push(data);
        },
      });
      await send([statements.closing, 'COMMIT']);
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
 * PGlite is one Postgres session and two transactions must never interleave in it. The commit is
 * flushed to the disk (`flush`, embedded-flush.ts) before the transaction returns, the session
 * already lent to whoever waits for it; `flush` null: a ledger in memory.
 */
export function pgliteBulkTransaction(client: PGlite, turn: () => Promise<() => void>, flush: EmbeddedFlush | null): RunBulkTransaction {
  return async (statements, work) => {
    const release = await turn();
    let result;
    let segment: string | undefined;
    try {
      await client.exec(`BEGIN; ${statements.opening}`);
      result = await work({
        query: async (text, params) => (await client.query<never>(text, params)).rows,
        copyIn: async (table, columns, rows) => {
          await client.query(copyStatement(table, columns, "'/dev/blob'"), [], { blob: new Blob([rows]) });
        },
      });
      const results = await client.exec(`${statements.closing}; COMMIT; ${WAL_POSITION_SQL}`);
      segment = (results.at(-1)!.rows[0] as { wal: string }).wal;
    } catch (err) {
      // The work's error is the one to report; outside a transaction ROLLBACK only warns.
      await client.exec('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      release();
    }
    await flush?.committed(segment);
    return result;
  };
}
