import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openRouterDelivery } from '../fixtures/openrouter.js';
import { sendWithRetry } from '../support/retrying-sender.js';
import { proxyInFrontOf, type TcpProxy } from '../support/tcp-proxy.js';
import { createTestLedger, startTestServer, type TestLedger, type TestServer } from '../support/test-server.js';
import { post } from '../support/http.js';
import { ledgerCli } from '../support/cli.js';
import { startServerProcess } from '../../bench/server-process.js';

// Only a server ledger can go away mid-load; the embedded one lives in the process.
describe.runIf(inject('databaseUrl') !== '')('Postgres going away under load', () => {
  let ledger: TestLedger;
  let proxy: TcpProxy;
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    ledger = await createTestLedger();
    let viaProxy: URL;
    ({ proxy, url: viaProxy } = await proxyInFrontOf(ledger.env.DATABASE_URL!));
    server = await startTestServer({ DATABASE_URL: viaProxy.toString() }, ledger);
    ({ key } = await server.key('acme'));
  });
  afterAll(async () => {
    await server.stop();
    await proxy.stop();
    await ledger.drop();
  });

  it('answers 503 (never 500, never a hang) while it is gone, and every retried delivery lands exactly once', async () => {
    const N = 240;
    const deliveries = Array.from({ length: N }, (_, i) =>
      openRouterDelivery({ generationId: `gen-fault-${i}`, inputTokens: 10, outputTokens: 5, totalCost: 0.001, children: true }),
    );
    let acked = 0;
    let next = 0;
    const outcomes: { status: number; statuses: number[] }[] = [];
    const worker = async () => {
      while (next < N) {
        const body = deliveries[next++]!;
        const r = await sendWithRetry(server.url, body, { key });
        if (r.status === 200) acked++;
        outcomes.push(r);
      }
    };
    const senders = Promise.all(Array.from({ length: 12 }, worker));

    const { key: unseenKey } = await server.key('acme', 'ingest', 'first used during the outage');
    while (acked < N / 4) await new Promise((r) => setTimeout(r, 5));
    proxy.cut();
    // A key the server has never checked cannot be verified while Postgres is away: 503, not 401 or 500.
    const unverifiable = await post(server.url, openRouterDelivery({ generationId: 'gen-unseen-key', inputTokens: 1, outputTokens: 1 }), { key: unseenKey });
    expect(unverifiable.status).toBe(503);
    const during = await post(server.url, openRouterDelivery({ generationId: 'gen-during-cut', inputTokens: 1, outputTokens: 1 }), { key });
    expect(during.status).toBe(503);
    expect(Number(during.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await during.json()).toMatchObject({ code: 14, message: expect.stringMatching(/unavailable/) });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    await new Promise((r) => setTimeout(r, 500));
    proxy.restore();
    await senders;

    expect(outcomes.every((o) => o.status === 200)).toBe(true);
    const seen = new Set(outcomes.flatMap((o) => o.statuses));
    expect(seen.has(500)).toBe(false);
    expect(seen.has(503)).toBe(true);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);

    const [totals] = await server.query<{ generations: string; usd: string; spans: string }>(`
      SELECT (SELECT count(*) FROM generations WHERE generation_id LIKE 'gen-fault-%')::text AS generations,
             (SELECT trim_scale(sum(cost_usd)) FROM generations WHERE generation_id LIKE 'gen-fault-%')::text AS usd,
             (SELECT count(*) FROM spans WHERE resource->'attributes'->>'openrouter.trace.id' LIKE 'gen-fault-%')::text AS spans`);
    expect(totals).toEqual({ generations: String(N), usd: '0.24', spans: String(N * 3) });
    // Nothing half-written: every stored delivery has all three of its spans, and the request
    // refused during the cut left nothing behind.
    const partial = await server.query(`SELECT trace_id FROM spans GROUP BY trace_id HAVING count(*) <> 3`);
    expect(partial).toEqual([]);
  });
});

describe.runIf(inject('databaseUrl') !== '')('an outage in the server’s log', () => {
  it('logs each kind of failure once in full, and the requests that failed the same way as one count', async () => {
    const ledger = await createTestLedger();
    const { proxy, url: viaProxy } = await proxyInFrontOf(ledger.env.DATABASE_URL!);
    const created = await ledgerCli(['keys', 'create', '--org', 'acme', '--json'], ledger.env);
    const { key } = JSON.parse(created.stdout) as { key: string };
    const server = await startServerProcess({ DATABASE_URL: viaProxy.toString(), LOG_LEVEL: 'warn' }, { capture: true });
    const N = 60;
    try {
      const first = openRouterDelivery({ generationId: 'gen-log-first', inputTokens: 1, outputTokens: 1 });
      expect((await post(server.url, first, { key })).status).toBe(200);
      proxy.cut();
      const statuses = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          post(server.url, openRouterDelivery({ generationId: `gen-log-${i}`, inputTokens: 1, outputTokens: 1 }), { key }).then((r) => r.status),
        ),
      );
      expect(statuses).toEqual(Array(N).fill(503));
      proxy.restore();
    } finally {
      await server.stop();
      await proxy.stop();
      await ledger.drop();
    }
    const errors = server
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message: string; stack: string }; repeats?: number; error?: string })
      .filter((entry) => entry.level === 50);
    const inFull = errors.filter((e) => e.err);
    const counted = errors.filter((e) => e.repeats !== undefined);
    // A cut connection and refused new ones: a few kinds, each once with its stack and cause.
    expect(inFull.length).toBeGreaterThan(0);
    expect(inFull.length).toBeLessThanOrEqual(4);
    for (const e of inFull) expect(e.err!.message).toMatch(/^the ledger could not (store the spans|look up the API key): \S/);
    for (const e of counted) {
      expect(inFull.map((f) => f.err!.message)).toContain(e.error);
      expect(e.msg).toBe(`the ledger is unavailable; retry later (${e.repeats} more request${e.repeats === 1 ? '' : 's'} failed the same way)`);
    }
    expect(inFull.length + counted.reduce((n, e) => n + e.repeats!, 0)).toBe(N);
  });
});
