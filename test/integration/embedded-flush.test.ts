import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { pgliteBulkTransaction } from '../../src/ledger/bulk-transaction.js';
import { EmbeddedFlush, flushToDisk } from '../../src/ledger/embedded-flush.js';
import { EmbeddedMaintenance } from '../../src/ledger/embedded-maintenance.js';
import { pgliteDialect, sessionTurns } from '../../src/ledger/pglite-dialect.js';
import { bridgeDialect, serveBridge } from '../../src/ledger/local-bridge.js';
import type { DB } from '../../src/ledger/schema.js';

// The disk itself cannot be watched from a test: the flushes are recorded on their way to it.
describe.runIf(inject('databaseUrl') === '')('the embedded ledger flushes to the disk what Postgres would have', () => {
  let dir: string;
  let client: PGlite;
  let flushed: string[];
  let flushing: Promise<void> | null;
  let flush: EmbeddedFlush;
  const turn = sessionTurns();

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ledger-flush-'));
    client = await PGlite.create({ dataDir: dir });
    await client.exec('CREATE TABLE t (n int, pad text)');
    flushed = [];
    flushing = null;
    flush = new EmbeddedFlush(dir, async (file, isDirectory) => {
      await flushing;
      flushed.push(path.relative(dir, file) || '.');
      await flushToDisk(file, isDirectory);
    });
  });
  afterEach(async () => {
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const segment = async () => (await client.query<{ wal: string }>('SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS wal')).rows[0]!.wal;
  const write = () => pgliteBulkTransaction(client, turn, null);
  const writeFlushed = () => pgliteBulkTransaction(client, turn, flush);
  const insert = (rows: number, pad = 0) => ({ query: `INSERT INTO t SELECT n, repeat('x', ${pad}) FROM generate_series(1, ${rows}) AS n`, rows });

  it("acknowledges a writer's commit only once its WAL segment is flushed, the session lent to others meanwhile", async () => {
    const statements = { opening: 'SELECT 1', closing: 'SELECT 1' };
    await writeFlushed()(statements, (tx) => tx.query(insert(10).query, []));
    expect(flushed).toContain(`pg_wal/${await segment()}`);
    expect(flushed).toContain('pg_wal');

    flushed = [];
    let release!: () => void;
    flushing = new Promise((resolve) => (release = resolve));
    let acknowledged = false;
    const committing = writeFlushed()(statements, (tx) => tx.query(insert(10).query, [])).then(() => (acknowledged = true));
    // The session serves the next transaction while that commit waits for its flush, unacknowledged.
    await write()(statements, (tx) => tx.query(insert(1).query, []));
    await delay(50);
    expect((await client.query<{ n: string }>('SELECT count(*)::text AS n FROM t')).rows[0]!.n).toBe('21');
    expect(acknowledged).toBe(false);
    release();
    await committing;
    expect(flushed).toEqual([`pg_wal/${await segment()}`]);
  });

  it('flushes every WAL segment when a commit moved to another', async () => {
    const statements = { opening: 'SELECT 1', closing: 'SELECT 1' };
    await writeFlushed()(statements, (tx) => tx.query(insert(10).query, []));
    const first = await segment();
    flushed = [];
    // About 24 MB of WAL: more than a 16 MB segment.
    await writeFlushed()(statements, (tx) => tx.query(insert(12_000, 2_000).query, []));
    const now = await segment();
    expect(now).not.toBe(first);
    expect(flushed).toEqual(expect.arrayContaining([`pg_wal/${first}`, `pg_wal/${now}`, 'pg_wal']));
  });

  it('checkpoints once enough WAL is written (PGlite does only when it closes), and flushes every file after', async () => {
    const db = new Kysely<DB>({ dialect: pgliteDialect(client, turn) });
    const logged: { msg: string; fields: object }[] = [];
    const log = { info: (fields: object, msg: string) => logged.push({ msg, fields }), error: (fields: object, msg: string) => logged.push({ msg, fields }) };
    const redo = async () => (await client.query<{ redo: string }>('SELECT redo_lsn::text AS redo FROM pg_control_checkpoint()')).rows[0]!.redo;
    await client.exec(insert(1_000, 100).query);
    // PGlite makes its ledger in a directory holding other things too: those are not flushed.
    mkdirSync(path.join(dir, 'notes'));
    writeFileSync(path.join(dir, 'notes', 'todo.txt'), 'x');
    writeFileSync(path.join(dir, 'readme.txt'), 'x');
    const before = await redo();

    await new EmbeddedMaintenance(db, flush, log, { checkpointWalBytes: 1024 * 1024 * 1024 }).pass();
    expect(await redo()).toBe(before);
    expect(logged.map((l) => l.msg)).not.toContain('embedded ledger checkpointed');

    flushed = [];
    await new EmbeddedMaintenance(db, flush, log, { checkpointWalBytes: 1 }).pass();
    expect(await redo()).not.toBe(before);
    expect(logged.map((l) => l.msg)).toContain('embedded ledger checkpointed');
    const table = (await client.query<{ file: string }>(`SELECT pg_relation_filepath('t') AS file`)).rows[0]!.file;
    expect(flushed).toEqual(expect.arrayContaining([table, 'global/pg_control', `pg_wal/${await segment()}`, 'base', 'PG_VERSION', 'postgresql.conf', '.']));
    expect(flushed.filter((f) => /notes|readme/.test(f))).toEqual([]);
  });

  it('answers what the command line commits through the bridge (a key revoked) only once its WAL is flushed; reads flush nothing', async () => {
    const db = new Kysely<DB>({ dialect: pgliteDialect(client, turn) });
    const stopBridge = await serveBridge(db, dir, flush);
    const cli = new Kysely<{ t: { n: number; pad: string } }>({ dialect: bridgeDialect(dir) });
    try {
      // The first statement flushes what the table's making left unflushed; a read after, nothing.
      await cli.selectFrom('t').selectAll().execute();
      flushed = [];
      await cli.selectFrom('t').selectAll().execute();
      expect(flushed).toEqual([]);

      let release!: () => void;
      flushing = new Promise((resolve) => (release = resolve));
      let answered = false;
      const inserting = cli.insertInto('t').values({ n: 1, pad: '' }).execute().then(() => (answered = true));
      await delay(100);
      expect(answered).toBe(false);
      release();
      await inserting;
      expect(flushed).toContain(`pg_wal/${await segment()}`);

      // In a transaction, once: at its COMMIT.
      flushed = [];
      await cli.transaction().execute(async (tx) => {
        await tx.insertInto('t').values({ n: 2, pad: '' }).execute();
        await tx.insertInto('t').values({ n: 3, pad: '' }).execute();
        expect(flushed).toEqual([]);
      });
      expect(flushed).toEqual([`pg_wal/${await segment()}`]);
    } finally {
      await cli.destroy();
      await stopBridge();
    }
  });
});
