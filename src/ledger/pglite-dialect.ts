import type { PGlite } from '@electric-sql/pglite';
import type { CompiledQuery, DatabaseConnection, Dialect, QueryResult } from 'kysely';
import { postgresDialect, SqlTransactionDriver } from './kysely-driver-base.js';

/**
 * Kysely over embedded PGlite. PGlite is a single Postgres session, so a connection is lent to
 * one user at a time (a pool of one): without that, two transactions would interleave their
 * statements in the same session and commit each other's work. (kysely-pglite 0.6 shares the
 * session unguarded, and pins an older kysely, so this small driver replaces it.)
 */
export function pgliteDialect(client: PGlite): Dialect {
  return postgresDialect(() => new PGliteDriver(client));
}

class PGliteDriver extends SqlTransactionDriver {
  #queue: Promise<void> = Promise.resolve();

  constructor(private readonly client: PGlite) {
    super();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    const previous = this.#queue;
    this.#queue = previous.then(() => turn);
    await previous;
    return new PGliteConnection(this.client, release);
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
