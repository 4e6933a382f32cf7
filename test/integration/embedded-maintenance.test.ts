import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { EmbeddedMaintenance } from '../../src/ledger/embedded-maintenance.js';
import { manyTracesBody } from '../fixtures/otlp-json.js';
import { post } from '../support/http.js';
import { createTestLedger, startTestServer, type TestServer } from '../support/test-server.js';

interface TableStats {
  relname: string;
  reltuples: number;
}

const tableStats = (server: TestServer) =>
  server.query<TableStats>(`SELECT relname, reltuples FROM pg_class WHERE relname IN ('spans', 'span_usage') ORDER BY relname`);

/** The planner's estimate of one organisation's generations: what a report is planned for. */
async function estimatedGenerations(server: TestServer): Promise<number> {
  const [plan] = await server.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT * FROM span_usage WHERE org_id = (SELECT min(id) FROM orgs)`);
  return Number(/rows=(\d+)/.exec(plan!['QUERY PLAN'])![1]);
}

/** A fresh server with an ingest key, stopped after `body`. */
async function withServer(body: (server: TestServer, key: string) => Promise<void>): Promise<void> {
  const server = await startTestServer();
  try {
    const { key } = await server.key('acme');
    await body(server, key);
  } finally {
    await server.stop();
  }
}

/** A maintenance log that keeps each line's fields in `logged`. */
const logInto = (logged: object[]) => ({ info: (fields: object) => void logged.push(fields), error: (fields: object) => void logged.push(fields) });

// Postgres has autovacuum; PGlite, one process in single-user mode, has none.
describe.runIf(inject('databaseUrl') === '')('the embedded ledger does autovacuum’s job', () => {
  it('a server analyses and vacuums, when it starts, the tables that grew since they last were', async () => {
    const ledger = await createTestLedger();
    try {
      let server = await startTestServer({}, ledger);
      const { key } = await server.key('acme');
      for (let i = 0; i < 4; i++) expect((await post(server.url, manyTracesBody(`gen-${i}`, 250), { key })).status).toBe(200);
      // Nothing has analysed them since they were filled, as between two of the server's passes.
      expect(await tableStats(server)).toEqual([
        { relname: 'span_usage', reltuples: -1 },
        { relname: 'spans', reltuples: -1 },
      ]);
      expect(await estimatedGenerations(server)).toBeLessThan(100);
      await server.stop();

      server = await startTestServer({}, ledger);
      try {
        let stats = await tableStats(server);
        for (let waited = 0; stats.some((t) => t.reltuples !== 1000) && waited < 20_000; waited += 100) {
          await delay(100);
          stats = await tableStats(server);
        }
        expect(stats).toEqual([
          { relname: 'span_usage', reltuples: 1000 },
          { relname: 'spans', reltuples: 1000 },
        ]);
        expect(await estimatedGenerations(server)).toBe(1000);
        const analysed = await server.query<{ attname: string }>(
          `SELECT attname FROM pg_stats WHERE tablename = 'span_usage' AND attname IN ('started_at', 'metadata')`,
        );
        // metadata is not sampled (migrations/011_metadata_unsampled.sql): dear, and no plan needs it.
        expect(analysed).toEqual([{ attname: 'started_at' }]);
      } finally {
        await server.stop();
      }
    } finally {
      await ledger.drop();
    }
  });

  it('vacuums a table grown by the page limit though not by a fifth, and analyses one whose rows changed by a fifth, at most once a while', () =>
    withServer(async (server, key) => {
      const send = async (prefix: string, traces: number) =>
        expect((await post(server.url, manyTracesBody(prefix, traces), { key })).status).toBe(200);
      const logged: { table?: string; vacuumed?: boolean; analysed?: boolean }[] = [];
      const log = logInto(logged);
      const pass = async (maintenance: EmbeddedMaintenance) => {
        logged.length = 0;
        await maintenance.pass();
        return logged.filter((l) => l.table === 'spans' || l.table === 'span_usage').map(({ table, vacuumed, analysed }) => ({ table, vacuumed, analysed }));
      };
      const byDefault = new EmbeddedMaintenance(server.ledger.db, null, log, { analyseEveryMs: 0 });
      const pageLimitOfOne = new EmbeddedMaintenance(server.ledger.db, null, log, { mostPagesUnvacuumed: 1, analyseEveryMs: 0 });
      const pageLimitOfAMillion = new EmbeddedMaintenance(server.ledger.db, null, log, { mostPagesUnvacuumed: 1_000_000, analyseEveryMs: 0 });
      for (let i = 0; i < 4; i++) await send(`gen-${i}`, 250);
      await pass(byDefault);
      expect(await tableStats(server)).toEqual([
        { relname: 'span_usage', reltuples: 1000 },
        { relname: 'spans', reltuples: 1000 },
      ]);
      expect(await pass(byDefault)).toEqual([]);

      // A tenth more: under a fifth, so only a limit of pages (here one) calls for a vacuum.
      await send('more', 100);
      expect(await pass(byDefault)).toEqual([]);
      expect(await pass(pageLimitOfOne)).toEqual([
        { table: 'span_usage', vacuumed: true, analysed: false },
        { table: 'spans', vacuumed: true, analysed: false },
      ]);

      // 300 rows changed since the last analysis: more than autovacuum's 50 and a fifth of the
      // 1,100 counted by the last vacuum. Spans grew by less than a fifth: not vacuumed.
      await send('yet-more', 200);
      expect(await pass(pageLimitOfAMillion)).toEqual([{ table: 'span_usage', vacuumed: false, analysed: true }]);
      expect(await pass(pageLimitOfAMillion)).toEqual([]);

      // At most one analysis of a table a while: due again, it waits out the while.
      const analysed = async (maintenance: EmbeddedMaintenance) => (await pass(maintenance)).filter((l) => l.analysed).map((l) => l.table);
      const hourly = new EmbeddedMaintenance(server.ledger.db, null, log, { analyseEveryMs: 3_600_000 });
      await send('hour-1', 400);
      expect(await analysed(hourly)).toEqual(['span_usage']);
      await send('hour-2', 500);
      expect(await analysed(hourly)).toEqual([]);
      expect(await analysed(pageLimitOfAMillion)).toEqual(['span_usage']);
    }));

  it('leaves a table of a few rows without statistics: the planner would take them for the table for good', () =>
    withServer(async (server, key) => {
      const logged: { table?: string }[] = [];
      const maintenance = new EmbeddedMaintenance(server.ledger.db, null, logInto(logged), { analyseEveryMs: 0 });
      expect((await post(server.url, manyTracesBody('gen-first', 1), { key })).status).toBe(200);
      await maintenance.pass();
      expect(logged.filter((l) => l.table === 'span_usage')).toEqual([]);
      expect(await server.query(`SELECT attname FROM pg_stats WHERE tablename = 'span_usage'`)).toEqual([]);
      // A few hundred generations later, it is analysed.
      expect((await post(server.url, manyTracesBody('gen-more', 500), { key })).status).toBe(200);
      await maintenance.pass();
      expect(logged).toContainEqual(expect.objectContaining({ table: 'span_usage', analysed: true }));
    }));

  it('freezes the whole database once its oldest unfrozen transaction id passes the aggressive-vacuum age', () =>
    withServer(async (server, key) => {
      for (let i = 0; i < 20; i++) expect((await post(server.url, manyTracesBody(`gen-${i}`, 1), { key })).status).toBe(200);
      const age = async () => Number((await server.query<{ age: number }>(`SELECT age(datfrozenxid) FROM pg_database WHERE datname = current_database()`))[0]!.age);
      const before = await age();
      expect(before).toBeGreaterThan(20);
      // The server's one session: these stand for a ledger 150 million transactions old.
      await server.query(`SET vacuum_freeze_table_age = 10; SET vacuum_freeze_min_age = 0`);
      const logged: object[] = [];
      await new EmbeddedMaintenance(server.ledger.db, null, logInto(logged)).pass();
      await server.query(`RESET vacuum_freeze_table_age; RESET vacuum_freeze_min_age`);
      expect(logged).toContainEqual(expect.objectContaining({ table: '(all, freezing)' }));
      expect(await age()).toBeLessThan(5);
    }));
});
