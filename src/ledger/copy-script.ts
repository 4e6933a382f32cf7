import type pg from 'pg';

/** Rows for one table, in COPY text format (see copy-text.ts). */
export interface CopyRows {
  table: string;
  columns: readonly string[];
  rows: string;
}

/**
 * The parts of pg's connection a COPY needs. pg's own Query answers COPY with these (`pg` lib/
 * connection.js); its type declarations leave them out.
 */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
}

/**
 * A query string holding several statements, some of them `COPY … FROM STDIN`, run as one pg
 * query (a custom "submittable", as pg-copy-streams is): each time Postgres asks for COPY data it
 * gets the next table's rows. So a whole batch costs one round trip per COPY plus one, not two
 * per COPY plus one per other statement. Postgres runs a query string's statements in order and
 * stops at the first error; `done` gets that error, or nothing once the string has run.
 */
export class CopyScript implements pg.Submittable {
  #next = 0;

  constructor(
    private readonly text: string,
    private readonly copies: readonly CopyRows[],
    /** pg calls it by this name, and wraps it when query_timeout is set. */
    public callback: (err: Error | null) => void,
  ) {}

  submit(connection: pg.Connection): void {
    (connection as unknown as CopyConnection).query(this.text);
  }

  handleCopyInResponse(connection: pg.Connection): void {
    const c = connection as unknown as CopyConnection;
    const copy = this.copies[this.#next++];
    if (!copy) {
      c.sendCopyFail('the query string holds more COPY statements than row sets');
      return;
    }
    c.sendCopyFromChunk(Buffer.from(copy.rows, 'utf8'));
    c.endCopyFrom();
  }

  handleError(err: Error): void {
    this.callback(err);
  }

  handleReadyForQuery(): void {
    this.callback(null);
  }

  // Rows and completions of the statements in between carry nothing the writer needs.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}
