import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/http/metrics.js';
import { serverTimings, shareOverBound } from '../../bench/server-latency.js';

const ROUTE = '/developer/v1/ai-usage/openrouter/v1/traces';

describe("the bench's reading of the server's own request timings", () => {
  const metrics = new Metrics();
  const server = createServer((_req, res) => {
    void metrics.registry.metrics().then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text));
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
    const before = await serverTimings(url, ROUTE, '0.05');
    expect(before).toEqual({ requests: 5, withinBound: 3 });

    observe(ROUTE, [0.001, 0.002, 0.003, 0.06]);
    observe('/v1/traces', [0.9]);
    const after = await serverTimings(url, ROUTE, '0.05');
    expect(after).toEqual({ requests: 9, withinBound: 6 });
    expect(shareOverBound(before, after)).toBe(0.25);
    expect(shareOverBound(after, after)).toBe(0);
  });

  it('refuses to read a route or bound the histogram does not have, rather than report a fast server', async () => {
    await expect(serverTimings(url, '/nowhere', '0.05')).rejects.toThrow(/no ledger_http_request_duration_seconds bucket le="0.05" for \/nowhere/);
    await expect(serverTimings(url, ROUTE, '0.07')).rejects.toThrow(/le="0.07"/);
  });
});
