import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drive, keepAlivePool } from '../../bench/load.js';

describe("the bench's paced load", () => {
  /** How long the server held each request (its body is its index) before answering, in ms. */
  const held = new Map<number, number>();
  const HOLD_MS = 2;
  /** Requests held far longer, to stall the sender. */
  const stalls = new Map<number, number>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const at = performance.now();
      setTimeout(() => {
        held.set(Number(body), performance.now() - at);
        res.end('{}');
      }, stalls.get(Number(body)) ?? HOLD_MS);
    });
  });
  let url = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("counts each request's latency from its due time, or from its sending where a timer fired early, never less", async () => {
    const pool = keepAlivePool(url, 16);
    const rate = 2_000;
    const bodies = Array.from({ length: 2_000 }, (_, i) => Buffer.from(String(i)));
    try {
      const r = await drive({ pool, path: '/', key: 'k', contentType: 'application/json', bodies, concurrency: 16, ratePerSecond: rate });
      expect(r.failed).toBe(0);
      expect(held.size).toBe(bodies.length);
      // A request's latency holds at least the time the server held it.
      const short = [...held].filter(([i, ms]) => r.latenciesMs[i]! < ms);
      expect(short).toEqual([]);
      expect(r.seconds).toBeGreaterThan(0.9 * ((bodies.length - 1) / rate));
    } finally {
      await pool.close();
    }
  });

  it('counts a request sent late, behind a stalled one, from when it was due', async () => {
    held.clear();
    stalls.set(100, 100);
    const pool = keepAlivePool(url, 1);
    try {
      const bodies = Array.from({ length: 300 }, (_, i) => Buffer.from(String(i)));
      const r = await drive({ pool, path: '/', key: 'k', contentType: 'application/json', bodies, concurrency: 1, ratePerSecond: 2_000 });
      expect(r.failed).toBe(0);
      // Due half a millisecond after the stalled one, it could be sent only once that was answered.
      expect(r.latenciesMs[101]).toBeGreaterThan(99);
      expect(r.latenciesMs[100]).toBeGreaterThan(100);
    } finally {
      stalls.clear();
      await pool.close();
    }
  });
});
