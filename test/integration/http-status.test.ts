import { randomBytes } from 'node:crypto';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcStatus, ExportTraceServiceResponse } from '../../src/otlp/proto.js';
import { revokeKey } from '../../src/auth/key-store.js';
import { encode } from '../../bench/deliveries.js';
import { openRouterDelivery } from '../fixtures/openrouter.js';
import { attrs, body, ids, manyTracesBody, resourceSpans, span } from '../fixtures/otlp-json.js';
import { post } from '../support/http.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

let server: TestServer;
let key: string;
const LIMIT = 64 * 1024;

beforeAll(async () => {
  server = await startTestServer({ LEDGER_MAX_BODY_BYTES: String(LIMIT), LEDGER_KEY_CACHE_MS: '200', LEDGER_MAX_SPANS_PER_REQUEST: '100' });
  ({ key } = await server.key('acme'));
});
afterAll(() => server.stop());

async function expectStatus(res: Response, status: number, grpcCode: number, message: RegExp) {
  expect(res.status).toBe(status);
  const type = res.headers.get('content-type') ?? '';
  const bytes = Buffer.from(await res.arrayBuffer());
  const body = type.startsWith('application/x-protobuf')
    ? (RpcStatus.toObject(RpcStatus.decode(bytes)) as { code: number; message: string })
    : (JSON.parse(bytes.toString('utf8')) as { code: number; message: string });
  expect(body.code).toBe(grpcCode);
  expect(body.message).toMatch(message);
  return res;
}

const delivery = () => openRouterDelivery({ generationId: `gen-${Math.random()}`, inputTokens: 1, outputTokens: 1, totalCost: 0.01 });

describe('OTLP/HTTP status codes', () => {
  it('401 without a key, with an unknown key, with a malformed header', async () => {
    await expectStatus(await post(server.url, delivery()), 401, 16, /missing API key/);
    await expectStatus(await post(server.url, delivery(), { key: 'asl_' + 'x'.repeat(43) }), 401, 16, /invalid or revoked/);
    await expectStatus(await post(server.url, delivery(), { headers: { authorization: 'Basic abc' } }), 401, 16, /missing API key/);
  });

  it('401 once a key is revoked (within the key cache time)', async () => {
    const { id, key: doomed } = await server.key('acme', 'ingest', 'doomed');
    expect((await post(server.url, delivery(), { key: doomed })).status).toBe(200);
    expect(await revokeKey(server.ledger.db, id)).toMatchObject({ now: true });
    await new Promise((r) => setTimeout(r, 250));
    await expectStatus(await post(server.url, delivery(), { key: doomed }), 401, 16, /revoked/);
  });

  it('403 for a key of the wrong scope', async () => {
    const { key: readKey } = await server.key('acme', 'read');
    await expectStatus(await post(server.url, delivery(), { key: readKey }), 403, 7, /scope "read"/);
  });

  it('400 for an undecodable body, in the request encoding', async () => {
    await expectStatus(await post(server.url, '{"resourceSpans": [', { key }), 400, 3, /not valid JSON/);
    const bad = await post(server.url, Buffer.from([0x0a, 0xff, 0xff, 0xff]), { key, contentType: 'application/x-protobuf' });
    expect(bad.headers.get('content-type')).toMatch(/^application\/x-protobuf/);
    await expectStatus(bad, 400, 3, /not a valid protobuf/);
    await expectStatus(await post(server.url, Buffer.from('not gzip'), { key, headers: { 'content-encoding': 'gzip' } }), 400, 3, /Content-Encoding/);
  });

  it('404 for an unknown path, 405 for another method on an ingest path', async () => {
    await expectStatus(await post(server.url, delivery(), { key, path: '/v1/logs' }), 404, 5, /no such endpoint/);
    const res = await fetch(`${server.url}/v1/traces`, { method: 'GET' });
    expect(res.headers.get('allow')).toBe('POST');
    await expectStatus(res, 405, 12, /POST/);
  });

  it('a Base URL pasted with a trailing or doubled slash still reaches the ingest paths', async () => {
    for (const path of ['/developer/v1/ai-usage/openrouter/', '/developer/v1/ai-usage/openrouter//v1/traces', '/v1/traces/']) {
      const res = await post(server.url, delivery(), { key, path });
      expect(res.status, path).toBe(200);
    }
  });

  it('415 for an unsupported Content-Type or Content-Encoding', async () => {
    await expectStatus(await post(server.url, 'a=b', { key, contentType: 'application/x-www-form-urlencoded' }), 415, 3, /Content-Type/);
    await expectStatus(await post(server.url, delivery(), { key, headers: { 'content-encoding': 'br' } }), 415, 3, /Content-Encoding "br"/);
  });

  it('415 for JSON declared in a charset other than UTF-8, which it would be misread as', async () => {
    const latin1 = Buffer.from(JSON.stringify(delivery()), 'latin1');
    await expectStatus(
      await post(server.url, latin1, { key, contentType: 'application/json; charset=ISO-8859-1' }),
      415,
      3,
      /^unsupported charset "ISO-8859-1": OTLP\/JSON bodies are UTF-8$/,
    );
    for (const contentType of ['application/json; charset="UTF-8"', 'application/json;charset=utf8', 'application/json; foo']) {
      expect((await post(server.url, delivery(), { key, contentType })).status, contentType).toBe(200);
    }
    const protobuf = encode(delivery(), 'protobuf');
    expect((await post(server.url, protobuf, { key, contentType: 'application/x-protobuf; charset=binary' })).status).toBe(200);
  });

  it('413 for a body over the limit, raw or after decompression, and a gzip bomb stops early', async () => {
    const big = Buffer.alloc(LIMIT + 1, 0x20);
    await expectStatus(await post(server.url, big, { key }), 413, 8, /larger/);
    // 64 MiB of zeros gzips to ~64 KB... keep it small: 8 MiB of spaces is ~8 KB of gzip.
    const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024, 0x20), { level: 9 });
    expect(bomb.length).toBeLessThan(16 * 1024);
    const rss = process.memoryUsage().rss;
    await expectStatus(await post(server.url, bomb, { key, headers: { 'content-encoding': 'gzip' } }), 413, 8, /larger/);
    expect(process.memoryUsage().rss - rss).toBeLessThan(32 * 1024 * 1024);
    // The same body zlib-deflated is refused the same way.
    await expectStatus(await post(server.url, deflateSync(Buffer.alloc(LIMIT * 4, 0x20)), { key, headers: { 'content-encoding': 'deflate' } }), 413, 8, /larger/);
  });

  it('413 for a body of more spans than LEDGER_MAX_SPANS_PER_REQUEST, in either encoding, and none of it stored', async () => {
    const message = /^101 spans in one request; this server takes at most 100: send smaller batches$/;
    await expectStatus(await post(server.url, manyTracesBody('gen-many-json', 101), { key }), 413, 8, message);
    const protobuf = encode(manyTracesBody('gen-many-pb', 101), 'protobuf');
    await expectStatus(await post(server.url, protobuf, { key, contentType: 'application/x-protobuf' }), 413, 8, message);
    // The first resource's tag rewritten to field 3 (schema_url) with wire type 5: protobufjs still
    // decodes every span, and the count on the wire once lost its way here and let them all in.
    const withResource = manyTracesBody('gen-many-retagged', 101);
    withResource.resourceSpans[0]!.resource = { attributes: attrs({ 'service.name': 'openrouter' }) };
    const retagged = encode(withResource, 'protobuf');
    let at = 1;
    while (retagged[at]! & 0x80) at++;
    expect(retagged[++at], 'the first resource tag').toBe((1 << 3) | 2);
    retagged[at] = (3 << 3) | 5;
    await expectStatus(await post(server.url, retagged, { key, contentType: 'application/x-protobuf' }), 413, 8, message);
    expect((await post(server.url, manyTracesBody('gen-just-enough', 100), { key })).status).toBe(200);
    const rows = await server.query<{ prefix: string; n: string }>(
      `SELECT split_part(generation_id, '-', 2) AS prefix, count(*)::text AS n FROM generations
       WHERE generation_id LIKE 'gen-many-%' OR generation_id LIKE 'gen-just-%' GROUP BY 1`,
    );
    expect(rows).toEqual([{ prefix: 'just', n: '100' }]);
  });

  it('200 with partial_success when some spans are invalid, and stores the valid ones', async () => {
    const body = openRouterDelivery({ generationId: 'gen-partial', inputTokens: 1, outputTokens: 1, totalCost: 0.02, children: true });
    const spans = body.resourceSpans.map((rs) => rs.scopeSpans[0]!.spans[0]!);
    spans[1]!.spanId = 'abcd';
    spans[2]!.attributes.push({ key: 'gen_ai.usage.input_tokens', value: { stringValue: 'lots' } });
    const res = await post(server.url, body, { key });
    expect(res.status).toBe(200);
    const reply = (await res.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(reply.partialSuccess.rejectedSpans).toBe('2');
    expect(reply.partialSuccess.errorMessage).toMatch(/span id must be 8 bytes.*gen_ai\.usage\.input_tokens must be a non-negative integer/);
    const [row] = await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM generations WHERE generation_id = 'gen-partial'`);
    expect(row!.n).toBe('1');
  });

  it('refuses the spans of a loop of parent ids (a → b → a; c → d → e → c), whose spend would be counted nowhere, and keeps the rest', async () => {
    const { traceId, spanId } = ids();
    const [a, b, c, d, e, below, root] = Array.from({ length: 7 }, spanId);
    const usage = (generationId: string, cost: number) => ({ 'gen_ai.response.id': generationId, 'gen_ai.usage.total_cost': { double: cost } });
    const spans = [
      span({ traceId, spanId: a!, parentSpanId: b!, attributes: usage('gen-loop-a', 0.1) }),
      span({ traceId, spanId: b!, parentSpanId: a!, attributes: usage('gen-loop-b', 0.2) }),
      span({ traceId, spanId: c!, parentSpanId: e!, attributes: usage('gen-loop-c', 0.4) }),
      span({ traceId, spanId: d!, parentSpanId: c!, attributes: {} }),
      span({ traceId, spanId: e!, parentSpanId: d!, attributes: {} }),
      span({ traceId, spanId: below!, parentSpanId: c!, attributes: usage('gen-loop-below', 0.05) }),
      span({ traceId, spanId: root!, attributes: usage('gen-loop-root', 0.3) }),
    ];
    const res = await post(server.url, body(resourceSpans({}, spans)), { key });
    expect(res.status).toBe(200);
    const reply = (await res.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(reply.partialSuccess.rejectedSpans).toBe('5');
    expect(reply.partialSuccess.errorMessage).toContain(`span ${a}: its parent chain loops back to it (${a} → ${b} → ${a})`);
    expect(reply.partialSuccess.errorMessage).toContain(`span ${c}: its parent chain loops back to it (${c} → ${e} → ${d} → ${c})`);
    const stored = await server.query<{ span_id: string }>(`SELECT span_id FROM spans WHERE trace_id = '${traceId}' ORDER BY span_id`);
    expect(stored.map((r) => r.span_id)).toEqual([below, root].sort());
    const [sum] = await server.query<{ n: string; usd: string }>(`SELECT count(*)::text AS n, sum(cost_usd)::text AS usd FROM generations WHERE trace_id = '${traceId}'`);
    expect(sum).toEqual({ n: '2', usd: '0.35' });
  });

  it('a cost beyond the bounds of an amount refuses its span, and a plus sign is read as a number', async () => {
    const withCost = (generationId: string, cost: string) => {
      const body = openRouterDelivery({ generationId, inputTokens: 1, outputTokens: 1 });
      body.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.attributes.push({ key: 'gen_ai.usage.total_cost', value: { stringValue: cost } });
      return body;
    };
    const huge = await post(server.url, withCost('gen-huge', '1e999999999'), { key });
    await expectStatus(huge, 400, 3, /gen_ai\.usage\.total_cost must be less than 1e15 in magnitude/);
    expect((await post(server.url, withCost('gen-plus', '+0.25'), { key })).status).toBe(200);
    const rows = await server.query<{ generation_id: string; cost_usd: string }>(
      `SELECT generation_id, cost_usd::text FROM generations WHERE generation_id IN ('gen-huge', 'gen-plus')`,
    );
    expect(rows).toEqual([{ generation_id: 'gen-plus', cost_usd: '0.25' }]);
  });

  it('model, provider and generation id are refused past their bounds, and kept up to them at the longest', async () => {
    // Random text, as Postgres would otherwise compress it into its index.
    const random = (bytes: number) => randomBytes(bytes).toString('base64url').slice(0, bytes);
    const withCost = (g: Parameters<typeof openRouterDelivery>[0], cost: string) => {
      const body = openRouterDelivery(g);
      body.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.attributes.push({ key: 'gen_ai.usage.total_cost', value: { stringValue: cost } });
      return body;
    };
    const longest = { generationId: random(1024), model: random(256), author: random(256), inputTokens: 1, outputTokens: 1 };
    const finest = `1.${'7'.repeat(999)}3`;
    expect((await post(server.url, withCost(longest, finest), { key })).status).toBe(200);
    const [kept] = await server.query<{ model: string; cost_usd: string }>(
      `SELECT model, cost_usd::text FROM generations WHERE generation_id = '${longest.generationId}'`,
    );
    expect(kept).toEqual({ model: longest.model, cost_usd: finest });

    const over = [
      [{ ...longest, generationId: random(1025) }, /gen_ai\.response\.id must be at most 1024 bytes long, got 1,025/],
      [{ ...longest, generationId: random(20_000) }, /got 20,000/],
      [{ ...longest, generationId: `gen-${Math.random()}`, model: '€'.repeat(100) }, /gen_ai\.response\.model must be at most 256 bytes long, got 300/],
      [{ ...longest, generationId: `gen-${Math.random()}`, author: random(257) }, /gen_ai\.provider\.name must be at most 256 bytes long/],
    ] as const;
    for (const [g, message] of over) await expectStatus(await post(server.url, withCost(g, '0.5'), { key }), 400, 3, message);
  });

  it('partial success in protobuf for a protobuf request', async () => {
    const { ExportTraceServiceRequest } = await import('../../src/otlp/proto.js');
    const bytes = ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromObject({
        resourceSpans: [{ scopeSpans: [{ spans: [
          { traceId: Buffer.alloc(16, 7), spanId: Buffer.alloc(8, 7), name: 'ok', startTimeUnixNano: '1790605504206000000', endTimeUnixNano: '1790605504206000001' },
          { traceId: Buffer.alloc(3, 7), spanId: Buffer.alloc(8, 8), name: 'short trace id' },
        ] }] }],
      }),
    ).finish();
    const res = await post(server.url, Buffer.from(bytes), { key, contentType: 'application/x-protobuf' });
    expect(res.status).toBe(200);
    const reply = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(Buffer.from(await res.arrayBuffer())), { longs: String }) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(reply.partialSuccess.rejectedSpans).toBe('1');
    expect(reply.partialSuccess.errorMessage).toMatch(/short trace id/);
  });

  it('400 when nothing in the body is valid', async () => {
    const body = { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'zz', spanId: 'yy' }] }] }] };
    await expectStatus(await post(server.url, body, { key }), 400, 3, /no valid spans/);
    await expectStatus(await post(server.url, { resourceLogs: [{}] }, { key }), 400, 3, /logs; this endpoint takes traces/);
  });

  it('answers /healthz and /readyz', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});
