import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { lockKey } from '../../src/ledger/batch-sql.js';
import { stageSpans } from '../../src/ledger/copy-rows.js';
import { COPY_DATA_MAX } from '../../src/ledger/pipelined-copy.js';
import { openDatabase, type OwnLedgerDatabase } from '../../src/ledger/database.js';
import { LedgerWriter, type WriteRequest } from '../../src/ledger/ledger-writer.js';
import { decodeJson } from '../../src/otlp/decode-json.js';
import { prepareSpans } from '../../src/spend/records.js';
import { openRouterDelivery } from '../fixtures/openrouter.js';
import { manyTracesBody } from '../fixtures/otlp-json.js';
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

  const staged = (body: object, storeContent = false): WriteRequest => ({
    orgId: org.orgId,
    spans: stageSpans(org.orgId, org.apiKeyId, prepareSpans(decodeJson(JSON.stringify(body)), storeContent).records),
  });
  const request = (generationId: string): WriteRequest =>
    staged(openRouterDelivery({ generationId, inputTokens: 3, outputTokens: 2, totalCost: 0.01, children: true }));

  it('sends a batch of fresh spans in one round trip: one query string, every COPY’s rows before any reply', async () => {
    const writer = new LedgerWriter(viaProxy.bulkTransaction, { maxItems: 8, maxWaitMs: 20, maxInFlight: 1 });
    // The pool's connection is opened first: opening one needs the server's replies.
    await writer.write(request('gen-rt-0'));
    const before = { queries: proxy.queries, copyEnds: proxy.sent.get('c') ?? 0 };
    const generations = ['gen-rt-1', 'gen-rt-2', 'gen-rt-3'];
    proxy.holdReplies();
    let written: Promise<unknown> = Promise.resolve();
    try {
      written = Promise.all(generations.map((g) => writer.write(request(g))));
      // Both COPYs (spans, usage) end while the server's replies are held: nothing waits for them.
      await vi.waitFor(() => expect((proxy.sent.get('c') ?? 0) - before.copyEnds).toBe(2), { timeout: 5_000, interval: 10 });
    } finally {
      proxy.releaseReplies();
    }
    await written;
    // BEGIN, SET LOCAL, the locks, both COPYs, the roll-ups and COMMIT: one string.
    expect(proxy.queries - before.queries).toBe(1);
    for (const g of generations) expect(await generationCounts(server, g)).toEqual({ spans: '3', generations: '1', usd: '0.01' });
  });

  it('drops the rows sent behind a statement that failed, writes the batch again, and goes on', async () => {
    const reasons: string[] = [];
    const writer = new LedgerWriter(
      viaProxy.bulkTransaction,
      { maxItems: 8, maxWaitMs: 20, maxInFlight: 1 },
      { rewritten: (reason) => reasons.push(reason) },
    );
    const first = request('gen-rt-again');
    await writer.write(first);
    // The same generation in another trace (each request is a trace of its own): the spans' COPY
    // succeeds, the usage's COPY fails.
    await Promise.all([writer.write(request('gen-rt-again')), writer.write(request('gen-rt-fresh-1'))]);
    // The same delivery again: its spans' COPY fails, with the usage rows already sent behind it.
    await Promise.all([writer.write(first), writer.write(request('gen-rt-fresh-2'))]);
    expect(reasons).toEqual(['duplicate', 'duplicate']);
    // Both traces' spans, the generation once.
    expect(await generationCounts(server, 'gen-rt-again')).toEqual({ spans: '6', generations: '1', usd: '0.01' });
    for (const g of ['gen-rt-fresh-1', 'gen-rt-fresh-2']) expect(await generationCounts(server, g)).toEqual({ spans: '3', generations: '1', usd: '0.01' });
  });

  it('sends rows of more than one CopyData message’s worth in several, intact', async () => {
    const writer = new LedgerWriter(viaProxy.bulkTransaction, { maxItems: 8, maxWaitMs: 0, maxInFlight: 1 });
    const body = openRouterDelivery({ generationId: 'gen-rt-large', inputTokens: 3, outputTokens: 2, totalCost: 0.01, content: true });
    const root = body.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    const prompt = 'ab\tc\\d\n'.repeat(Math.ceil((2.5 * COPY_DATA_MAX) / 8));
    root.attributes.find((a) => a.key === 'gen_ai.prompt')!.value = { stringValue: prompt };
    const before = proxy.sent.get('d') ?? 0;
    await writer.write(staged(body, true));
    // Spans and usage in one message each, the content (escaped, so larger still) in at least three.
    expect((proxy.sent.get('d') ?? 0) - before).toBeGreaterThanOrEqual(5);
    const [stored] = await server.query<{ md5: string; length: number }>(
      `SELECT md5(attributes->>'gen_ai.prompt'), length(attributes->>'gen_ai.prompt') FROM span_content WHERE trace_id = '${root.traceId}' AND span_id = '${root.spanId}'`,
    );
    expect(stored).toEqual({ md5: createHash('md5').update(prompt).digest('hex'), length: prompt.length });
    expect(await generationCounts(server, 'gen-rt-large')).toEqual({ spans: '1', generations: '1', usd: '0.01' });
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
      expect(waiters[0]!.query).toMatch(/^BEGIN; .*CALL lock_traces\(.*\); COPY spans .*; COMMIT$/s);
      expect(settled).toBe(false);
      await holder.query('COMMIT');
      await written;
      expect(await generationCounts(server, 'gen-rt-locked')).toEqual({ spans: '3', generations: '1', usd: '0.01' });
    } finally {
      await holder.end();
    }
  });

  it('a request touching more than 1,000 traces takes the all-traces lock alone: it waits for the batches in flight', async () => {
    const holder = new pg.Client({ connectionString: server.ledgerEnv.DATABASE_URL });
    await holder.connect();
    try {
      // What every batch of up to 1,000 traces takes before its trace locks (migrations/008).
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock_shared(1001, 8)');
      const writer = new LedgerWriter(viaProxy.bulkTransaction, { maxItems: 1, maxWaitMs: 0, maxInFlight: 1 });
      let settled = false;
      const written = writer.write(staged(manyTracesBody('gen-rt-many', 1_001))).finally(() => (settled = true));
      const waiting = () =>
        server.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event = 'advisory' AND application_name = '${APPLICATION}'`);
      for (let i = 0; i < 100 && (await waiting()).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await waiting()).toHaveLength(1);
      expect(settled).toBe(false);
      await holder.query('COMMIT');
      await written;
      const [stored] = await server.query(`SELECT count(*)::text AS n FROM generations WHERE generation_id LIKE 'gen-rt-many-%'`);
      expect(stored).toEqual({ n: '1001' });
    } finally {
      await holder.end();
    }
  });
});
