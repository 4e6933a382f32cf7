import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { maintainEmbeddedLedger } from '../../src/ledger/embedded-maintenance.js';
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
          `SELECT attname FROM pg_stats WHERE tablename = 'span_usage' AND attname = 'started_at'`,
        );
        expect(analysed).toHaveLength(1);
      } finally {
        await server.stop();
      }
    } finally {
      await ledger.drop();
    }
  });

  it('freezes the whole database once its oldest unfrozen transaction id passes the aggressive-vacuum age', async () => {
    const server = await startTestServer();
    try {
      const { key } = await server.key('acme');
      for (let i = 0; i < 20; i++) expect((await post(server.url, manyTracesBody(`gen-${i}`, 1), { key })).status).toBe(200);
      const age = async () => Number((await server.query<{ age: number }>(`SELECT age(datfrozenxid) FROM pg_database WHERE datname = current_database()`))[0]!.age);
      const before = await age();
      expect(before).toBeGreaterThan(20);
      // The server's one session: these stand for a ledger 150 million transactions old.
      await server.query(`SET vacuum_freeze_table_age = 10; SET vacuum_freeze_min_age = 0`);
      const logged: object[] = [];
      await maintainEmbeddedLedger(server.ledger.db, { info: (fields) => logged.push(fields), error: (fields) => logged.push(fields) });
      await server.query(`RESET vacuum_freeze_table_age; RESET vacuum_freeze_min_age`);
      expect(logged).toContainEqual(expect.objectContaining({ table: '(all, freezing)' }));
      expect(await age()).toBeLessThan(5);
    } finally {
      await server.stop();
    }
  });
});
