import { Pool } from 'undici';

export interface LoadResult {
  sent: number;
  failed: number;
  failures: Record<string, number>;
  seconds: number;
  latenciesMs: Float64Array;
}

/**
 * The sender's connections, kept open across the bench's runs as a sender such as OpenRouter keeps
 * them: opening 128 fresh connections at the start of a measured run charges the connection setup,
 * not the server's steady state, to its first half second.
 */
export function keepAlivePool(url: string, connections: number): Pool {
  return new Pool(new URL(url).origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
}

/**
 * Sends every body once over the pool's keep-alive connections, `concurrency` requests in flight
 * at a time, optionally paced to `ratePerSecond`. Records each request's latency.
 */
export async function drive(opts: {
  pool: Pool;
  path: string;
  key: string;
  contentType: string;
  bodies: Buffer[];
  concurrency: number;
  ratePerSecond?: number;
}): Promise<LoadResult> {
  const { pool } = opts;
  const latencies = new Float64Array(opts.bodies.length);
  const failures: Record<string, number> = {};
  let next = 0;
  let failed = 0;
  const started = performance.now();
  const headers = { 'content-type': opts.contentType, authorization: `Bearer ${opts.key}` };

  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= opts.bodies.length) return;
      // Paced, a request's latency counts from when it was due, not from when a free connection
      // sent it: a server that falls behind delays the requests queued behind it too, and those
      // delays belong in the figure (no "coordinated omission").
      let t0 = performance.now();
      if (opts.ratePerSecond) {
        const due = started + (i * 1000) / opts.ratePerSecond;
        if (due > t0) await new Promise((r) => setTimeout(r, due - t0));
        // Node's timers count from the event loop's clock, which lags the real one in a busy loop,
        // so a timeout may fire a millisecond or more early: a request sent before it was due
        // counts from its sending (counted from its due time, its latency could come out below zero).
        t0 = Math.min(due, performance.now());
      }
      try {
        const res = await pool.request({ path: opts.path, method: 'POST', headers, body: opts.bodies[i] });
        await res.body.dump();
        if (res.statusCode !== 200) {
          failed++;
          failures[String(res.statusCode)] = (failures[String(res.statusCode)] ?? 0) + 1;
        }
      } catch (err) {
        failed++;
        const k = (err as Error).name;
        failures[k] = (failures[k] ?? 0) + 1;
      }
      latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { sent: opts.bodies.length, failed, failures, seconds, latenciesMs: latencies };
}

/** `drive`, where any failed request stops the bench: a figure over failed requests would mislead. */
export async function driveAllOk(what: string, opts: Parameters<typeof drive>[0]): Promise<LoadResult> {
  const r = await drive(opts);
  if (r.failed > 0) throw new Error(`${what}: ${r.failed} requests failed: ${JSON.stringify(r.failures)}`);
  return r;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The throughput issue's latency goal, p99 under 50 ms; also one of the server's request histogram's bounds. */
export const LATENCY_GOAL_MS = 50;

/** A run's latency tail, in ms to two decimals. */
export interface LatencyTail {
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
}

export function latencyTail(sorted: Float64Array): LatencyTail {
  const ms = (p: number) => +percentile(sorted, p).toFixed(2);
  return { p50_ms: ms(50), p99_ms: ms(99), p999_ms: ms(99.9), max_ms: +sorted[sorted.length - 1]!.toFixed(2) };
}
