import { heldKeys, lockAndRollupStatements } from './batch-sql.js';
import type { BulkTransaction, RunBulkTransaction } from './bulk-transaction.js';
import { appendRows, type StagedSpan } from './copy-rows.js';
import { GroupCommit, type FlushOutcome, type GroupCommitOptions } from './group-commit.js';
import { orUnavailable } from './unavailable.js';

/** Everything one request writes; it commits whole or not at all. */
export interface WriteRequest {
  orgId: string;
  spans: StagedSpan[];
}

/** What the writer reports, for metrics. */
export interface WriterEvents {
  /** A batch's transaction ended (committed or not), after `seconds`, holding `requests`. */
  written?(seconds: number, requests: number): void;
  /**
   * A batch had to be written again: `duplicate` when the ledger already held some of its spans
   * (a sender's retry), `split` when it was rewritten request by request after a data error.
   */
  rewritten?(reason: 'duplicate' | 'split'): void;
}

/**
 * Writes requests to the ledger with group commit: concurrent requests share one transaction of
 * COPY statements, and each caller returns only after the commit that holds its spans.
 */
export class LedgerWriter {
  readonly #group: GroupCommit<WriteRequest>;

  constructor(
    private readonly transaction: RunBulkTransaction,
    opts: GroupCommitOptions,
    private readonly events: WriterEvents = {},
  ) {
    this.#group = new GroupCommit((batch) => this.#commit(batch), opts);
  }

  async write(request: WriteRequest): Promise<void> {
    if (request.spans.length === 0) return;
    await orUnavailable('store the spans', () => this.#group.submit(request));
  }

  get pending(): number {
    return this.#group.pending;
  }

  drain(): Promise<void> {
    return this.#group.drain();
  }

  async #commit(batch: WriteRequest[]): Promise<FlushOutcome> {
    const started = performance.now();
    try {
      await this.#write(batch);
    } catch (err) {
      if (batch.length === 1 || !isWorthSplitting(err)) throw err;
      // One request's data (or its race with another batch) broke the batch: write each alone, so
      // that only the request at fault fails.
      this.events.rewritten?.('split');
      const errors: unknown[] = [];
      for (const request of batch) errors.push(await this.#write([request]).then(() => undefined, (e: unknown) => e));
      return errors;
    } finally {
      this.events.written?.((performance.now() - started) / 1000, batch.length);
    }
  }

  /**
   * Fresh spans, the usual case, go straight in. Should the ledger already hold one (a sender's
   * retry), the unique index refuses the batch and it is written again, this time leaving out
   * what the ledger holds.
   */
  async #write(batch: WriteRequest[]): Promise<void> {
    const statements = lockAndRollupStatements(batch);
    try {
      await this.transaction(statements, (tx) => writeBatch(tx, batch, false));
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      this.events.rewritten?.('duplicate');
      await this.transaction(statements, (tx) => writeBatch(tx, batch, true));
    }
  }
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown }).code === '23505';
}

/**
 * A Postgres error caused by the data written (SQLSTATE class 22 data exception, 23 integrity
 * violation, 54 program limit) or by a clash with a concurrent batch (40: deadlock, serialization):
 * worth retrying request by request. Connection failures and the like are not, they would fail
 * every request again.
 */
function isWorthSplitting(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^(22|23|40|54)[0-9A-Z]{3}$/.test(code);
}

/**
 * One batch as one transaction: lock the touched traces (opening), append the rows with COPY,
 * mark roll-ups (closing). `careful`: first learn which of the batch's spans and generations the
 * ledger already holds, and leave them out.
 *
 * COPY has no ON CONFLICT, so duplicates must be left out beforehand. That is exact: every writer
 * holds the trace's lock while it adds spans to the trace, so no other transaction can add one of
 * these spans meanwhile. A generation id re-sent in another trace is outside those locks; should
 * two batches race on one, the unique index refuses the second, and its requests are retried one
 * by one, now seeing the first.
 */
async function writeBatch(tx: BulkTransaction, batch: WriteRequest[], careful: boolean): Promise<void> {
  await appendRows(tx, batch, careful ? await heldKeys(tx, batch) : []);
}
