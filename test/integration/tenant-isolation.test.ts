import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRouterDelivery } from '../fixtures/openrouter.js';
import { post } from '../support/http.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

let server: TestServer;
const keys: Record<string, { ingest: string; read: string }> = {};
const INGEST_PATHS = ['/developer/v1/ai-usage/openrouter/v1/traces', '/developer/v1/ai-usage/openrouter', '/v1/traces'];
const READ_PATHS = ['/developer/v1/ai-usage/spend?last=90d', '/developer/v1/ai-usage/spend?last=90d&format=csv', '/developer/v1/ai-usage/export?format=csv&last=90d', '/developer/v1/ai-usage/export?format=focus&last=90d'];

beforeAll(async () => {
  server = await startTestServer();
  for (const org of ['alpha', 'beta']) {
    keys[org] = { ingest: (await server.key(org)).key, read: (await server.key(org, 'read')).key };
  }
});
afterAll(() => server.stop());

describe('tenant isolation', () => {
  it('a key writes only into its own organisation, on every ingest path, even for the same trace and generation ids', async () => {
    const start = new Date(Date.now() - 3_600_000).toISOString();
    for (const path of INGEST_PATHS) {
      // The very same delivery (same trace, span and generation ids) from both organisations.
      const delivery = openRouterDelivery({ generationId: `gen-shared${path.length}`, start, inputTokens: 1, outputTokens: 1, totalCost: 1 });
      expect((await post(server.url, delivery, { key: keys.alpha!.ingest, path })).status).toBe(200);
      expect((await post(server.url, delivery, { key: keys.beta!.ingest, path })).status).toBe(200);
    }
    const rows = await server.query<{ org: string; n: string }>(`SELECT org, count(*)::text AS n FROM generations GROUP BY org ORDER BY org`);
    expect(rows).toEqual([{ org: 'alpha', n: '3' }, { org: 'beta', n: '3' }]);
  });

  it('a read key sees only its own organisation on every read path, and cannot ask for another', async () => {
    const alphaOnly = openRouterDelivery({ generationId: 'gen-alpha-secret', start: new Date(Date.now() - 3_600_000).toISOString(), inputTokens: 1, outputTokens: 1, totalCost: 4242.4242, userId: 'alpha-user' });
    expect((await post(server.url, alphaOnly, { key: keys.alpha!.ingest })).status).toBe(200);
    for (const path of READ_PATHS) {
      const asBeta = await fetch(server.url + path, { headers: { authorization: `Bearer ${keys.beta!.read}` } });
      expect(asBeta.status, path).toBe(200);
      const text = await asBeta.text();
      expect(text, path).not.toContain('alpha');
      expect(text, path).not.toContain('4242.4242');
      const asking = await fetch(`${server.url + path}&org=alpha`, { headers: { authorization: `Bearer ${keys.beta!.read}` } });
      expect(asking.status, path).toBe(403);
      const withIngestKey = await fetch(server.url + path, { headers: { authorization: `Bearer ${keys.alpha!.ingest}` } });
      expect(withIngestKey.status, path).toBe(403);
    }
    for (const path of INGEST_PATHS) {
      expect((await post(server.url, alphaOnly, { key: keys.beta!.read, path })).status).toBe(403);
    }
    const alpha = (await (await fetch(`${server.url}/developer/v1/ai-usage/spend?last=90d`, { headers: { authorization: `Bearer ${keys.alpha!.read}` } })).json()) as { totals: { cost_usd: string } };
    expect(alpha.totals.cost_usd).toBe('4245.4242');
  });
});
