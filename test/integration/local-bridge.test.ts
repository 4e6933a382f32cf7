import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { startServerProcess } from '../../bench/server-process.js';
import { openDatabaseForCli } from '../../src/ledger/database.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bridge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The bridge exists only for the embedded ledger, so this runs on PGlite whatever the ledger under test. */
describe('the command line through the local bridge', () => {
  it('fails a query with the reason when the server has gone, instead of waiting for ever', async () => {
    const server = await startServerProcess({ DATA_DIR: dir }, { capture: true });
    const cli = await openDatabaseForCli({ dataDir: dir, poolSize: 1 });
    try {
      expect(cli.kind).toBe('bridge');
      const outcome = cli.db.transaction().execute(async (trx) => {
        expect((await sql<{ n: number }>`SELECT 1 AS n`.execute(trx)).rows).toEqual([{ n: 1 }]);
        process.kill(server.pid, 'SIGKILL');
        await server.exited;
        // Long enough for the bridge socket's close to arrive before the next query is sent.
        await new Promise((r) => setTimeout(r, 200));
        await sql`SELECT 2`.execute(trx);
      });
      const stillWaiting = new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5_000));
      await expect(Promise.race([outcome, stillWaiting])).rejects.toThrow('the ledger server closed the connection');
    } finally {
      await cli.close();
      await server.stop();
    }
  }, 60_000);
});
