import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lockKey } from '../../src/ledger/batch-sql.js';
import { stageSpans } from '../../src/ledger/copy-rows.js';
import { openDatabase, type OwnLedgerDatabase } from '../../src/ledger/database.js';
import { LedgerWriter, type WriteRequest } from '../../src/ledger/ledger-writer.js';
import { decodeJson } from '../../src/otlp/decode-json.js';
import { prepareSpans } from '../../src/spend/records.js';
import { openRouterDelivery } from '../fixtures/openrouter.js';
import { generationCounts } from '../support/ledger-counts.js';
import { proxyInFrontOf, type TcpProxy } from '../support/tcp-proxy.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const APPLICATION = 'batch-round-trips-test';

// Round trips are a Postgres server's; PGlite runs in the process.
describe.runIf(inject('databaseUrl') !== '')('a batch’s transaction on Postgres', () => {
  let server: TestServer;
  let proxy: TcpProxy;
  let viaProxy: OwnLedgerDatabase;
  let org: { orgId: string; apiKeyId: string };

  beforeAll(async () => {
    server = await startTestServer();
    let url: URL;
    ({ proxy, url } = await proxyInFrontOf(server.ledgerEnv.DATABASE_URL!));
    // Other test files' servers wait on advisory locks too (migrations, their own traces).
    url.searchParams.set('application_name', APPLICATION);
    viaProxy = await openDatabase({ databaseUrl: url.toString(), dataDir: '', poolSize: 2, writeFlushAfterKb: 256 });
    const { id } = await server.key('acme');
    const [row] = await server.query<{ org_id: string }>(`SELECT org_id::text FROM api_keys WHERE id = '${id}'`);
    org = { orgId: row!.org_id, apiKeyId: id };
  });
  afterAll(async () => {
    await viaProxy.close();
    await proxy.stop();
    await server.stop();
  });

  const request = (generationId: string): WriteRequest => {
    const body = openRouterDelivery({ generationId, inputTokens: 3, outputTokens: 2, totalCost: 0.01, children: true });
    return { orgId: org.orgId, spans: stageSpans(org.orgId, org.apiKeyId, prepareSpans(decodeJson(JSON.stringify(body)), false).records) };
  };

  it('takes three round trips for fresh spans: BEGIN and the trace locks travel with the first COPY', async () => {
    const writer = new LedgerWriter(viaProxy.bulkTransaction, { maxItems: 8, maxWaitMs: 20, maxInFlight: 1 });
    const before = proxy.queries;
    await Promise.all(['gen-rt-1', 'gen-rt-2', 'gen-rt-3'].map((g) => writer.write(request(g))));
    // COPY of the spans (with BEGIN, SET LOCAL and the locks), COPY of their usage, roll-ups with COMMIT.
    expect(proxy.queries - before).toBe(3);
    for (const g of ['gen-rt-1', 'gen-rt-2', 'gen-rt-3']) expect(await generationCounts(server, g)).toEqual({ spans: '3', generations: '1', usd: '0.01' });
  });

  it('holds a touched trace’s lock before it writes a row, and waits while another transaction holds it', async () => {
    const pending = request('gen-rt-locked');
    const holder = new pg.Client({ connectionString: server.ledgerEnv.DATABASE_URL });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1)', [lockKey(org.orgId, pending.spans[0]!.traceId).toString()]);
      const writer = new LedgerWriter(viaProxy.bulkTransaction, { maxItems: 8, maxWaitMs: 0, maxInFlight: 1 });
      let settled = false;
      const written = writer.write(pending).finally(() => (settled = true));
      // Read outside the holder's transaction: within one, Postgres keeps its first reading of
      // pg_stat_activity's queries (though not of their waits) to the transaction's end.
      const waiting = () =>
        server.query<{ query: string }>(
          `SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND application_name = '${APPLICATION}'`,
        );
      let waiters = await waiting();
      for (let i = 0; i < 100 && waiters.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        waiters = await waiting();
      }
      expect(waiters).toHaveLength(1);
      expect(waiters[0]!.query).toMatch(/^BEGIN; .*CALL lock_traces\(.*\); COPY spans /s);
      expect(settled).toBe(false);
      await holder.query('COMMIT');
      await written;
      expect(await generationCounts(server, 'gen-rt-locked')).toEqual({ spans: '3', generations: '1', usd: '0.01' });
    } finally {
      await holder.end();
    }
  });
});
