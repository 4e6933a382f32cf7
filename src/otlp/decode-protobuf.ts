import type Long from 'long';
import { ExportTraceServiceRequest } from './proto.js';
import {
  UndecodableBodyError,
  type AttrValue,
  type Attributes,
  type DecodedTraces,
  type OtlpResource,
  type OtlpScope,
  type OtlpSpan,
  limitSpans,
  pgSafe,
} from './model.js';
import { checkSpan, noParent } from './span-checks.js';
import { protobufSpanCount } from './protobuf-span-count.js';

// The shapes protobufjs hands back for the OTLP messages (camelCase, Long for 64-bit, Buffer for bytes).
interface PbAnyValue {
  value?: string;
  stringValue?: string;
  boolValue?: boolean;
  intValue?: Long;
  doubleValue?: number;
  arrayValue?: { values?: PbAnyValue[] };
  kvlistValue?: { values?: PbKeyValue[] };
  bytesValue?: Uint8Array;
}
interface PbKeyValue {
  key?: string;
  value?: PbAnyValue | null;
}
interface PbSpan {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  traceState?: string;
  parentSpanId?: Uint8Array;
  flags?: number;
  name?: string;
  kind?: number;
  startTimeUnixNano?: Long | number;
  endTimeUnixNano?: Long | number;
  attributes?: PbKeyValue[];
  droppedAttributesCount?: number;
  events?: { timeUnixNano?: Long | number; name?: string; attributes?: PbKeyValue[]; droppedAttributesCount?: number }[];
  droppedEventsCount?: number;
  links?: {
    traceId?: Uint8Array;
    spanId?: Uint8Array;
    traceState?: string;
    attributes?: PbKeyValue[];
    droppedAttributesCount?: number;
    flags?: number;
  }[];
  droppedLinksCount?: number;
  status?: { code?: number; message?: string } | null;
}
interface PbRequest {
  resourceSpans?: {
    resource?: { attributes?: PbKeyValue[]; droppedAttributesCount?: number } | null;
    schemaUrl?: string;
    scopeSpans?: {
      scope?: { name?: string; version?: string; attributes?: PbKeyValue[]; droppedAttributesCount?: number } | null;
      schemaUrl?: string;
      spans?: PbSpan[];
    }[];
  }[];
}

/** Decodes an `application/x-protobuf` ExportTraceServiceRequest into the normalised shape. */
export function decodeProtobuf(body: Uint8Array, maxSpans = Infinity): DecodedTraces {
  // A span takes 2 bytes or more on the wire: a body that small cannot hold too many.
  if (body.length > 2 * maxSpans) limitSpans(protobufSpanCount(body), maxSpans);
  let request: PbRequest;
  try {
    request = ExportTraceServiceRequest.decode(body) as unknown as PbRequest;
  } catch (err) {
    throw new UndecodableBodyError(`body is not a valid protobuf ExportTraceServiceRequest: ${(err as Error).message}`);
  }
  // The count on the wire follows how protobufjs reads; should they ever part, the limit still
  // holds for what comes after decoding (some 3 KB a span on its way to the ledger).
  limitSpans(spanCount(request), maxSpans);
  const out: DecodedTraces = { spans: [], rejected: [] };
  for (const rs of request.resourceSpans ?? []) {
    const resource: OtlpResource = {
      attributes: attributes(rs.resource?.attributes),
      droppedAttributesCount: rs.resource?.droppedAttributesCount ?? 0,
      schemaUrl: pgSafe(rs.schemaUrl ?? ''),
    };
    for (const ss of rs.scopeSpans ?? []) {
      const scope: OtlpScope = {
        name: pgSafe(ss.scope?.name ?? ''),
        version: pgSafe(ss.scope?.version ?? ''),
        attributes: attributes(ss.scope?.attributes),
        droppedAttributesCount: ss.scope?.droppedAttributesCount ?? 0,
        schemaUrl: pgSafe(ss.schemaUrl ?? ''),
      };
      for (const s of ss.spans ?? []) {
        const span = toSpan(s, resource, scope);
        const problem = checkSpan(span);
        if (problem) out.rejected.push(problem);
        else out.spans.push(span);
      }
    }
  }
  return out;
}

function spanCount(request: PbRequest): number {
  let n = 0;
  for (const rs of request.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) n += ss.spans?.length ?? 0;
  return n;
}

function toSpan(s: PbSpan, resource: OtlpResource, scope: OtlpScope): OtlpSpan {
  const parent = hex(s.parentSpanId);
  return {
    traceId: hex(s.traceId),
    spanId: hex(s.spanId),
    parentSpanId: noParent(parent) ? null : parent,
    traceState: pgSafe(s.traceState ?? ''),
    flags: s.flags ?? 0,
    name: pgSafe(s.name ?? ''),
    kind: s.kind ?? 0,
    startTimeUnixNano: String(s.startTimeUnixNano ?? 0),
    endTimeUnixNano: String(s.endTimeUnixNano ?? 0),
    attributes: attributes(s.attributes),
    droppedAttributesCount: s.droppedAttributesCount ?? 0,
    events: (s.events ?? []).map((e) => ({
      timeUnixNano: String(e.timeUnixNano ?? 0),
      name: pgSafe(e.name ?? ''),
      attributes: attributes(e.attributes),
      droppedAttributesCount: e.droppedAttributesCount ?? 0,
    })),
    droppedEventsCount: s.droppedEventsCount ?? 0,
    links: (s.links ?? []).map((l) => ({
      traceId: hex(l.traceId),
      spanId: hex(l.spanId),
      traceState: pgSafe(l.traceState ?? ''),
      attributes: attributes(l.attributes),
      droppedAttributesCount: l.droppedAttributesCount ?? 0,
      flags: l.flags ?? 0,
    })),
    droppedLinksCount: s.droppedLinksCount ?? 0,
    statusCode: s.status?.code ?? 0,
    statusMessage: pgSafe(s.status?.message ?? ''),
    resource,
    scope,
  };
}

function hex(bytes: Uint8Array | undefined): string {
  if (!bytes || bytes.length === 0) return '';
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function attributes(kvs: PbKeyValue[] | undefined): Attributes {
  const out: Attributes = {};
  for (const kv of kvs ?? []) out[pgSafe(kv.key ?? '')] = anyValue(kv.value);
  return out;
}

function anyValue(v: PbAnyValue | null | undefined): AttrValue {
  switch (v?.value) {
    case 'stringValue':
      return pgSafe(v.stringValue ?? '');
    case 'boolValue':
      return v.boolValue ?? false;
    case 'intValue':
      return int64(v.intValue);
    case 'doubleValue':
      return double(v.doubleValue ?? 0);
    case 'arrayValue':
      return (v.arrayValue?.values ?? []).map(anyValue);
    case 'kvlistValue':
      return attributes(v.kvlistValue?.values);
    case 'bytesValue':
      return Buffer.from(v.bytesValue ?? []).toString('base64');
    default:
      return null;
  }
}

function int64(v: Long | number | undefined): number | string {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const n = v.toNumber();
  return Number.isSafeInteger(n) ? n : v.toString();
}

/** JSON has no NaN or Infinity; keep them as the names the OTLP JSON mapping uses. */
export function double(n: number): number | string {
  return Number.isFinite(n) ? n : String(n);
}
