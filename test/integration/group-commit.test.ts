import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWriter, type WriteRequest } from '../../src/ledger/ledger-writer.js';
import { decodeJson } from '../../src/otlp/decode-json.js';
import { prepareSpans } from '../../src/spend/records.js';
import { openRouterDelivery } from '../fixtures/openrouter.js';
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

function request(generationId: string): WriteRequest {
  const body = openRouterDelivery({ generationId, inputTokens: 1, outputTokens: 1, totalCost: 0.01, children: true });
  return { ...org, records: prepareSpans(decodeJson(JSON.stringify(body)), false).records };
}

describe('group commit', () => {
  it('writes concurrent requests together, each acknowledged once its batch committed', async () => {
    const batches: number[] = [];
    const writer = new LedgerWriter(server.ledger.db, { maxItems: 64, maxWaitMs: 20, maxInFlight: 1 }, (_s, n) => batches.push(n));
    await Promise.all(Array.from({ length: 40 }, (_, i) => writer.write(request(`gen-gc-${i}`))));
    expect(batches.reduce((a, b) => a + b, 0)).toBe(40);
    expect(batches.length).toBeLessThan(10);
    const [n] = await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM generations WHERE generation_id LIKE 'gen-gc-%'`);
    expect(n!.n).toBe('40');
  });

  it('when one request’s data breaks its batch, only that request fails', async () => {
    const writer = new LedgerWriter(server.ledger.db, { maxItems: 64, maxWaitMs: 50, maxInFlight: 1 });
    const poison = request('gen-poison');
    // Past every check of the decoder, a value the ledger's constraints refuse.
    (poison.records[0]!.usage as { status: string }).status = 'maybe';
    const results = await Promise.allSettled([writer.write(request('gen-ok-1')), writer.write(poison), writer.write(request('gen-ok-2'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const stored = await server.query<{ generation_id: string }>(`SELECT generation_id FROM generations WHERE generation_id IN ('gen-ok-1', 'gen-ok-2', 'gen-poison') ORDER BY 1`);
    expect(stored.map((r) => r.generation_id)).toEqual(['gen-ok-1', 'gen-ok-2']);
    const [spans] = await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM spans WHERE resource->'attributes'->>'openrouter.trace.id' = 'gen-poison'`);
    expect(spans!.n).toBe('0');
  });
});
