import { sql, type Kysely, type Transaction } from 'kysely';
import type { Attributes, OtlpSpan } from '../otlp/model.js';
import type { Usage } from '../spend/extract.js';
import type { DB } from './schema.js';
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

/**
 * Writes requests to the ledger with group commit: concurrent requests share one transaction of
 * multi-row statements, and each caller returns only after the commit that holds its spans.
 */
export class LedgerWriter {
  readonly #group: GroupCommit<WriteRequest>;

  constructor(
    private readonly db: Kysely<DB>,
    opts: GroupCommitOptions,
    private readonly observe: (seconds: number, requests: number) => void = () => {},
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
      await writeBatch(this.db, toRows(batch));
    } catch (err) {
      if (batch.length === 1 || !isDataError(err)) throw err;
      // The data of one request broke the batch: write each alone, so only that one fails.
      const errors: unknown[] = [];
      for (const request of batch) {
        errors.push(await writeBatch(this.db, toRows([request])).then(() => undefined, (e: unknown) => e));
      }
      return errors;
    } finally {
      this.observe((performance.now() - started) / 1000, batch.length);
    }
  }
}

/**
 * A Postgres error caused by the data written (SQLSTATE class 22 data exception, 23 integrity
 * violation, 54 program limit): worth retrying request by request. Connection failures and the
 * like are not, they would fail every request again.
 */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code);
}

interface Rows {
  traces: { orgIds: string[]; traceIds: string[] };
  /** One advisory-lock key per touched trace, ascending. */
  lockKeys: string[];
  spans: Record<string, unknown>[];
  usage: Record<string, unknown>[];
  content: Record<string, unknown>[];
}

/** Flat rows, sorted by key so that concurrent transactions lock in one order (no deadlocks). */
function toRows(batch: WriteRequest[]): Rows {
  const records = batch.flatMap((req) => req.records.map((r) => ({ req, r })));
  records.sort((x, y) => compareKeys(x.req.orgId, x.r.span, y.req.orgId, y.r.span));
  const traces = new Map<string, { orgId: string; traceId: string }>();
  const rows: Rows = { traces: { orgIds: [], traceIds: [] }, lockKeys: [], spans: [], usage: [], content: [] };
  for (const { req, r } of records) {
    const s = r.span;
    traces.set(`${req.orgId}/${s.traceId}`, { orgId: req.orgId, traceId: s.traceId });
    rows.spans.push({
      org_id: req.orgId,
      trace_id: s.traceId,
      span_id: s.spanId,
      parent_span_id: s.parentSpanId,
      api_key_id: req.apiKeyId,
      name: s.name,
      kind: s.kind,
      start_ns: s.startTimeUnixNano,
      end_ns: s.endTimeUnixNano,
      status_code: s.statusCode,
      status_message: s.statusMessage,
      trace_state: s.traceState,
      flags: s.flags,
      attributes: s.attributes,
      events: s.events,
      links: s.links,
      dropped: {
        attributes: s.droppedAttributesCount,
        events: s.droppedEventsCount,
        links: s.droppedLinksCount,
      },
      resource: s.resource,
      scope: s.scope,
    });
    if (r.usage) {
      const u = r.usage;
      rows.usage.push({
        org_id: req.orgId,
        trace_id: s.traceId,
        span_id: s.spanId,
        parent_span_id: s.parentSpanId,
        role: u.role,
        generation_id: u.generationId,
        start_ns: s.startTimeUnixNano,
        end_ns: s.endTimeUnixNano,
        latency_ms: u.latencyMs,
        model: u.model,
        provider: u.provider,
        input_tokens: u.inputTokens,
        output_tokens: u.outputTokens,
        total_tokens: u.totalTokens,
        cached_input_tokens: u.cachedInputTokens,
        reasoning_tokens: u.reasoningTokens,
        cost_usd: u.costUsd,
        status: u.status,
        user_id: u.userId,
        session_id: u.sessionId,
        api_key_name: u.apiKeyName,
        trace_name: u.traceName,
        metadata: u.metadata,
      });
    }
    if (r.content) {
      rows.content.push({
        org_id: req.orgId,
        trace_id: s.traceId,
        span_id: s.spanId,
        attributes: r.content.attributes,
        events: r.content.events,
      });
    }
  }
  for (const t of traces.values()) {
    rows.traces.orgIds.push(t.orgId);
    rows.traces.traceIds.push(t.traceId);
  }
  rows.lockKeys = [...new Set([...traces.values()].map((t) => lockKey(t.orgId, t.traceId)))].sort((a, b) =>
    BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0,
  );
  return rows;
}

function compareKeys(orgA: string, a: OtlpSpan, orgB: string, b: OtlpSpan): number {
  return (
    Number(BigInt(orgA) - BigInt(orgB)) ||
    (a.traceId < b.traceId ? -1 : a.traceId > b.traceId ? 1 : 0) ||
    (a.spanId < b.spanId ? -1 : a.spanId > b.spanId ? 1 : 0)
  );
}

/** Nanoseconds since the epoch to timestamptz, exact to the microsecond. */
const nanosToTimestamp = (column: string) =>
  sql.raw(`(timestamptz 'epoch' + (x.${column} / 1000) * interval '1 microsecond')`);

/** One batch as one transaction: trace locks, the inserts, roll-up marking. */
async function writeBatch(db: Kysely<DB>, rows: Rows): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockTraces(trx, rows.lockKeys);
    await insertRows(trx, rows);
    await markRollups(trx, rows.traces);
  });
}

/** A trace's advisory-lock key: 64 bits of its (random) trace id, mixed with the organisation. */
function lockKey(orgId: string, traceId: string): string {
  return BigInt.asIntN(64, BigInt(`0x${traceId.slice(0, 16)}`) ^ BigInt(orgId)).toString();
}

/**
 * Transactions touching the same trace take turns, so that a parent and its child arriving in two
 * concurrent requests still see each other when roll-ups are marked.
 */
async function lockTraces(trx: Transaction<DB>, keys: string[]): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(k) FROM unnest(${keys}::bigint[]) AS k ORDER BY k`.execute(trx);
}

/** Spans, their usage and their content, in one statement (one round trip, one plan). */
async function insertRows(trx: Transaction<DB>, rows: Rows): Promise<void> {
  await sql`WITH
    s AS (
      INSERT INTO spans (org_id, trace_id, span_id, parent_span_id, api_key_id, name, kind,
        start_time_unix_nano, end_time_unix_nano, started_at, ended_at, status_code, status_message,
        trace_state, flags, attributes, events, links, dropped, resource, scope)
      SELECT x.org_id, x.trace_id, x.span_id, x.parent_span_id, x.api_key_id, x.name, x.kind,
        x.start_ns, x.end_ns, ${nanosToTimestamp('start_ns')}, ${nanosToTimestamp('end_ns')},
        x.status_code, x.status_message, x.trace_state, x.flags, x.attributes, x.events, x.links,
        x.dropped, x.resource, x.scope
      FROM json_to_recordset(${JSON.stringify(rows.spans)}::json) AS x(org_id bigint, trace_id text,
        span_id text, parent_span_id text, api_key_id uuid, name text, kind smallint, start_ns bigint,
        end_ns bigint, status_code smallint, status_message text, trace_state text, flags bigint,
        attributes json, events json, links json, dropped json, resource json, scope json)
      ON CONFLICT DO NOTHING),
    u AS (
      INSERT INTO span_usage (org_id, trace_id, span_id, parent_span_id, role, generation_id,
        started_at, ended_at, latency_ms, model, provider, input_tokens, output_tokens, total_tokens,
        cached_input_tokens, reasoning_tokens, cost_usd, status, user_id, session_id, api_key_name,
        trace_name, metadata)
      SELECT x.org_id, x.trace_id, x.span_id, x.parent_span_id, x.role, x.generation_id,
        ${nanosToTimestamp('start_ns')}, ${nanosToTimestamp('end_ns')}, x.latency_ms, x.model,
        x.provider, x.input_tokens, x.output_tokens, x.total_tokens, x.cached_input_tokens,
        x.reasoning_tokens, x.cost_usd, x.status, x.user_id, x.session_id, x.api_key_name,
        x.trace_name, x.metadata
      FROM json_to_recordset(${JSON.stringify(rows.usage)}::json) AS x(org_id bigint, trace_id text,
        span_id text, parent_span_id text, role text, generation_id text, start_ns bigint,
        end_ns bigint, latency_ms numeric, model text, provider text, input_tokens bigint,
        output_tokens bigint, total_tokens bigint, cached_input_tokens bigint, reasoning_tokens bigint,
        cost_usd numeric, status text, user_id text, session_id text, api_key_name text,
        trace_name text, metadata jsonb)
      ON CONFLICT DO NOTHING),
    c AS (
      INSERT INTO span_content (org_id, trace_id, span_id, attributes, events)
      SELECT x.org_id, x.trace_id, x.span_id, x.attributes, x.events
      FROM json_to_recordset(${JSON.stringify(rows.content)}::json) AS x(org_id bigint, trace_id text,
        span_id text, attributes json, events json)
      ON CONFLICT DO NOTHING)
    SELECT 1`.execute(trx);
}

/**
 * A span whose descendants in the same trace also carry usage is a roll-up of them, not a
 * generation. Walks up from every usage span of the touched traces, so the answer is the same
 * whichever order parents and children arrive in.
 */
async function markRollups(trx: Transaction<DB>, traces: Rows['traces']): Promise<void> {
  await sql`WITH RECURSIVE touched AS (
      SELECT * FROM unnest(${traces.orgIds}::bigint[], ${traces.traceIds}::text[]) AS t(org_id, trace_id)
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
      AND NOT u.has_usage_below`.execute(trx);
}
