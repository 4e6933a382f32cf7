import { describe, expect, it } from 'vitest';
import { decodeJson } from '../../src/otlp/decode-json.js';
import { UndecodableBodyError } from '../../src/otlp/model.js';
import { decodeProtobuf } from '../../src/otlp/decode-protobuf.js';
import { ExportTraceServiceRequest } from '../../src/otlp/proto.js';

const wrap = (span: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] }, scopeSpans: [{ scope: { name: 'sc', version: '1' }, spans: [span] }] }],
    ...extra,
  });

const base = {
  traceId: '5B8EFFF798038103D269B633813FC60C',
  spanId: 'EEE19B7EC3C1B174',
  name: 'n',
  // A number, as the proto3 JSON mapping allows: past 2^53, JSON.parse gives it to 256 ns.
  startTimeUnixNano: 1790605504206000000,
  endTimeUnixNano: '1790605504206000999',
};

describe('OTLP/JSON decoding', () => {
  it('lowercases hex ids, keeps nanoseconds exact, accepts 64-bit integers as strings or numbers', () => {
    const out = decodeJson(
      wrap({
        ...base,
        kind: 'SPAN_KIND_CLIENT',
        status: { code: 2, message: 'boom' },
        attributes: [
          { key: 'i', value: { intValue: '9007199254740993' } },
          { key: 'j', value: { intValue: 42 } },
          { key: 'd', value: { doubleValue: 1.4e-7 } },
          { key: 'nan', value: { doubleValue: 'NaN' } },
          { key: 'kv', value: { kvlistValue: { values: [{ key: 'a', value: { boolValue: true } }] } } },
          { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'x' }, {}] } } },
        ],
        unknownField: { ignored: true },
      }),
    );
    expect(out.rejected).toEqual([]);
    const s = out.spans[0]!;
    expect(s.traceId).toBe('5b8efff798038103d269b633813fc60c');
    expect(s.spanId).toBe('eee19b7ec3c1b174');
    expect(s.startTimeUnixNano).toBe('1790605504206000128');
    expect(s.endTimeUnixNano).toBe('1790605504206000999');
    expect(s.kind).toBe(3);
    expect([s.statusCode, s.statusMessage]).toEqual([2, 'boom']);
    expect(s.attributes).toEqual({ i: '9007199254740993', j: 42, d: 1.4e-7, nan: 'NaN', kv: { a: true }, arr: ['x', null] });
    expect(s.resource.attributes).toEqual({ 'service.name': 'svc' });
    expect(s.scope).toMatchObject({ name: 'sc', version: '1' });
  });

  it('accepts the proto field names beside the camelCase ones', () => {
    const out = decodeJson(
      JSON.stringify({
        resource_spans: [{ scope_spans: [{ spans: [{ trace_id: base.traceId, span_id: base.spanId, parent_span_id: '0102030405060708', start_time_unix_nano: '1790605504206000000', end_time_unix_nano: '1790605504206000001' }] }] }],
      }),
    );
    expect(out.spans[0]).toMatchObject({ parentSpanId: '0102030405060708', startTimeUnixNano: '1790605504206000000' });
  });

  it('reads an all-zero parent span id as "no parent"', () => {
    const out = decodeJson(wrap({ ...base, parentSpanId: '0000000000000000' }));
    expect(out.spans[0]!.parentSpanId).toBeNull();
  });

  it('refuses kinds and status codes the ledger cannot hold', () => {
    const out = decodeJson(wrap({ ...base, kind: 40000 }));
    expect(out.rejected.map((r) => r.reason)).toEqual(['invalid_span']);
  });

  it('protobuf: refuses a kind or status code outside the ledger range, cleans NUL from text', () => {
    const span = (extra: object) => ({ traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 2), name: 'a\u0000b', startTimeUnixNano: '1790605504206000000', endTimeUnixNano: '1790605504206000001', ...extra });
    const bytes = ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromObject({ resourceSpans: [{ scopeSpans: [{ spans: [span({}), span({ kind: 40000 }), span({ status: { code: 99999 } })] }] }] }),
    ).finish();
    const out = decodeProtobuf(bytes);
    expect(out.spans.map((s) => s.name)).toEqual(['a\uFFFDb']);
    expect(out.rejected.map((r) => r.reason)).toEqual(['invalid_kind', 'invalid_status']);
  });

  it('rejects spans with bad ids or types and keeps the rest', () => {
    const out = decodeJson(
      JSON.stringify({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  { ...base },
                  { ...base, traceId: 'abc' },
                  { ...base, spanId: '0000000000000000' },
                  { ...base, parentSpanId: 'zz' },
                  { ...base, parentSpanId: base.spanId },
                  { ...base, startTimeUnixNano: '99999999999999999999' },
                  { ...base, attributes: [{ key: 'x', value: { intValue: 'ten' } }] },
                  'not a span',
                ],
              },
            ],
          },
        ],
        resourceLogs: [],
      }),
    );
    expect(out.spans).toHaveLength(1);
    expect(out.rejected.map((r) => r.reason)).toEqual([
      'wrong_signal',
      'invalid_trace_id',
      'invalid_span_id',
      'invalid_span',
      'invalid_parent_span_id',
      'invalid_timestamp',
      'invalid_span',
      'invalid_span',
    ]);
  });

  it('refuses what is not an OTLP JSON object at all, and reads one after a byte order mark', () => {
    expect(() => decodeJson('{"resourceSpans": [')).toThrow(UndecodableBodyError);
    expect(() => decodeJson('[1,2]')).toThrow(UndecodableBodyError);
    expect(decodeJson('{}')).toEqual({ spans: [], rejected: [] });
    expect(decodeJson(Buffer.from(`\uFEFF${wrap(base)}`)).spans).toHaveLength(1);
  });

  it('keeps 64-bit integers given as strings exactly, and names the range for one outside it', () => {
    const attrs = (v: string) => decodeJson(wrap({ ...base, attributes: [{ key: 'n', value: { intValue: v } }] }));
    expect(attrs('-9223372036854775808').spans[0]!.attributes).toEqual({ n: '-9223372036854775808' });
    expect(attrs('00000000000000000000042').spans[0]!.attributes).toEqual({ n: 42 });
    for (const v of ['9223372036854775808', '99999999999999999999', '1'.repeat(100_000)]) {
      expect(attrs(v).rejected[0]!.message).toMatch(/^intValue \d+ is outside the 64-bit integer range$/);
    }
  });

  it('refuses a span whose start or end time is missing, in milliseconds, or whose end comes before its start', () => {
    const out = decodeJson(
      JSON.stringify({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  { ...base, startTimeUnixNano: undefined },
                  { ...base, endTimeUnixNano: '0' },
                  { ...base, startTimeUnixNano: '1790605504206', endTimeUnixNano: '1790605505206' },
                  { ...base, startTimeUnixNano: '1790605504206000124', endTimeUnixNano: '1790605504206000123' },
                  { ...base, startTimeUnixNano: '1790605504206000999' },
                ],
              },
            ],
          },
        ],
      }),
    );
    expect(out.rejected.map((r) => r.message)).toEqual([
      'span eee19b7ec3c1b174: start time is missing (startTimeUnixNano 0)',
      'span eee19b7ec3c1b174: end time is missing (endTimeUnixNano 0)',
      'span eee19b7ec3c1b174: start time 1970-01-01T00:29:50.605Z is before 2000: milliseconds or microseconds sent as nanoseconds?',
      'span eee19b7ec3c1b174: end time is before its start time',
    ]);
    expect(out.rejected.every((r) => r.reason === 'invalid_timestamp')).toBe(true);
    expect(out.spans.map((s) => s.endTimeUnixNano === s.startTimeUnixNano)).toEqual([true]);
  });

  it('refuses a span whose attribute values nest more than 32 levels deep, instead of overflowing the stack', () => {
    // Built as text: JSON.stringify itself cannot nest 100,000 levels.
    const nest = (levels: number, open: string, close: string) =>
      JSON.stringify({ ...base, attributes: [{ key: 'trace.metadata.deep', value: 0 }] }).replace(
        '"value":0',
        `"value":${open.repeat(levels)}{"stringValue":"x"}${close.repeat(levels)}`,
      );
    const array = ['{"arrayValue":{"values":[', ']}}'] as const;
    const kvlist = ['{"kvlistValue":{"values":[{"key":"k","value":', '}]}}'] as const;
    const spans = [nest(32, ...array), nest(33, ...array), nest(33, ...kvlist), nest(100_000, ...array)];
    const out = decodeJson(`{"resourceSpans":[{"scopeSpans":[{"spans":[${spans.join(',')}]}]}]}`);
    expect(out.spans).toHaveLength(1);
    expect(JSON.stringify(out.spans[0]!.attributes)).toBe(`{"trace.metadata.deep":${'['.repeat(32)}"x"${']'.repeat(32)}}`);
    expect(out.rejected).toEqual(
      Array(3).fill({ reason: 'invalid_span', message: 'attribute values nest more than 32 levels deep' }),
    );
  });
});
