import type { Kysely } from 'kysely';
import { openDatabaseForCli } from '../src/ledger/database.js';
import type { DB } from '../src/ledger/schema.js';
import type { LedgerLocation } from './raw-ceiling.js';

/**
 * Runs `work` on the ledger as the command line reaches it (through a running embedded server's
 * socket, or on its own), and closes it however `work` ends.
 */
export async function onLedger<T>(ledger: LedgerLocation, work: (db: Kysely<DB>) => Promise<T>): Promise<T> {
  const admin = await openDatabaseForCli({ databaseUrl: ledger.databaseUrl, dataDir: ledger.dataDir, poolSize: 1 });
  try {
    return await work(admin.db);
  } finally {
    await admin.close();
  }
}
