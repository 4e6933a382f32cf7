import type { OtlpSpan, Rejection } from './model.js';

const INT64_MAX = 9223372036854775807n;
// No LLM was billed before this; an earlier start is a time in the wrong unit (Date.now() is in ms).
const YEAR_2000_NANOS = 946_684_800_000_000_000n;
const SMALLINT_MAX = 32767;
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** An empty or all-zero parent id: some senders write zeros for "this is a root span". */
export function noParent(parentSpanId: string): boolean {
  return parentSpanId === '' || /^0+$/.test(parentSpanId);
}

/**
 * The checks every span passes before it may enter the ledger, whatever its encoding.
 * Returns why a span is refused, or null when it is fine.
 */
export function checkSpan(span: OtlpSpan): Rejection | null {
  if (!TRACE_ID.test(span.traceId) || span.traceId === ZERO_TRACE) {
    return { reason: 'invalid_trace_id', message: `span "${clip(span.name)}": trace id must be 16 bytes, not all zero` };
  }
  if (!SPAN_ID.test(span.spanId) || span.spanId === ZERO_SPAN) {
    return { reason: 'invalid_span_id', message: `span "${clip(span.name)}": span id must be 8 bytes, not all zero` };
  }
  if (span.parentSpanId !== null && !SPAN_ID.test(span.parentSpanId)) {
    return { reason: 'invalid_parent_span_id', message: `span ${span.spanId}: parent span id must be empty or 8 bytes` };
  }
  // Its own parent, a span would be the roll-up of its own usage, and that usage counted nowhere.
  if (span.parentSpanId === span.spanId) {
    return { reason: 'invalid_parent_span_id', message: `span ${span.spanId}: a span cannot be its own parent` };
  }
  // Enums outside their range are kept when the ledger can hold them (smallint); others are refused.
  if (!Number.isInteger(span.kind) || span.kind < 0 || span.kind > SMALLINT_MAX) {
    return { reason: 'invalid_kind', message: `span ${span.spanId}: kind ${span.kind} is out of range` };
  }
  if (!Number.isInteger(span.statusCode) || span.statusCode < 0 || span.statusCode > SMALLINT_MAX) {
    return { reason: 'invalid_status', message: `span ${span.spanId}: status code ${span.statusCode} is out of range` };
  }
  return checkTimes(span);
}

/**
 * Both times within int64 and, as OTLP requires, present with end >= start. A missing (zero) start,
 * or one in milliseconds, would date the spend to 1970, outside every report's period, and an end
 * before the start would make a negative latency, so such a span is refused where its sender hears
 * of it.
 */
function checkTimes(span: OtlpSpan): Rejection | null {
  const nanos: bigint[] = [];
  for (const t of [span.startTimeUnixNano, span.endTimeUnixNano]) {
    const n = /^\d{1,20}$/.test(t) ? BigInt(t) : null;
    if (n === null || n > INT64_MAX) return badTime(span, `timestamp ${clip(t)} is out of range`);
    nanos.push(n);
  }
  const [start, end] = nanos as [bigint, bigint];
  if (start === 0n) return badTime(span, 'start time is missing (startTimeUnixNano 0)');
  if (end === 0n) return badTime(span, 'end time is missing (endTimeUnixNano 0)');
  if (start < YEAR_2000_NANOS) {
    const when = new Date(Number(start / 1_000_000n)).toISOString();
    return badTime(span, `start time ${when} is before 2000: milliseconds or microseconds sent as nanoseconds?`);
  }
  if (end < start) return badTime(span, 'end time is before its start time');
  return null;
}

function badTime(span: OtlpSpan, problem: string): Rejection {
  return { reason: 'invalid_timestamp', message: `span ${span.spanId}: ${problem}` };
}

function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 61)}...` : s;
}
