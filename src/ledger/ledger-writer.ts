import type { Attributes, OtlpSpan } from '../otlp/model.js';
import type { Usage } from '../spend/extract.js';
import type { BulkStatements, BulkTransaction, RunBulkTransaction } from './bulk-transaction.js';
import { copyField, copyJson, copyLine, nanosToTimestamptz } from './copy-text.js';
import { GroupCommit, type FlushOutcome, type GroupCommitOptions } from './group-commit.js';
import { orUnavailable } from './unavailable.js';

/** One accepted span, ready for the ledger: content already split off. */
export interface SpanRecord {
  span: OtlpSpan;
  usage: Usage | null;
  content: { attributes: Attributes; events: unknown[] } | null;
}

/** Everything one request writes; it commits whole or not at all. */
export interface WriteRequest {
  orgId: string;
  apiKeyId: string;
  records: SpanRecord[];
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
    if (request.records.length === 0) return;
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
    const statements = lockAndRollupStatements(batchKeys(batch));
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

const SPAN_COLUMNS = [
  'org_id', 'trace_id', 'span_id', 'parent_span_id', 'api_key_id', 'name', 'kind',
  'start_time_unix_nano', 'end_time_unix_nano', 'started_at', 'ended_at', 'status_code',
  'status_message', 'trace_state', 'flags', 'attributes', 'events', 'links', 'dropped', 'resource', 'scope',
] as const;

const USAGE_COLUMNS = [
  'org_id', 'trace_id', 'span_id', 'parent_span_id', 'role', 'generation_id', 'started_at', 'ended_at',
  'latency_ms', 'model', 'provider', 'input_tokens', 'output_tokens', 'total_tokens',
  'cached_input_tokens', 'reasoning_tokens', 'cost_usd', 'status', 'user_id', 'session_id',
  'api_key_name', 'trace_name', 'metadata',
] as const;

const CONTENT_COLUMNS = ['org_id', 'trace_id', 'span_id', 'attributes', 'events'] as const;

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
  const held = careful ? await heldKeys(tx, batch) : [];
  const rows = newRows(batch, held);
  if (rows.spans) await tx.copyIn('spans', SPAN_COLUMNS, rows.spans);
  if (rows.usage) await tx.copyIn('span_usage', USAGE_COLUMNS, rows.usage);
  if (rows.content) await tx.copyIn('span_content', CONTENT_COLUMNS, rows.content);
}

type HeldKey = { kind: 'span' | 'generation'; org_id: string; id: string; sub: string | null };

function heldKeys(tx: BulkTransaction, batch: WriteRequest[]): Promise<HeldKey[]> {
  const spans = { orgIds: [] as string[], traceIds: [] as string[], spanIds: [] as string[] };
  const generations = { orgIds: [] as string[], ids: [] as string[] };
  for (const req of batch) {
    for (const r of req.records) {
      spans.orgIds.push(req.orgId);
      spans.traceIds.push(r.span.traceId);
      spans.spanIds.push(r.span.spanId);
      if (r.usage?.generationId) {
        generations.orgIds.push(req.orgId);
        generations.ids.push(r.usage.generationId);
      }
    }
  }
  return tx.query<HeldKey>(
    // LATERAL … LIMIT 1 keeps this a probe of the primary key per row: a join would let the
    // planner hash a whole table that is still small.
    `SELECT 'span' AS kind, k.org_id::text, k.trace_id AS id, k.span_id AS sub
       FROM unnest($1::bigint[], $2::text[], $3::text[]) AS k(org_id, trace_id, span_id)
       CROSS JOIN LATERAL (SELECT FROM spans s
         WHERE s.org_id = k.org_id AND s.trace_id = k.trace_id AND s.span_id = k.span_id LIMIT 1) AS s
     UNION ALL
     SELECT 'generation', g.org_id::text, g.generation_id, NULL
       FROM unnest($4::bigint[], $5::text[]) AS g(org_id, generation_id)
       CROSS JOIN LATERAL (SELECT FROM span_usage u
         WHERE u.org_id = g.org_id AND u.generation_id = g.generation_id LIMIT 1) AS u`,
    [spans.orgIds, spans.traceIds, spans.spanIds, generations.orgIds, generations.ids],
  );
}

interface BatchKeys {
  traces: { orgIds: string[]; traceIds: string[] };
  /** One advisory-lock key per touched trace, ascending, so that transactions lock in one order. */
  lockKeys: string[];
}

function batchKeys(batch: WriteRequest[]): BatchKeys {
  const traces = new Map<string, { orgId: string; traceId: string }>();
  for (const req of batch) {
    for (const r of req.records) traces.set(`${req.orgId}/${r.span.traceId}`, { orgId: req.orgId, traceId: r.span.traceId });
  }
  const lockKeys = [...new Set([...traces.values()].map((t) => lockKey(t.orgId, t.traceId)))];
  lockKeys.sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
  return {
    traces: { orgIds: [...traces.values()].map((t) => t.orgId), traceIds: [...traces.values()].map((t) => t.traceId) },
    lockKeys,
  };
}

/** A trace's advisory-lock key: 64 bits of its (random) trace id, mixed with the organisation. */
function lockKey(orgId: string, traceId: string): string {
  return BigInt.asIntN(64, BigInt(`0x${traceId.slice(0, 16)}`) ^ BigInt(orgId)).toString();
}

/**
 * Ids (checked hex), organisation ids, key ids and enums go into COPY as they are; free text
 * through copyField. The batch's rows in COPY text, less what the ledger already holds and less repeats within the
 * batch (the first one counts): a span stored once, a generation counted once per organisation.
 * Empty strings where a table gets no rows.
 */
function newRows(batch: WriteRequest[], held: HeldKey[]): { spans: string; usage: string; content: string } {
  const spanKeys = new Set<string>();
  const generationKeys = new Set<string>();
  for (const h of held) (h.kind === 'span' ? spanKeys : generationKeys).add(`${h.org_id}/${h.id}/${h.sub ?? ''}`);
  let spans = '';
  let usage = '';
  let content = '';
  for (const req of batch) {
    for (const r of req.records) {
      const s = r.span;
      const spanKey = `${req.orgId}/${s.traceId}/${s.spanId}`;
      if (spanKeys.has(spanKey)) continue;
      spanKeys.add(spanKey);
      const startedAt = nanosToTimestamptz(s.startTimeUnixNano);
      const endedAt = nanosToTimestamptz(s.endTimeUnixNano);
      spans += spanLine(req, s, startedAt, endedAt);
      if (r.usage) {
        const generationKey = r.usage.generationId === null ? null : `${req.orgId}/${r.usage.generationId}/`;
        if (generationKey === null || !generationKeys.has(generationKey)) {
          if (generationKey !== null) generationKeys.add(generationKey);
          usage += usageLine(req.orgId, s, r.usage, startedAt, endedAt);
        }
      }
      if (r.content) {
        content += copyLine([req.orgId, s.traceId, s.spanId, copyJson(r.content.attributes), copyJson(r.content.events)]);
      }
    }
  }
  return { spans, usage, content };
}

function spanLine(req: WriteRequest, s: OtlpSpan, startedAt: string, endedAt: string): string {
  return copyLine([
    req.orgId,
    s.traceId,
    s.spanId,
    copyField(s.parentSpanId),
    req.apiKeyId,
    copyField(s.name),
    String(s.kind),
    s.startTimeUnixNano,
    s.endTimeUnixNano,
    startedAt,
    endedAt,
    String(s.statusCode),
    copyField(s.statusMessage),
    copyField(s.traceState),
    String(s.flags),
    copyJson(s.attributes),
    copyJson(s.events),
    copyJson(s.links),
    copyJson({ attributes: s.droppedAttributesCount, events: s.droppedEventsCount, links: s.droppedLinksCount }),
    copyJson(s.resource),
    copyJson(s.scope),
  ]);
}

function usageLine(orgId: string, s: OtlpSpan, u: Usage, startedAt: string, endedAt: string): string {
  return copyLine([
    orgId,
    s.traceId,
    s.spanId,
    copyField(s.parentSpanId),
    u.role,
    copyField(u.generationId),
    startedAt,
    endedAt,
    u.latencyMs,
    copyField(u.model),
    copyField(u.provider),
    copyField(u.inputTokens),
    copyField(u.outputTokens),
    copyField(u.totalTokens),
    copyField(u.cachedInputTokens),
    copyField(u.reasoningTokens),
    copyField(u.costUsd),
    u.status,
    copyField(u.userId),
    copyField(u.sessionId),
    copyField(u.apiKeyName),
    copyField(u.traceName),
    copyJson(u.metadata),
  ]);
}

/**
 * The statements around a batch's rows, with the batch's keys inlined as literals (they are sent
 * without parameters). Only checked values are inlined: decimal organisation ids and lock keys,
 * and trace ids the decoder has checked to be 32 hex digits — asserted again here, since a slip
 * would be an injection.
 */
function lockAndRollupStatements(keys: BatchKeys): BulkStatements {
  const lockKeys = arrayLiteral(keys.lockKeys, /^-?\d+$/, 'bigint');
  const orgIds = arrayLiteral(keys.traces.orgIds, /^\d+$/, 'bigint');
  const traceIds = arrayLiteral(keys.traces.traceIds, /^[0-9a-f]{32}$/, 'text');
  return {
    // Transactions touching the same trace take turns, so that a parent and its child arriving in
    // two concurrent batches still see each other when roll-ups are marked.
    opening: `SELECT pg_advisory_xact_lock(k) FROM unnest(${lockKeys}) AS k ORDER BY k`,
    closing: markRollups(orgIds, traceIds),
  };
}

function arrayLiteral(values: string[], shape: RegExp, type: 'bigint' | 'text'): string {
  for (const v of values) if (!shape.test(v)) throw new Error(`refusing to inline ${JSON.stringify(v)} into SQL`);
  return `'{${values.join(',')}}'::${type}[]`;
}

/**
 * A span whose descendants in the same trace also carry usage is a roll-up of them, not a
 * generation. Walks up from every usage span of the touched traces, so the answer is the same
 * whichever order parents and children arrive in.
 */
function markRollups(orgIds: string, traceIds: string): string {
  return `WITH RECURSIVE touched AS (
      SELECT * FROM unnest(${orgIds}, ${traceIds}) AS t(org_id, trace_id)
    ), up(org_id, trace_id, ancestor, depth) AS (
      SELECT u.org_id, u.trace_id, u.parent_span_id, 1
      FROM span_usage u JOIN touched t ON t.org_id = u.org_id AND t.trace_id = u.trace_id
      WHERE u.parent_span_id IS NOT NULL
      UNION
      SELECT s.org_id, s.trace_id, s.parent_span_id, up.depth + 1
      FROM up JOIN spans s
        ON s.org_id = up.org_id AND s.trace_id = up.trace_id AND s.span_id = up.ancestor
      WHERE s.parent_span_id IS NOT NULL AND up.depth < 256
    )
    UPDATE span_usage u SET has_usage_below = true
    FROM up
    WHERE u.org_id = up.org_id AND u.trace_id = up.trace_id AND u.span_id = up.ancestor
      AND NOT u.has_usage_below`;
}
