import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { startServerProcess } from '../../bench/server-process.js';
import { openDatabaseForCli, openDatabaseForServer, type LedgerDatabase } from '../../src/ledger/database.js';
import { loadConfig } from '../../src/config.js';
import { lockPath } from '../../src/ledger/data-dir-lock.js';
import { socketPath } from '../../src/ledger/local-bridge.js';
import { startServer } from '../../src/server.js';
import { runEntry } from '../support/cli.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bridge-'));
const freshDirs: string[] = [];
afterAll(() => [dir, ...freshDirs].forEach((d) => rmSync(d, { recursive: true, force: true })));

function freshDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'bridge-'));
  freshDirs.push(d);
  return d;
}

/** The ledger, reached the way `kind` says, answers a query; then it is closed. */
async function expectReached(cli: LedgerDatabase, kind: LedgerDatabase['kind']): Promise<void> {
  try {
    expect(cli.kind).toBe(kind);
    expect((await sql<{ n: number }>`SELECT 1 AS n`.execute(cli.db)).rows).toEqual([{ n: 1 }]);
  } finally {
    await cli.close();
  }
}

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

  it('waits for a server still opening the ledger, and reaches it through the bridge', async () => {
    const fresh = freshDir();
    const starting = startServerProcess({ DATA_DIR: fresh }, { capture: true });
    // The server holds the ledger from before PGlite opens until it stops; the bridge answers only
    // once PGlite has opened.
    try {
      while (!existsSync(lockPath(fresh))) await new Promise((r) => setTimeout(r, 5));
      await expectReached(await openDatabaseForCli({ dataDir: fresh, poolSize: 1 }), 'bridge');
    } finally {
      await (await starting).stop();
    }
  }, 60_000);
});

/** A live process that never serves the ledger, standing for a command that has it open. */
async function otherHolder(dataDir: string): Promise<{ pid: number; letGo(): void; stop(): void }> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('spawn', resolve));
  const pid = child.pid!;
  writeFileSync(lockPath(dataDir), String(pid));
  return { pid, letGo: () => unlinkSync(lockPath(dataDir)), stop: () => child.kill() };
}

describe('the embedded ledger held by another process', () => {
  it('opens the ledger itself once its holder lets go, and names a holder that never does', async () => {
    const held = freshDir();
    const holder = await otherHolder(held);
    try {
      await expect(openDatabaseForCli({ dataDir: held, poolSize: 1, waitMs: 300 })).rejects.toThrow(
        `the embedded ledger in ${held} is in use by process ${holder.pid}, which neither served it nor let it go within 0.3 s`,
      );
      const opening = openDatabaseForCli({ dataDir: held, poolSize: 1, waitMs: 30_000 });
      setTimeout(holder.letGo, 300);
      await expectReached(await opening, 'pglite');
    } finally {
      holder.stop();
    }
  }, 60_000);

  it('starts a server once a command holding the ledger lets go, and refuses a second server at once', async () => {
    const held = freshDir();
    const holder = await otherHolder(held);
    let waitedFor: number | null = null;
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', DATA_DIR: held });
    const server = await startServer(config, {
      onWait: (pid) => {
        waitedFor = pid;
        holder.letGo();
      },
    }).finally(holder.stop);
    try {
      expect(waitedFor).toBe(holder.pid);
      expect(server.ledger.kind).toBe('pglite');
      const second = await runEntry('src/main.ts', [], { DATA_DIR: held, PORT: '0' });
      expect(second).toMatchObject({
        code: 1,
        stderr: `ai-spend-ledger failed to start: the embedded ledger in ${held} is served by another server (process ${process.pid})\n`,
      });
    } finally {
      await server.close();
    }
  }, 60_000);

  it("takes over a lock left under its own pid by an earlier process (a container's server is always pid 1)", async () => {
    const stale = freshDir();
    writeFileSync(lockPath(stale), String(process.pid));
    let waited = false;
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', DATA_DIR: stale });
    const server = await startServer(config, { onWait: () => (waited = true) });
    try {
      expect(waited).toBe(false);
      expect(server.ledger.kind).toBe('pglite');
      // Now this process does hold it: a second opening here is refused, not let in beside it.
      await expect(openDatabaseForServer({ dataDir: stale, poolSize: 1 })).rejects.toThrow(
        `the embedded ledger in ${stale} is served by another server (process ${process.pid})`,
      );
    } finally {
      await server.close();
    }
  }, 60_000);
});
