import type { OtlpSpan } from '../otlp/model.js';
import type { Usage } from '../spend/extract.js';
import type { BulkTransaction } from './bulk-transaction.js';
import type { HeldKey } from './batch-sql.js';
import { copyField, copyJson, copyLine, nanosToTimestamptz } from './copy-text.js';
import type { WriteRequest } from './ledger-writer.js';
import type { SpanRecord } from '../spend/records.js';

// A batch's rows in COPY text, one table at a time.

export const SPAN_COLUMNS = [
  'org_id', 'trace_id', 'span_id', 'parent_span_id', 'api_key_id', 'name', 'kind',
  'start_time_unix_nano', 'end_time_unix_nano', 'started_at', 'ended_at', 'status_code',
  'status_message', 'trace_state', 'flags', 'attributes', 'events', 'links', 'dropped', 'resource', 'scope',
] as const;

export const USAGE_COLUMNS = [
  'org_id', 'trace_id', 'span_id', 'parent_span_id', 'role', 'generation_id', 'started_at', 'ended_at',
  'latency_ms', 'model', 'provider', 'input_tokens', 'output_tokens', 'total_tokens',
  'cached_input_tokens', 'reasoning_tokens', 'cost_usd', 'status', 'user_id', 'session_id',
  'api_key_name', 'trace_name', 'metadata',
] as const;

const CONTENT_COLUMNS = ['org_id', 'trace_id', 'span_id', 'attributes', 'events'] as const;

/**
 * One accepted span as the ledger will store it: its rows in COPY text, built where the delivery
 * was decoded (possibly another thread), and the keys the writer deduplicates them by. The rows
 * are UTF-8 bytes, not strings: as strings they sat on the serving thread's heap until their batch
 * committed, long enough under load to reach its old generation, and were encoded again for the
 * socket (--trace-gc, 1,024 deliveries in flight: the old generation grew ~90 MB/s, ~45 as bytes).
 */
export interface StagedSpan {
  traceId: string;
  spanId: string;
  /** OpenRouter's generation id, when the span carries usage that names one. */
  generationId: string | null;
  /** The usage's cost in USD (a decimal string), for the metrics. */
  costUsd: string | null;
  spanRow: Uint8Array;
  /** Null when the span carries no usage. */
  usageRow: Uint8Array | null;
  /** Null when no content is stored for the span. */
  contentRow: Uint8Array | null;
}

/**
 * A request's records as COPY rows, all in one buffer of their own (so that it can be moved to
 * another thread whole, and nothing else with it). Ids (checked hex), organisation ids, key ids
 * and enums go in as they are; free text through copyField.
 */
export function stageSpans(orgId: string, apiKeyId: string, records: SpanRecord[]): StagedSpan[] {
  const lines = records.map(({ span: s, usage, content }) => {
    const startedAt = nanosToTimestamptz(s.startTimeUnixNano);
    const endedAt = nanosToTimestamptz(s.endTimeUnixNano);
    return [
      spanLine(orgId, apiKeyId, s, startedAt, endedAt),
      usage ? usageLine(orgId, s, usage, startedAt, endedAt) : null,
      content ? copyLine([orgId, s.traceId, s.spanId, copyJson(content.attributes), copyJson(content.events)]) : null,
    ] as const;
  });
  let size = 0;
  for (const line of lines.flat()) if (line !== null) size += Buffer.byteLength(line);
  const bytes = Buffer.allocUnsafeSlow(size);
  let at = 0;
  const encode = (line: string | null): Uint8Array | null => {
    if (line === null) return null;
    const length = bytes.write(line, at);
    // A plain view, as the rows arrive on the other side of a thread.
    const row = new Uint8Array(bytes.buffer, bytes.byteOffset + at, length);
    at += length;
    return row;
  };
  return records.map(({ span: s, usage }, i) => {
    const [spanRow, usageRow, contentRow] = lines[i]!;
    return {
      traceId: s.traceId,
      spanId: s.spanId,
      generationId: usage?.generationId ?? null,
      costUsd: usage?.costUsd ?? null,
      spanRow: encode(spanRow)!,
      usageRow: encode(usageRow),
      contentRow: encode(contentRow),
    };
  });
}

/** Appends the batch's new spans, usage and content, one COPY per table that gets rows. */
export async function appendRows(tx: BulkTransaction, batch: WriteRequest[], held: HeldKey[]): Promise<void> {
  const rows = newRows(batch, held);
  if (rows.spans.length > 0) await tx.copyIn('spans', SPAN_COLUMNS, rows.spans);
  if (rows.usage.length > 0) await tx.copyIn('span_usage', USAGE_COLUMNS, rows.usage);
  if (rows.content.length > 0) await tx.copyIn('span_content', CONTENT_COLUMNS, rows.content);
}

/**
 * The batch's rows, less what the ledger already holds and less repeats within the batch (the
 * first one counts): a span stored once, a generation counted once per organisation. Empty
 * buffers where a table gets no rows.
 */
function newRows(batch: WriteRequest[], held: HeldKey[]): { spans: Buffer; usage: Buffer; content: Buffer } {
  const spanKeys = new Set<string>();
  const generationKeys = new Set<string>();
  for (const h of held) (h.kind === 'span' ? spanKeys : generationKeys).add(`${h.org_id}/${h.id}/${h.sub ?? ''}`);
  const spans: Uint8Array[] = [];
  const usage: Uint8Array[] = [];
  const content: Uint8Array[] = [];
  for (const req of batch) {
    for (const s of req.spans) {
      const spanKey = `${req.orgId}/${s.traceId}/${s.spanId}`;
      if (spanKeys.has(spanKey)) continue;
      spanKeys.add(spanKey);
      spans.push(s.spanRow);
      if (s.usageRow !== null) {
        const generationKey = s.generationId === null ? null : `${req.orgId}/${s.generationId}/`;
        if (generationKey === null || !generationKeys.has(generationKey)) {
          if (generationKey !== null) generationKeys.add(generationKey);
          usage.push(s.usageRow);
        }
      }
      if (s.contentRow !== null) content.push(s.contentRow);
    }
  }
  return { spans: Buffer.concat(spans), usage: Buffer.concat(usage), content: Buffer.concat(content) };
}

function spanLine(orgId: string, apiKeyId: string, s: OtlpSpan, startedAt: string, endedAt: string): string {
  return copyLine([
    orgId,
    s.traceId,
    s.spanId,
    copyField(s.parentSpanId),
    apiKeyId,
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
    `{"attributes":${s.droppedAttributesCount},"events":${s.droppedEventsCount},"links":${s.droppedLinksCount}}`,
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
