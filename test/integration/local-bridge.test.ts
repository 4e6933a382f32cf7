import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { startServerProcess } from '../../bench/server-process.js';
import { openDatabaseForCli } from '../../src/ledger/database.js';
import { socketPath } from '../../src/ledger/local-bridge.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bridge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The bridge exists only for the embedded ledger, so this runs on PGlite whatever the ledger under test. */
describe('the command line through the local bridge', () => {
  it("rolls back a transaction its command line left open: the server's next commit does not take it", async () => {
    const server = await startServerProcess({ DATA_DIR: dir }, { capture: true });
    try {
      // A command line killed inside its transaction: it began, wrote, and its socket closed.
      const socket = net.connect(socketPath(dir));
      await new Promise((resolve) => socket.once('connect', resolve));
      let answers = '';
      socket.on('data', (c: Buffer) => (answers += c.toString('utf8')));
      socket.write(`${JSON.stringify({ sql: 'BEGIN', parameters: [] })}\n`);
      socket.write(`${JSON.stringify({ sql: 'INSERT INTO orgs (slug) VALUES ($1)', parameters: ['half-done'] })}\n`);
      while (answers.split('\n').length < 3) await new Promise((r) => setTimeout(r, 10));
      expect(answers).not.toContain('error');
      socket.destroy();

      const cli = await openDatabaseForCli({ dataDir: dir, poolSize: 1 });
      try {
        // The session's next user, and whatever it commits, must not see the abandoned write.
        await cli.db.transaction().execute(async (trx) => {
          await sql`INSERT INTO orgs (slug) VALUES ('next-user')`.execute(trx);
        });
        const orgs = await sql<{ slug: string }>`SELECT slug FROM orgs WHERE slug IN ('half-done', 'next-user') ORDER BY slug`.execute(cli.db);
        expect(orgs.rows.map((r) => r.slug)).toEqual(['next-user']);
      } finally {
        await cli.close();
      }
    } finally {
      await server.stop();
    }
  }, 60_000);

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
