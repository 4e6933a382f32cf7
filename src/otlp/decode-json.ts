import {
  UndecodableBodyError,
  type AttrValue,
  type Attributes,
  type DecodedTraces,
  type OtlpResource,
  type OtlpScope,
  type OtlpSpan,
  type Rejection,
  limitSpans,
} from './model.js';
import { checkSpan, noParent } from './span-checks.js';
import {
  BadField,
  doubleValue,
  enumValue,
  hexId,
  int64,
  isObject,
  list,
  obj,
  optObj,
  pick,
  str,
  uint,
  uint64,
  type Json,
} from './json-fields.js';

const SPAN_KINDS: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

/**
 * Decodes an OTLP/JSON ExportTraceServiceRequest (the OTLP JSON mapping: hex ids in either case,
 * 64-bit integers as strings or numbers, enums as integers or names, unknown fields ignored, and
 * the proto field names accepted beside the lowerCamelCase ones).
 */
export function decodeJson(body: Buffer | string, maxSpans = Infinity): DecodedTraces {
  let root: unknown;
  const text = typeof body === 'string' ? body : body.toString('utf8');
  try {
    // A byte order mark before the JSON is allowed to be ignored (RFC 8259 §8.1), and some writers add one.
    root = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch (err) {
    throw new UndecodableBodyError(`body is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(root)) throw new UndecodableBodyError('body must be a JSON object (ExportTraceServiceRequest)');

  const out: DecodedTraces = { spans: [], rejected: [] };
  for (const [field, signal] of [
    ['resourceLogs', 'logs'],
    ['resource_logs', 'logs'],
    ['resourceMetrics', 'metrics'],
    ['resource_metrics', 'metrics'],
  ] as const) {
    if (root[field] !== undefined) {
      out.rejected.push({
        reason: 'wrong_signal',
        message: `"${field}" holds ${signal}; this endpoint takes traces (resourceSpans) only`,
      });
    }
  }
  const resourceSpans = pick(root, 'resourceSpans', 'resource_spans');
  if (resourceSpans !== undefined && resourceSpans !== null && !Array.isArray(resourceSpans)) {
    throw new UndecodableBodyError('resourceSpans must be an array');
  }
  limitSpans(countSpans(resourceSpans ?? []), maxSpans);
  for (const rs of resourceSpans ?? []) decodeResourceSpans(rs, out);
  return out;
}

/** Spans in the parsed body, counting only what has the right shape (the rest is refused later). */
function countSpans(resourceSpans: unknown[]): number {
  let count = 0;
  for (const rs of resourceSpans) {
    const scopeSpans = isObject(rs) ? pick(rs, 'scopeSpans', 'scope_spans') : undefined;
    if (!Array.isArray(scopeSpans)) continue;
    for (const ss of scopeSpans) if (isObject(ss) && Array.isArray(ss.spans)) count += ss.spans.length;
  }
  return count;
}

function decodeResourceSpans(rs: unknown, out: DecodedTraces): void {
  let resource: OtlpResource;
  let scopeSpans: unknown[];
  try {
    const r = obj(rs, 'resourceSpans[]');
    const res = optObj(r.resource, 'resource');
    resource = {
      attributes: attributes(res.attributes),
      droppedAttributesCount: uint(pick(res, 'droppedAttributesCount', 'dropped_attributes_count')),
      schemaUrl: str(pick(r, 'schemaUrl', 'schema_url')),
    };
    scopeSpans = list(pick(r, 'scopeSpans', 'scope_spans'), 'scopeSpans');
  } catch (err) {
    return reject(out, err, 'invalid_resource');
  }
  for (const ss of scopeSpans) {
    let scope: OtlpScope;
    let spans: unknown[];
    try {
      const s = obj(ss, 'scopeSpans[]');
      const sc = optObj(s.scope, 'scope');
      scope = {
        name: str(sc.name),
        version: str(sc.version),
        attributes: attributes(sc.attributes),
        droppedAttributesCount: uint(pick(sc, 'droppedAttributesCount', 'dropped_attributes_count')),
        schemaUrl: str(pick(s, 'schemaUrl', 'schema_url')),
      };
      spans = list(s.spans, 'spans');
    } catch (err) {
      return reject(out, err, 'invalid_scope');
    }
    for (const raw of spans) {
      let span: OtlpSpan;
      try {
        span = toSpan(obj(raw, 'span'), resource, scope);
      } catch (err) {
        reject(out, err, 'invalid_span');
        continue;
      }
      const problem = checkSpan(span);
      if (problem) out.rejected.push(problem);
      else out.spans.push(span);
    }
  }
}

function reject(out: DecodedTraces, err: unknown, reason: string): void {
  if (!(err instanceof BadField)) throw err;
  const rejection: Rejection = { reason, message: err.message };
  out.rejected.push(rejection);
}

function toSpan(s: Json, resource: OtlpResource, scope: OtlpScope): OtlpSpan {
  const status = optObj(s.status, 'status');
  const parent = hexId(pick(s, 'parentSpanId', 'parent_span_id'), 'parentSpanId');
  return {
    traceId: hexId(pick(s, 'traceId', 'trace_id'), 'traceId'),
    spanId: hexId(pick(s, 'spanId', 'span_id'), 'spanId'),
    parentSpanId: noParent(parent) ? null : parent,
    traceState: str(pick(s, 'traceState', 'trace_state')),
    flags: uint(s.flags),
    name: str(s.name),
    kind: enumValue(s.kind, SPAN_KINDS, 'kind'),
    startTimeUnixNano: uint64(pick(s, 'startTimeUnixNano', 'start_time_unix_nano'), 'startTimeUnixNano'),
    endTimeUnixNano: uint64(pick(s, 'endTimeUnixNano', 'end_time_unix_nano'), 'endTimeUnixNano'),
    attributes: attributes(s.attributes),
    droppedAttributesCount: uint(pick(s, 'droppedAttributesCount', 'dropped_attributes_count')),
    events: list(s.events, 'events').map((raw) => {
      const e = obj(raw, 'event');
      return {
        timeUnixNano: uint64(pick(e, 'timeUnixNano', 'time_unix_nano'), 'timeUnixNano'),
        name: str(e.name),
        attributes: attributes(e.attributes),
        droppedAttributesCount: uint(pick(e, 'droppedAttributesCount', 'dropped_attributes_count')),
      };
    }),
    droppedEventsCount: uint(pick(s, 'droppedEventsCount', 'dropped_events_count')),
    links: list(s.links, 'links').map((raw) => {
      const l = obj(raw, 'link');
      return {
        traceId: hexId(pick(l, 'traceId', 'trace_id'), 'link traceId'),
        spanId: hexId(pick(l, 'spanId', 'span_id'), 'link spanId'),
        traceState: str(pick(l, 'traceState', 'trace_state')),
        attributes: attributes(l.attributes),
        droppedAttributesCount: uint(pick(l, 'droppedAttributesCount', 'dropped_attributes_count')),
        flags: uint(l.flags),
      };
    }),
    droppedLinksCount: uint(pick(s, 'droppedLinksCount', 'dropped_links_count')),
    statusCode: enumValue(status.code, STATUS_CODES, 'status.code'),
    statusMessage: str(status.message),
    resource,
    scope,
  };
}

/**
 * Deepest nesting of attribute values (arrays, key-value lists) taken. Real ones nest a few levels;
 * thousands would overflow the stack, and a protobuf body cannot nest even 50 (protobufjs, like
 * protoc, stops at 100 nested messages).
 */
const MAX_VALUE_DEPTH = 32;

function attributes(raw: unknown, depth = 0): Attributes {
  const out: Attributes = {};
  for (const item of list(raw, 'attributes')) {
    const kv = obj(item, 'attribute');
    out[str(kv.key)] = anyValue(kv.value, depth);
  }
  return out;
}

function anyValue(raw: unknown, depth: number): AttrValue {
  if (raw === undefined || raw === null) return null;
  const v = obj(raw, 'attribute value');
  if ('stringValue' in v || 'string_value' in v) return str(pick(v, 'stringValue', 'string_value'));
  if ('boolValue' in v || 'bool_value' in v) {
    const b = pick(v, 'boolValue', 'bool_value');
    if (typeof b !== 'boolean') throw new BadField('boolValue must be true or false');
    return b;
  }
  if ('intValue' in v || 'int_value' in v) return int64(pick(v, 'intValue', 'int_value'));
  if ('doubleValue' in v || 'double_value' in v) return doubleValue(pick(v, 'doubleValue', 'double_value'));
  if ('arrayValue' in v || 'array_value' in v) {
    const a = optObj(pick(v, 'arrayValue', 'array_value'), 'arrayValue');
    const inner = deeper(depth);
    return list(a.values, 'arrayValue.values').map((item) => anyValue(item, inner));
  }
  if ('kvlistValue' in v || 'kvlist_value' in v) {
    const kv = optObj(pick(v, 'kvlistValue', 'kvlist_value'), 'kvlistValue');
    return attributes(kv.values, deeper(depth));
  }
  if ('bytesValue' in v || 'bytes_value' in v) return str(pick(v, 'bytesValue', 'bytes_value'));
  return null;
}

/** The depth of the values inside an array or key-value list at `depth`. */
function deeper(depth: number): number {
  if (depth >= MAX_VALUE_DEPTH) throw new BadField(`attribute values nest more than ${MAX_VALUE_DEPTH} levels deep`);
  return depth + 1;
}
