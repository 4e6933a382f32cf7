import net from 'node:net';
import { chmodSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { CompiledQuery, type DatabaseConnection, type Dialect, type Kysely, type QueryResult } from 'kysely';
import { postgresDialect, SqlTransactionDriver } from './kysely-driver-base.js';
import type { EmbeddedFlush } from './embedded-flush.js';

export const SOCKET_FILE = '.ledger.sock';

/**
 * While the server holds the embedded ledger, the `ledger` command line reaches it through this
 * bridge: a Unix socket in DATA_DIR (owner-only), one socket per database connection, newline-
 * delimited JSON of compiled queries. Only local processes of the same user can connect.
 */
export function socketPath(dataDir: string): string {
  return path.join(path.resolve(dataDir), SOCKET_FILE);
}

interface Request {
  sql: string;
  parameters: unknown[];
}
type Response = { rows: unknown[]; affected: string } | { error: string };

// A client that holds the session this long without a word gives it back to the server.
const IDLE_MS = 15_000;

const revive = (_key: string, value: unknown): unknown =>
  value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer'
    ? Buffer.from((value as { data: number[] }).data)
    : value;

// What the command line commits through the bridge (a key made or revoked) is on the disk before it
// hears so, as the writer's batches are: flushed after each statement that ends outside a transaction.
const TRANSACTION_OPENS = /^\s*(BEGIN|START\s+TRANSACTION)\b/i;
const TRANSACTION_ENDS = /^\s*(COMMIT|END|ROLLBACK|ABORT)\b/i;

export async function serveBridge<T>(db: Kysely<T>, dataDir: string, flush: EmbeddedFlush | null): Promise<() => Promise<void>> {
  const file = socketPath(dataDir);
  try {
    unlinkSync(file);
  } catch {
    // No stale socket.
  }
  const server = net.createServer((socket) => {
    socket.setTimeout(IDLE_MS, () => socket.destroy());
    // Each socket is one connection: it holds the session until it closes, so its transactions
    // cannot interleave with the server's own.
    void db
      .connection()
      .execute(
        (conn) =>
          new Promise<void>((resolve) => {
            let buffered = '';
            let chain = Promise.resolve();
            const session = { inTransaction: false };
            socket.on('data', (chunk) => {
              buffered += chunk.toString('utf8');
              let nl;
              while ((nl = buffered.indexOf('\n')) >= 0) {
                const line = buffered.slice(0, nl);
                buffered = buffered.slice(nl + 1);
                chain = chain.then(() => answer(conn, line, socket, session, flush));
              }
            });
            // PGlite is one session: a transaction the command line left open (killed inside it,
            // or cut off idle) would otherwise be committed by the session's next user's COMMIT.
            // Outside a transaction ROLLBACK only warns.
            socket.on('close', () => {
              chain = chain.then(() => conn.executeQuery(CompiledQuery.raw('ROLLBACK')).then(() => undefined, () => undefined));
              void chain.then(resolve);
            });
            socket.on('error', () => socket.destroy());
          }),
      )
      .catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: file }, resolve);
  });
  // Owner-only, whatever the umask: whoever can open the socket can read and write the ledger.
  chmodSync(file, 0o600);
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      try {
        unlinkSync(file);
      } catch {
        // Already removed.
      }
    });
}

async function answer<T>(
  conn: Kysely<T>,
  line: string,
  socket: net.Socket,
  session: { inTransaction: boolean },
  flush: EmbeddedFlush | null,
): Promise<void> {
  let response: Response;
  try {
    const req = JSON.parse(line, revive) as Request;
    const result = await conn.executeQuery(CompiledQuery.raw(req.sql, req.parameters));
    if (TRANSACTION_OPENS.test(req.sql)) session.inTransaction = true;
    else if (TRANSACTION_ENDS.test(req.sql)) session.inTransaction = false;
    if (flush && !session.inTransaction) await flush.sessionCommitted(conn);
    response = { rows: result.rows, affected: String(result.numAffectedRows ?? 0n) };
  } catch (err) {
    response = { error: (err as Error).message };
  }
  if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
}

/** The command line's side: a Kysely dialect whose connections are bridge sockets. */
export function bridgeDialect(dataDir: string): Dialect {
  return postgresDialect(() => new BridgeDriver(socketPath(dataDir)));
}

/** True when a server answers on the bridge socket. */
export function bridgeAnswers(dataDir: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath(dataDir));
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

class BridgeDriver extends SqlTransactionDriver {
  constructor(private readonly file: string) {
    super();
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    const socket = net.connect(this.file);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new BridgeConnection(socket);
  }
  async releaseConnection(c: DatabaseConnection): Promise<void> {
    (c as BridgeConnection).socket.end();
  }
}

const CLOSED: Response = { error: 'the ledger server closed the connection' };

class BridgeConnection implements DatabaseConnection {
  #buffered = '';
  #waiting: ((r: Response) => void)[] = [];

  constructor(readonly socket: net.Socket) {
    // 'close' follows every error and answers what is waiting; without a listener, an error (the
    // server killed mid-answer) would end the process instead.
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      this.#buffered += chunk.toString('utf8');
      let nl;
      while ((nl = this.#buffered.indexOf('\n')) >= 0) {
        const line = this.#buffered.slice(0, nl);
        this.#buffered = this.#buffered.slice(nl + 1);
        this.#waiting.shift()?.(JSON.parse(line) as Response);
      }
    });
    socket.on('close', () => this.#waiting.splice(0).forEach((w) => w(CLOSED)));
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    // A query sent after the close would wait for an answer that never comes, and a command line
    // with nothing left to wait for exits 0, as if it had done its work.
    const response = this.socket.destroyed
      ? CLOSED
      : await new Promise<Response>((resolve) => {
          this.#waiting.push(resolve);
          this.socket.write(`${JSON.stringify({ sql: compiled.sql, parameters: compiled.parameters })}\n`);
        });
    if ('error' in response) throw new Error(response.error);
    return { rows: response.rows as R[], numAffectedRows: BigInt(response.affected) };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not available over the local bridge; page with keyset queries instead');
  }
}
