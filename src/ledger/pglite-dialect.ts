import type { PGlite } from '@electric-sql/pglite';
import type { CompiledQuery, DatabaseConnection, Dialect, QueryResult } from 'kysely';
import { postgresDialect, SqlTransactionDriver } from './kysely-driver-base.js';

/**
 * Kysely over embedded PGlite. PGlite is a single Postgres session, so a connection is lent to
 * one user at a time (a pool of one): without that, two transactions would interleave their
 * statements in the same session and commit each other's work. (kysely-pglite 0.6 shares the
 * session unguarded, and pins an older kysely, so this small driver replaces it.)
 */
export function pgliteDialect(client: PGlite, turn: () => Promise<() => void>): Dialect {
  return postgresDialect(() => new PGliteDriver(client, turn));
}

/**
 * Turns at PGlite's one session, first come first served: resolves when the caller's turn has come,
 * with the function that ends it.
 */
export function sessionTurns(): () => Promise<() => void> {
  let queue: Promise<void> = Promise.resolve();
  return async () => {
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const previous = queue;
    queue = previous.then(() => done);
    await previous;
    return release;
  };
}

class PGliteDriver extends SqlTransactionDriver {
  constructor(
    private readonly client: PGlite,
    private readonly turn: () => Promise<() => void>,
  ) {
    super();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new PGliteConnection(this.client, await this.turn());
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    (connection as PGliteConnection).release();
  }

  override async destroy(): Promise<void> {
    await this.client.close();
  }
}

class PGliteConnection implements DatabaseConnection {
  constructor(
    private readonly client: PGlite,
    readonly release: () => void,
  ) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    // Without parameters the text may hold several statements (migrations); exec runs them all.
    if (compiled.parameters.length === 0) {
      const results = await this.client.exec(compiled.sql);
      const last = results[results.length - 1];
      return { rows: (last?.rows ?? []) as R[], numAffectedRows: BigInt(last?.affectedRows ?? 0) };
    }
    const result = await this.client.query<R>(compiled.sql, [...compiled.parameters]);
    return { rows: result.rows, numAffectedRows: BigInt(result.affectedRows ?? 0) };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not available on PGlite; page with keyset queries instead');
  }
}
