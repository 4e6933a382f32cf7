import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWriter, type WriteRequest } from '../../src/ledger/ledger-writer.js';
import { decodeJson } from '../../src/otlp/decode-json.js';
import { stageSpans } from '../../src/ledger/copy-rows.js';
import { prepareSpans, type SpanRecord } from '../../src/spend/records.js';
import { openRouterDelivery } from '../fixtures/openrouter.js';
import { manyTracesBody } from '../fixtures/otlp-json.js';
import { generationCounts } from '../support/ledger-counts.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

let server: TestServer;
let org: { orgId: string; apiKeyId: string };

beforeAll(async () => {
  server = await startTestServer();
  const { id } = await server.key('acme');
  const [row] = await server.query<{ org_id: string }>(`SELECT org_id::text FROM api_keys WHERE id = '${id}'`);
  org = { orgId: row!.org_id, apiKeyId: id };
});
afterAll(() => server.stop());

function records(generationId: string): SpanRecord[] {
  const body = openRouterDelivery({ generationId, inputTokens: 1, outputTokens: 1, totalCost: 0.01, children: true });
  return prepareSpans(decodeJson(JSON.stringify(body)), false).records;
}

function request(generationId: string, edited = records(generationId)): WriteRequest {
  return { orgId: org.orgId, spans: stageSpans(org.orgId, org.apiKeyId, edited) };
}

describe('group commit', () => {
  it('writes concurrent requests together, each acknowledged once its batch committed', async () => {
    const batches: number[] = [];
    const writer = new LedgerWriter(server.ledger.bulkTransaction, { maxItems: 64, maxWaitMs: 20, maxInFlight: 1 }, { written: (_s, n) => batches.push(n) });
    await Promise.all(Array.from({ length: 40 }, (_, i) => writer.write(request(`gen-gc-${i}`))));
    expect(batches.reduce((a, b) => a + b, 0)).toBe(40);
    expect(batches.length).toBeLessThan(10);
    const [n] = await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM generations WHERE generation_id LIKE 'gen-gc-%'`);
    expect(n!.n).toBe('40');
  });

  it('when one request’s data breaks its batch, only that request fails', async () => {
    const writer = new LedgerWriter(server.ledger.bulkTransaction, { maxItems: 64, maxWaitMs: 50, maxInFlight: 1 });
    const poisoned = records('gen-poison');
    // Past every check of the decoder, a value the ledger's constraints refuse.
    (poisoned[0]!.usage as { status: string }).status = 'maybe';
    const poison = request('gen-poison', poisoned);
    const results = await Promise.allSettled([writer.write(request('gen-ok-1')), writer.write(poison), writer.write(request('gen-ok-2'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const stored = await server.query<{ generation_id: string }>(`SELECT generation_id FROM generations WHERE generation_id IN ('gen-ok-1', 'gen-ok-2', 'gen-poison') ORDER BY 1`);
    expect(stored.map((r) => r.generation_id)).toEqual(['gen-ok-1', 'gen-ok-2']);
    const [spans] = await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM spans WHERE resource->'attributes'->>'openrouter.trace.id' = 'gen-poison'`);
    expect(spans!.n).toBe('0');
  });

  it('within one batch, stores a repeated span once and counts a generation sent under two span ids once', async () => {
    const writer = new LedgerWriter(server.ledger.bulkTransaction, { maxItems: 64, maxWaitMs: 50, maxInFlight: 1 });
    const batches: Promise<void>[] = [];
    const first = request('gen-gc-dup');
    const again = request('gen-gc-dup');
    // The same request twice (a sender's retry racing the original) and the generation re-sent
    // under new span ids, all in one batch.
    batches.push(writer.write(first), writer.write({ ...first }), writer.write(again));
    await Promise.all(batches);
    expect(await generationCounts(server, 'gen-gc-dup')).toEqual({ spans: '6', generations: '1', usd: '0.01' });
  });

  it('counts a generation once when two concurrent batches carry it in different traces', async () => {
    const rewrites: string[] = [];
    // One request per batch, two batches in flight: the second meets the first's generation id
    // in the unique index (or, if the first committed already, in the ledger) and is rewritten.
    const writer = new LedgerWriter(server.ledger.bulkTransaction, { maxItems: 1, maxWaitMs: 0, maxInFlight: 2 }, { rewritten: (r) => rewrites.push(r) });
    await Promise.all([writer.write(request('gen-gc-race')), writer.write(request('gen-gc-race'))]);
    expect(await generationCounts(server, 'gen-gc-race')).toEqual({ spans: '6', generations: '1', usd: '0.01' });
    expect(rewrites).toEqual(['duplicate']);
  });

  it('writes a request touching 20,000 traces, more than Postgres holds locks for at once', async () => {
    const writer = new LedgerWriter(server.ledger.bulkTransaction, { maxItems: 1, maxWaitMs: 0, maxInFlight: 1 });
    await writer.write(request('gen-many', prepareSpans(decodeJson(JSON.stringify(manyTracesBody('gen-many', 20_000))), false).records));
    const [stored] = await server.query(`SELECT count(*)::text AS n, sum(cost_usd)::text AS usd FROM generations WHERE generation_id LIKE 'gen-many-%'`);
    expect(stored).toEqual({ n: '20000', usd: '20.000' });
  });

  it('sets backend_flush_after for its own transactions only, on Postgres', async () => {
    const flushAfter = async (query: (text: string) => Promise<{ backend_flush_after: string }[]>) => (await query('SHOW backend_flush_after'))[0]!.backend_flush_after;
    const outside = () => flushAfter((text) => server.query(text));
    const before = await outside();
    const inside = await server.ledger.bulkTransaction({ opening: 'SELECT 1', closing: 'SELECT 1' }, (tx) => flushAfter((text) => tx.query(text, [])));
    expect(inside).toBe(server.ledger.kind === 'postgres' ? '256kB' : before);
    // SET LOCAL: the connection goes back to the pool as it was.
    const after = await Promise.all(Array.from({ length: server.config.LEDGER_POOL_SIZE }, outside));
    expect(new Set(after)).toEqual(new Set([before]));
  });

  it('keeps text with tabs, line breaks, backslashes and multi-byte characters exactly as sent', async () => {
    const writer = new LedgerWriter(server.ledger.bulkTransaction, { maxItems: 64, maxWaitMs: 0, maxInFlight: 1 });
    const awkward = 'tab\there\\n\nnew\nline\r\nCRLF \\N \\ café 🚀 ∑ end\\';
    const edited = records('gen-gc-text');
    const root = edited[0]!;
    root.span.name = awkward;
    root.span.statusMessage = awkward;
    root.span.attributes['note'] = awkward;
    root.usage!.userId = awkward;
    await writer.write(request('gen-gc-text', edited));
    const [row] = await server.query<{ name: string; status_message: string; note: string; user_id: string }>(`
      SELECT s.name, s.status_message, s.attributes->>'note' AS note, u.user_id
      FROM spans s JOIN span_usage u USING (org_id, trace_id, span_id) WHERE u.generation_id = 'gen-gc-text'`);
    expect(row).toEqual({ name: awkward, status_message: awkward, note: awkward, user_id: awkward });
  });
});
