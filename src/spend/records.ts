import type { Attributes, DecodedTraces, OtlpSpan, Rejection } from '../otlp/model.js';
import { CONNECTION_TEST_SPAN } from './attribute-names.js';
import { splitContent, splitEventContent } from './content.js';
import { extractUsage, UsageError, type Usage } from './extract.js';
import { refuseParentLoops } from '../otlp/parent-loops.js';

/** One accepted span, ready for the ledger: content already split off. */
export interface SpanRecord {
  span: OtlpSpan;
  usage: Usage | null;
  content: { attributes: Attributes; events: unknown[] } | null;
}

export interface PreparedSpans {
  records: SpanRecord[];
  rejected: Rejection[];
  /** The delivery held OpenRouter's connection-test span (never stored). */
  connectionTest: boolean;
}

/**
 * Turns decoded spans into ledger records: refuses loops of parent ids, drops the connection probe,
 * extracts spend, and splits prompt/completion content off (kept only when `storeContent`).
 */
export function prepareSpans(decoded: DecodedTraces, storeContent: boolean): PreparedSpans {
  const { spans, rejected } = refuseParentLoops(decoded);
  const out: PreparedSpans = { records: [], rejected: [...rejected], connectionTest: false };
  for (const span of spans) {
    if (span.name === CONNECTION_TEST_SPAN) {
      out.connectionTest = true;
      continue;
    }
    let usage;
    try {
      usage = extractUsage(span);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      out.rejected.push({ reason: 'invalid_usage', message: `span ${span.spanId}: ${err.message}` });
      continue;
    }
    const attrs = splitContent(span.attributes);
    const events = splitEventContent(span.events);
    const hasContent = attrs.content !== null || events.content.length > 0;
    out.records.push({
      span: { ...span, attributes: attrs.kept, events: events.kept },
      usage,
      content: storeContent && hasContent ? { attributes: attrs.content ?? {}, events: events.content } : null,
    });
  }
  return out;
}
