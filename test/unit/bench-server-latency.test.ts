import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/http/metrics.js';
import { quantile, serverTimings, shareOverBound } from '../../bench/server-latency.js';

const ROUTE = '/developer/v1/ai-usage/openrouter/v1/traces';

describe("the bench's reading of the server's own request timings", () => {
  const metrics = new Metrics();
  // As the ledger's /metrics does, it answers only to its token.
  const server = createServer((req, res) => {
    if (req.headers.authorization !== 'Bearer bench-token') res.writeHead(401).end();
    else void metrics.registry.metrics().then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text));
  });
  let url = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const observe = (route: string, seconds: number[]) => seconds.forEach((s) => metrics.requestSeconds.observe({ route }, s));

  it("counts one route's requests, and those over the bound, between two readings", async () => {
    observe(ROUTE, [0.004, 0.03, 0.05, 0.051, 0.2]);
    observe('/v1/traces', [0.9, 0.9]);
    const before = await serverTimings(url, ROUTE, 'bench-token');
    expect(shareOverBound(new Map(), before.requests, 0.05)).toBe(0.4);

    observe(ROUTE, [0.001, 0.002, 0.003, 0.06]);
    observe('/v1/traces', [0.9]);
    const after = await serverTimings(url, ROUTE, 'bench-token');
    expect(shareOverBound(before.requests, after.requests, 0.05)).toBe(0.25);
    expect(shareOverBound(after.requests, after.requests, 0.05)).toBe(0);
    expect(() => shareOverBound(before.requests, after.requests, 0.07)).toThrow(/no bucket at 0.07 s/);
  });

  it("reckons each stage's quantiles between two readings within its buckets, as Prometheus does", async () => {
    const before = await serverTimings(url, ROUTE, 'bench-token');
    // 100 prepare stages: 50 at 0.7 ms (bucket 0.5–1 ms), 49 at 1.5 ms (1–2 ms), one at 40 ms (30–50 ms).
    for (let i = 0; i < 50; i++) metrics.stage.prepare.observe(0.0007);
    for (let i = 0; i < 49; i++) metrics.stage.prepare.observe(0.0015);
    metrics.stage.prepare.observe(0.04);
    metrics.stage.commit.observe(20);
    const after = await serverTimings(url, ROUTE, 'bench-token');
    const ms = (stage: 'receive' | 'prepare' | 'commit', q: number) => quantile(before.stages[stage], after.stages[stage], q) * 1000;
    // Rank 50 is the 0.5–1 ms bucket's last observation: its upper bound.
    expect(ms('prepare', 0.5)).toBeCloseTo(1, 9);
    // Rank 99 is the 1–2 ms bucket's last.
    expect(ms('prepare', 0.99)).toBeCloseTo(2, 9);
    // Rank 99.5 is halfway into the 30–50 ms bucket.
    expect(ms('prepare', 0.995)).toBeCloseTo(40, 9);
    // Past the last finite bound (10 s) the bucket has no upper end: that bound is the answer.
    expect(ms('commit', 0.5)).toBe(10_000);
    expect(ms('receive', 0.5)).toBeNaN();
  });

  it('refuses to read a route the histogram does not have, rather than report a fast server', async () => {
    await expect(serverTimings(url, '/nowhere', 'bench-token')).rejects.toThrow(/no ledger_http_request_duration_seconds for route="\/nowhere"/);
  });
});
