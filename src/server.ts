import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { KeyVerifier } from './auth/verifier.js';
import { buildApp } from './http/app.js';
import { Metrics } from './http/metrics.js';
import { BodyBudget } from './http/body-budget.js';
import { openDatabaseForServer, type OwnLedgerDatabase, type WaitOptions } from './ledger/database.js';
import { LedgerWriter } from './ledger/ledger-writer.js';
import { deliveryPreparer } from './ingest/prepare-pool.js';
import { migrate } from './ledger/migrate.js';
import { scheduleContentPurge } from './ledger/content-retention.js';
import { scheduleEmbeddedMaintenance } from './ledger/embedded-maintenance.js';
import { DiskSpaceGuard, watchDiskSpace } from './ledger/disk-space.js';

export interface RunningServer {
  app: FastifyInstance;
  ledger: OwnLedgerDatabase;
  writer: LedgerWriter;
  url: string;
  /** Stops taking requests, lets those in flight commit, then closes the ledger. */
  close(): Promise<void>;
}

/** Opens the ledger, applies migrations and serves. */
export async function startServer(config: Config, ledgerWait: WaitOptions = {}): Promise<RunningServer> {
  const ledger = await openDatabaseForServer({
    databaseUrl: config.DATABASE_URL,
    dataDir: config.DATA_DIR,
    poolSize: config.LEDGER_POOL_SIZE,
    writeFlushAfterKb: config.LEDGER_WRITE_FLUSH_AFTER_KB,
    ...ledgerWait,
  });
  try {
    await migrate(ledger.db);
  } catch (err) {
    await ledger.close();
    throw err;
  }
  const preparer = deliveryPreparer(config.LEDGER_PREPARE_THREADS);
  try {
    await preparer.ready();
  } catch (err) {
    await preparer.close();
    await ledger.close();
    throw new Error(`the delivery preparation threads did not start: ${(err as Error).message}`, { cause: err });
  }
  const metrics = new Metrics();
  const writer = new LedgerWriter(
    ledger.bulkTransaction,
    {
      maxItems: config.LEDGER_BATCH_MAX_REQUESTS,
      maxWaitMs: config.LEDGER_BATCH_MAX_WAIT_MS,
      // Postgres takes overlapping transactions on separate connections; PGlite is one session.
      maxInFlight: ledger.kind === 'pglite' ? 1 : config.LEDGER_WRITE_CONCURRENCY,
    },
    metrics.writer,
  );
  const verifier = new KeyVerifier(ledger.db, config.LEDGER_KEY_CACHE_MS);
  metrics.trackPool(ledger.pool, () => writer.pending, () => preparer.pending);
  const bodies = new BodyBudget(config.LEDGER_MAX_BODY_BYTES_IN_FLIGHT);
  metrics.trackBodies(bodies);
  // Only the embedded ledger's disk is this process's to watch; a Postgres server watches its own.
  const onDisk = ledger.kind === 'pglite' && !config.DATA_DIR.startsWith('memory://');
  const disk = onDisk && config.LEDGER_MIN_FREE_DISK_MB > 0 ? new DiskSpaceGuard(config.DATA_DIR, config.LEDGER_MIN_FREE_DISK_MB) : null;
  const app = buildApp({ config, ledger, writer, preparer, verifier, metrics, bodies, disk });
  const stopDiskWatch = disk ? await watchDiskSpace(disk, app.log) : async () => {};
  const days = config.LEDGER_CONTENT_RETENTION_DAYS;
  const stopPurge = days
    ? scheduleContentPurge(
        ledger.db,
        days,
        (rows) => {
          if (rows > 0) app.log.info({ rows, olderThanDays: days }, 'content purged');
        },
        (err) => app.log.error({ err }, 'content purge failed'),
      )
    : async () => {};
  const stopMaintenance = ledger.kind === 'pglite' ? scheduleEmbeddedMaintenance(ledger.db, ledger.flush, app.log) : async () => {};
  const address = await app.listen({ port: config.PORT, host: config.HOST });
  const url = address.replace('[::1]', 'localhost');

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      await stopPurge();
      await stopMaintenance();
      await stopDiskWatch();
      await app.close();
      await preparer.close();
      await writer.drain();
      await verifier.close().catch(() => {});
      await ledger.close();
    })());
  return { app, ledger, writer, url, close };
}
