/** The one normalised shape both decoders produce; everything after decoding sees only this. */

/** An OTLP AnyValue as plain JSON: kvlists become objects, bytes base64, unsafe int64 decimal strings. */
export type AttrValue = string | number | boolean | null | AttrValue[] | { [key: string]: AttrValue };
export type Attributes = Record<string, AttrValue>;

export interface OtlpResource {
  attributes: Attributes;
  droppedAttributesCount: number;
  schemaUrl: string;
}

export interface OtlpScope {
  name: string;
  version: string;
  attributes: Attributes;
  droppedAttributesCount: number;
  schemaUrl: string;
}

export interface OtlpEvent {
  timeUnixNano: string;
  name: string;
  attributes: Attributes;
  droppedAttributesCount: number;
}

export interface OtlpLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: Attributes;
  droppedAttributesCount: number;
  flags: number;
}

export interface OtlpSpan {
  /** Lowercase hex, 32 characters. */
  traceId: string;
  /** Lowercase hex, 16 characters. */
  spanId: string;
  parentSpanId: string | null;
  traceState: string;
  flags: number;
  name: string;
  kind: number;
  /** Decimal strings: nanoseconds do not fit a double. */
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Attributes;
  droppedAttributesCount: number;
  events: OtlpEvent[];
  droppedEventsCount: number;
  links: OtlpLink[];
  droppedLinksCount: number;
  statusCode: number;
  statusMessage: string;
  resource: OtlpResource;
  scope: OtlpScope;
}

/** Why a span (or another item of the body) was not accepted; `reason` is a short metric label. */
export interface Rejection {
  reason: string;
  message: string;
}

export interface DecodedTraces {
  spans: OtlpSpan[];
  rejected: Rejection[];
}

/**
 * Postgres text cannot hold U+0000 nor a lone UTF-16 surrogate (an escaped one in JSON); either would
 * make the whole write fail. Both become U+FFFD (the Unicode replacement character) — the only
 * change the ledger ever makes to text.
 */
export function pgSafe(text: string): string {
  const whole = text.isWellFormed() ? text : text.toWellFormed();
  return whole.includes('\u0000') ? whole.replaceAll('\u0000', '\uFFFD') : whole;
}

/** A body that cannot be read at all: the sender gets 400 and must not retry. */
export class UndecodableBodyError extends Error {}

/** A body holding more spans than one request may (`LEDGER_MAX_SPANS_PER_REQUEST`): 413. */
export class TooManySpansError extends Error {}

/**
 * Refuses a body of more than `maxSpans` spans before they are converted: a span costs the server
 * some 3 KB on its way to the ledger, so 64 MB of minimal spans (1.25 million) took 4.4 GB.
 */
export function limitSpans(spans: number, maxSpans: number): void {
  if (spans > maxSpans) {
    throw new TooManySpansError(`${spans} spans in one request; this server takes at most ${maxSpans}: send smaller batches`);
  }
}
