import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { request } from 'undici';
import { createKey } from '../src/auth/key-store.js';
import { encode } from './deliveries.js';
import { onLedger } from './ledger-admin.js';
import type { LedgerLocation } from './raw-ceiling.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

/** What a server's memory came to under bodies of many small spans, all sent at once. */
export interface DenseRun {
  bodies: number;
  spans_per_body: number;
  body_bytes: number;
  seconds: number;
  /** Bodies answered 200; the rest failed, and the ledger check says so. */
  accepted: number;
  server_peak_rss_mb: number;
  /** The ledger holds every span of every body, once. */
  exact: boolean;
}

/**
 * Protobuf bodies of `spans` minimal spans each (ids, a name, times: all a span must have). A
 * span costs the server about the same on its way to the ledger whatever its size, so these are
 * what take the most memory per byte; the deliveries never show it.
 */
export function denseBodies(count: number, spans: number): Buffer[] {
  return Array.from({ length: count }, () => {
    const traceId = randomBytes(16).toString('hex');
    const first = randomBytes(8).readBigUInt64BE() & ~0xffffffn;
    const list = Array.from({ length: spans }, (_, i) => ({
      traceId,
      spanId: (first + BigInt(i + 1)).toString(16).padStart(16, '0'),
      name: 'step',
      kind: 1,
      startTimeUnixNano: '1764950000000000000',
      endTimeUnixNano: '1764950000100000000',
    }));
    return encode({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'dense' }, spans: list }] }] }, 'protobuf');
  });
}

/**
 * Starts a server of its own on `ledger` (so that its peak RSS is this run's alone), sends every
 * body at once, and counts what the ledger holds.
 */
export async function denseRun(
  ledger: LedgerLocation & { env: Record<string, string> },
  serverEnv: Record<string, string>,
  opts: { path: string; compiled: boolean; bodies: Buffer[]; spansPerBody: number },
): Promise<DenseRun> {
  const server = await startServerProcess({ ...serverEnv, ...ledger.env }, { compiled: opts.compiled });
  let sent: { statuses: number[]; seconds: number; peakRssMb: number };
  try {
    sent = await sendAtOnce(server, ledger, opts.path, opts.bodies);
  } finally {
    // Before the check: the embedded ledger opens in one process at a time.
    await server.stop();
  }
  const [row] = await onLedger(ledger, async (db) => (await sql<{ spans: string }>`SELECT count(*)::text AS spans FROM spans`.execute(db)).rows);
  return {
    bodies: opts.bodies.length,
    spans_per_body: opts.spansPerBody,
    body_bytes: opts.bodies[0]?.length ?? 0,
    seconds: +sent.seconds.toFixed(1),
    accepted: sent.statuses.filter((s) => s === 200).length,
    server_peak_rss_mb: +sent.peakRssMb.toFixed(1),
    exact: Number(row!.spans) === opts.bodies.length * opts.spansPerBody,
  };
}

/** Makes a key, sends every body at once with it, and reads the server's peak RSS once all are answered. */
async function sendAtOnce(server: ServerProcess, ledger: LedgerLocation, path: string, bodies: Buffer[]) {
  const { key } = await onLedger(ledger, (db) => createKey(db, { org: 'dense', scope: 'ingest' }));
  const started = performance.now();
  const statuses = await Promise.all(
    bodies.map(async (body) => {
      const res = await request(`${server.url}${path}`, {
        method: 'POST',
        body,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-protobuf' },
        // A body waits its turn for the server's body budget, unread, for as long as it takes.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      await res.body.dump();
      return res.statusCode;
    }),
  );
  return { statuses, seconds: (performance.now() - started) / 1000, peakRssMb: server.peakRssMb() };
}
