import { openDatabase } from '../src/ledger/database.js';
import { LedgerWriter, type WriteRequest } from '../src/ledger/ledger-writer.js';
import { migrate } from '../src/ledger/migrate.js';
import { createKey } from '../src/auth/key-store.js';
import { prepareDelivery } from '../src/ingest/prepare-delivery.js';
import { sql } from 'kysely';

const ROWS_PER_INSERT = 1_000;

/**
 * The database's own ceiling for these rows: the same ledger writer (COPY, one transaction per
 * ~1,000 spans) run straight from this process on rows prepared beforehand — no HTTP, no
 * decoding, no waiting for senders. Returns deliveries per second.
 */
export async function rawCeiling(ledger: { databaseUrl?: string; dataDir: string }, bodies: Buffer[]): Promise<{ deliveriesPerSecond: number; spansPerSecond: number }> {
  const db = await openDatabase({ databaseUrl: ledger.databaseUrl, dataDir: ledger.dataDir, poolSize: 4 });
  try {
    await migrate(db.db);
    const key = await createKey(db.db, { org: 'raw-ceiling', scope: 'ingest' });
    const row = await sql<{ org_id: string }>`SELECT org_id FROM api_keys WHERE id = ${key.id}`.execute(db.db);
    const orgId = row.rows[0]!.org_id;
    const requests: WriteRequest[] = bodies.map((body) => ({
      orgId,
      spans: prepareDelivery({ body, encoding: 'json', orgId, apiKeyId: key.id, storeContent: false }).spans,
    }));
    const spans = requests.reduce((n, r) => n + r.spans.length, 0);
    const perRequest = spans / requests.length;
    const writer = new LedgerWriter(db.bulkTransaction, { maxItems: Math.max(1, Math.round(ROWS_PER_INSERT / perRequest)), maxWaitMs: 0, maxInFlight: 1 });
    const started = performance.now();
    await Promise.all(requests.map((r) => writer.write(r)));
    const seconds = (performance.now() - started) / 1000;
    return { deliveriesPerSecond: requests.length / seconds, spansPerSecond: spans / seconds };
  } finally {
    await db.close();
  }
}
