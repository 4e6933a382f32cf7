import type pg from 'pg';

const COPY_DATA = 0x64;
const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]);
/** Rows per CopyData message, in bytes. */
export const COPY_DATA_MAX = 1024 * 1024;

/**
 * One simple query whose `COPY … FROM STDIN` statements (any number, anywhere in its string) get
 * their rows sent right behind it, without waiting for the server to ask: the whole exchange is one
 * round trip. pg-copy-streams waits for each COPY's CopyInResponse, and takes one COPY per query.
 *
 * `rows` holds one entry per COPY, in the order of the string. If a statement fails, Postgres
 * skips the rest of the string and drops the CopyData and CopyDone still coming (the protocol's
 * rule for a failed COPY), so nothing sent ahead is applied; the query fails with that error.
 */
export class PipelinedCopyQuery implements pg.Submittable {
  readonly done: Promise<void>;
  #settle!: (err?: unknown) => void;

  /** pg wraps this to time the query out (the pool's query_timeout); calling it stops that clock. */
  callback: () => void = () => {};

  constructor(
    private readonly text: string,
    private readonly rows: readonly Uint8Array[],
  ) {
    this.done = new Promise((resolve, reject) => {
      this.#settle = (err) => {
        this.callback();
        if (err === undefined) resolve();
        else reject(err);
      };
    });
  }

  submit(connection: pg.Connection): void {
    const { stream } = connection;
    // One write for the lot: the backend wakes once and finds all of it.
    stream.cork();
    connection.query(this.text);
    for (const rows of this.rows) {
      // Postgres takes a CopyData message of at most 1 GB; a COPY's rows need not end with one.
      for (let at = 0; at < rows.length; at += COPY_DATA_MAX) {
        const chunk = rows.subarray(at, at + COPY_DATA_MAX);
        const header = Buffer.allocUnsafe(5);
        header[0] = COPY_DATA;
        header.writeUInt32BE(chunk.length + 4, 1);
        stream.write(header);
        stream.write(chunk);
      }
      stream.write(COPY_DONE);
    }
    stream.uncork();
  }

  // The rows are already on their way when the server asks for them; results are not needed.
  handleCopyInResponse(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}

  // pg calls this for a server's error (and then no handleReadyForQuery) or a lost connection.
  handleError(err: unknown): void {
    this.#settle(err);
  }

  handleReadyForQuery(): void {
    this.#settle();
  }
}
