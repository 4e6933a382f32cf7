import { driveAllOk, keepAlivePool } from './load.js';
import { startServerProcess } from './server-process.js';

export interface HttpCeiling {
  deliveriesPerSecond: number;
  serverCpuCores: number;
}

/**
 * The machine's HTTP ceiling: the same bodies, load generator and concurrency against a bare
 * Fastify route that only reads and parses each body (bare-http-server.ts). What the ledger
 * reaches is read against it, as the raw ceiling reads the database side; the two tell a slow
 * machine from a slow server.
 */
export async function httpCeiling(opts: { path: string; warmup: Buffer[]; bodies: Buffer[]; concurrency: number }): Promise<HttpCeiling> {
  const server = await startServerProcess({ BARE_PATH: opts.path }, { script: 'bench/bare-http-server.ts' });
  const pool = keepAlivePool(server.url, opts.concurrency);
  const send = (bodies: Buffer[]) =>
    driveAllOk('HTTP ceiling', { pool, path: opts.path, key: 'none', contentType: 'application/json', bodies, concurrency: opts.concurrency });
  try {
    await send(opts.warmup);
    const cpu0 = server.cpuSeconds();
    const r = await send(opts.bodies);
    return { deliveriesPerSecond: r.sent / r.seconds, serverCpuCores: (server.cpuSeconds() - cpu0) / r.seconds };
  } finally {
    await pool.close();
    await server.stop();
  }
}
