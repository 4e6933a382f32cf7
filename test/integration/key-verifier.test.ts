import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { KeyVerifier } from '../../src/auth/verifier.js';
import { revokeKey } from '../../src/auth/key-store.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

/** Counts the queries a Kysely instance sends (the real ones, to the real ledger). */
class QueryCounter implements KyselyPlugin {
  count = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.count++;
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CACHE_MS = 400;

function verifier(): { verifier: KeyVerifier; queries: QueryCounter } {
  const queries = new QueryCounter();
  // A flush interval far past the test, so that only key lookups are counted.
  return { verifier: new KeyVerifier(server.ledger.db.withPlugin(queries), CACHE_MS, 60_000), queries };
}

describe('key verification', () => {
  it('looks a key up once for many concurrent requests, whether the key is valid or not', async () => {
    const { key } = await server.key('acme', 'ingest', 'herd');
    const { verifier: v, queries } = verifier();
    const verdicts = await Promise.all(Array.from({ length: 50 }, () => v.verify(`Bearer ${key}`, 'ingest')));
    expect(verdicts.every((r) => r.ok)).toBe(true);
    expect(queries.count).toBe(1);

    const unknown = `Bearer asl_${'Q'.repeat(43)}`;
    const refusals = await Promise.all(Array.from({ length: 50 }, () => v.verify(unknown, 'ingest')));
    expect(refusals.every((r) => !r.ok && r.status === 401)).toBe(true);
    expect(queries.count).toBe(2);
    await v.close();
  });

  it('renews a verdict before it expires, so that steady traffic never waits for a lookup', async () => {
    const { key } = await server.key('acme', 'ingest', 'steady');
    const { verifier: v, queries } = verifier();
    await v.verify(`Bearer ${key}`, 'ingest');
    expect(queries.count).toBe(1);
    // In the verdict's last quarter: answered from the cache, with one lookup renewing it.
    await sleep(CACHE_MS * 0.8);
    await Promise.all(Array.from({ length: 10 }, () => v.verify(`Bearer ${key}`, 'ingest')));
    await sleep(50);
    expect(queries.count).toBe(2);
    // Past the first verdict's expiry: the renewed one answers, no lookup.
    await sleep(CACHE_MS * 0.3);
    expect((await v.verify(`Bearer ${key}`, 'ingest')).ok).toBe(true);
    expect(queries.count).toBe(2);
    await v.close();
  });

  it('still applies a revocation within the cache time while traffic keeps renewing the verdict', async () => {
    const { id, key } = await server.key('acme', 'ingest', 'revoked-under-load');
    const { verifier: v } = verifier();
    expect((await v.verify(`Bearer ${key}`, 'ingest')).ok).toBe(true);
    await sleep(CACHE_MS * 0.5);
    expect(await revokeKey(server.ledger.db, id)).toMatchObject({ now: true });
    const revokedAt = Date.now();
    let refusedAt: number | null = null;
    while (Date.now() - revokedAt < CACHE_MS * 3) {
      const verdict = await v.verify(`Bearer ${key}`, 'ingest');
      if (!verdict.ok) {
        refusedAt = Date.now();
        break;
      }
      await sleep(10);
    }
    expect(refusedAt).not.toBeNull();
    // Within the cache time, plus room for this loop's timer ticks on a busy machine — well short of
    // the second cache time that a verdict renewed from a stale one would last into.
    expect(refusedAt! - revokedAt).toBeLessThanOrEqual(CACHE_MS + 200);
    await v.close();
  });
});
