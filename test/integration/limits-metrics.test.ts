import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRouterDelivery } from '../fixtures/openrouter.js';
import { post } from '../support/http.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

let server: TestServer;
let key: string;
const METRICS_TOKEN = 'metrics-token-for-the-tests';
const scrape = (url: string, token = METRICS_TOKEN) => fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  server = await startTestServer({ LEDGER_RATE_LIMIT_PER_KEY: '5', LEDGER_REQUEST_TIMEOUT_MS: '500', LEDGER_METRICS_TOKEN: METRICS_TOKEN });
  ({ key } = await server.key('acme'));
});
afterAll(() => server.stop());

describe('limits', () => {
  it('429 with Retry-After once a key exceeds its rate; other keys are unaffected', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const res = await post(server.url, openRouterDelivery({ generationId: `gen-rate-${i}`, inputTokens: 1, outputTokens: 1 }), { key });
        return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
      }),
    );
    const limited = statuses.filter((s) => s.status === 429);
    // A burst of 5, then 5 a second: however slow the machine, most of the 40 are refused.
    expect(limited.length).toBeGreaterThanOrEqual(20);
    expect(statuses.filter((s) => s.status === 200).length).toBeGreaterThanOrEqual(5);
    expect(statuses.every((s) => s.status === 200 || s.status === 429)).toBe(true);
    expect(Number(limited[0]!.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(limited[0]!.body)).toMatchObject({ code: 8, message: expect.stringMatching(/rate/) });
    const { key: other } = await server.key('other');
    expect((await post(server.url, openRouterDelivery({ generationId: 'gen-rate-other', inputTokens: 1, outputTokens: 1 }), { key: other })).status).toBe(200);
  });

  it('cuts off a sender that stalls mid-body', async () => {
    const { key: stalling } = await server.key('stall');
    const url = new URL(server.url);
    const started = Date.now();
    const closed = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(url.port), url.hostname, () => {
        socket.write(`POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stalling}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"resourceSpans":`);
      });
      let reply = '';
      socket.on('data', (d) => (reply += d.toString()));
      socket.on('close', () => resolve(reply));
      socket.on('error', () => {});
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(closed).toMatch(/^HTTP\/1\.1 408/);
    expect(JSON.parse(closed.split('\r\n\r\n')[1]!)).toEqual({ code: 4, message: `the request did not arrive within ${server.config.LEDGER_REQUEST_TIMEOUT_MS} ms` });
  });

  it('answers what Node refuses before any route (headers too large, malformed HTTP) with a google.rpc.Status too', async () => {
    const url = new URL(server.url);
    const exchange = (request: string) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(Number(url.port), url.hostname, () => socket.write(request));
        let reply = '';
        socket.on('data', (d) => (reply += d.toString()));
        socket.on('close', () => resolve(reply));
        socket.on('error', () => {});
      });
    const bigHeaders = await exchange(`POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\n{}`);
    expect(bigHeaders).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(bigHeaders.split('\r\n\r\n')[1]!)).toEqual({ code: 8, message: 'request headers are larger than this server accepts (16384 bytes)' });
    const garbage = await exchange('GARBAGE\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(garbage.split('\r\n\r\n')[1]!)).toEqual({ code: 3, message: 'malformed HTTP request' });
  });
});

describe('metrics', () => {
  it('answers only to LEDGER_METRICS_TOKEN, and is off without it: it tells every organisation\'s spend', async () => {
    for (const token of ['wrong-token-of-some-length', key]) {
      const refused = await scrape(server.url, token);
      expect(refused.status).toBe(401);
      expect(await refused.json()).toEqual({ code: 16, message: 'metrics need "Authorization: Bearer <LEDGER_METRICS_TOKEN>"' });
    }
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    const off = await startTestServer();
    try {
      const res = await scrape(off.url);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { message: string }).message).toMatch(/^metrics are off: set LEDGER_METRICS_TOKEN/);
    } finally {
      await off.stop();
    }
  });

  it('exposes requests, spans, rejections, generations, write latency and rewrites in Prometheus format', async () => {
    const { key: k } = await server.key('metrics');
    const body = openRouterDelivery({ generationId: 'gen-metrics', inputTokens: 1, outputTokens: 1, totalCost: 0.25, children: true });
    body.resourceSpans[1]!.scopeSpans[0]!.spans[0]!.spanId = 'abcd';
    expect((await post(server.url, body, { key: k })).status).toBe(200);
    // A sender's retry, free of cost: the ledger holds these spans already, so the batch is
    // written again leaving them out.
    const free = openRouterDelivery({ generationId: 'gen-metrics-retry', inputTokens: 1, outputTokens: 1, totalCost: 0 });
    for (let i = 0; i < 2; i++) expect((await post(server.url, free, { key: k })).status).toBe(200);
    const res = await scrape(server.url);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/ledger_http_requests_total\{route="\/developer\/v1\/ai-usage\/openrouter",status="200"\} \d+/);
    expect(text).toMatch(/ledger_spans_accepted_total \d+/);
    expect(text).toMatch(/ledger_spans_rejected_total\{reason="invalid_span_id"\} 1/);
    expect(text).toMatch(/ledger_generations_received_total \d+/);
    expect(text).toMatch(/ledger_usd_received_total 0\.25/);
    expect(text).toMatch(/ledger_write_duration_seconds_count \d+/);
    // Each accepted delivery's time inside the server, stage by stage.
    for (const stage of ['receive', 'prepare', 'commit']) {
      const count = new RegExp(`ledger_ingest_stage_duration_seconds_count\\{stage="${stage}"\\} (\\d+)`).exec(text);
      expect(Number(count?.[1]), stage).toBeGreaterThanOrEqual(3);
    }
    expect(text).toMatch(/ledger_http_request_duration_seconds_bucket/);
    expect(text).toMatch(/ledger_write_pending_requests 0/);
    expect(text).toMatch(/ledger_prepare_pending_requests 0/);
    expect(text).toMatch(/ledger_write_rewrites_total\{reason="duplicate"\} 1/);
  });
});

describe('overload', () => {
  it('turns requests away with 503 and Retry-After once too many wait for the ledger, and stores none of them', async () => {
    const busy = await startTestServer({ LEDGER_MAX_PENDING_REQUESTS: '1', LEDGER_BATCH_MAX_WAIT_MS: '20' });
    try {
      const { key: k } = await busy.key('acme');
      const results = await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const res = await post(busy.url, openRouterDelivery({ generationId: `gen-busy-${i}`, inputTokens: 1, outputTokens: 1, totalCost: 1 }), { key: k });
          return { i, status: res.status, retryAfter: res.headers.get('retry-after') };
        }),
      );
      const refused = results.filter((r) => r.status === 503);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.every((r) => Number(r.retryAfter) > 0)).toBe(true);
      expect(results.every((r) => r.status === 200 || r.status === 503)).toBe(true);
      const stored = await busy.query<{ generation_id: string }>(`SELECT generation_id FROM generations`);
      expect(stored.map((r) => r.generation_id).sort()).toEqual(results.filter((r) => r.status === 200).map((r) => `gen-busy-${r.i}`).sort());
    } finally {
      await busy.stop();
    }
  });
});

describe('body budget', () => {
  it('reads no more than LEDGER_MAX_BODY_BYTES_IN_FLIGHT of bodies at once: a second delivery waits, unread, then both are stored', async () => {
    const small = await startTestServer({ LEDGER_MAX_BODY_BYTES_IN_FLIGHT: String(1024 * 1024), LEDGER_METRICS_TOKEN: METRICS_TOKEN });
    let socket: net.Socket | undefined;
    try {
      const { key: k } = await small.key('acme');
      const gauge = async (name: string) => {
        const text = await (await scrape(small.url)).text();
        return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
      };
      const until = async (check: () => Promise<boolean>) => {
        const deadline = Date.now() + 10_000;
        while (!(await check())) {
          if (Date.now() > deadline) throw new Error('timed out');
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      const body = (id: string) => JSON.stringify(openRouterDelivery({ generationId: id, inputTokens: 1, outputTokens: 1, totalCost: 0.5, metadata: { note: 'x'.repeat(700_000) } }));
      const first = Buffer.from(body('gen-budget-1'));
      const url = new URL(small.url);
      socket = net.connect(Number(url.port), url.hostname);
      let reply = '';
      socket.on('data', (d) => (reply += d.toString()));
      const replied = new Promise<void>((resolve) => socket!.on('data', () => reply.includes('\r\n\r\n') && resolve()));
      socket.write(`POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${k}\r\nContent-Type: application/json\r\nContent-Length: ${first.length}\r\n\r\n`);
      socket.write(first.subarray(0, 1000));
      await until(async () => (await gauge('ledger_body_bytes_in_flight')) === first.length);

      const second = post(small.url, body('gen-budget-2'), { key: k });
      await until(async () => (await gauge('ledger_body_waiting_requests')) === 1);
      expect(await gauge('ledger_body_bytes_in_flight')).toBe(first.length);

      socket.write(first.subarray(1000));
      await replied;
      socket.end();
      expect(reply).toMatch(/^HTTP\/1\.1 200/);
      expect((await second).status).toBe(200);
      await until(async () => (await gauge('ledger_body_bytes_in_flight')) === 0);
      expect(await gauge('ledger_body_waiting_requests')).toBe(0);
      const stored = await small.query<{ generation_id: string }>(`SELECT generation_id FROM generations ORDER BY generation_id`);
      expect(stored.map((r) => r.generation_id)).toEqual(['gen-budget-1', 'gen-budget-2']);

      // A body larger than the whole budget is read alone, not refused.
      const large = JSON.stringify(openRouterDelivery({ generationId: 'gen-budget-3', inputTokens: 1, outputTokens: 1, metadata: { note: 'x'.repeat(1_500_000) } }));
      expect((await post(small.url, large, { key: k })).status).toBe(200);
    } finally {
      socket?.destroy();
      await small.stop();
    }
  });
});
