import type { TestServer } from './test-server.js';

/**
 * What the ledger holds of one OpenRouter generation (the fixtures name it in the resource's
 * `openrouter.trace.id`): its spans, its rows in `generations`, and their summed cost.
 */
export async function generationCounts(server: TestServer, generationId: string): Promise<{ spans: string; generations: string; usd: string | null }> {
  const id = generationId.replaceAll("'", "''");
  const [counts] = await server.query<{ spans: string; generations: string; usd: string | null }>(`
    SELECT (SELECT count(*) FROM spans WHERE resource->'attributes'->>'openrouter.trace.id' = '${id}')::text AS spans,
           (SELECT count(*) FROM generations WHERE generation_id = '${id}')::text AS generations,
           (SELECT sum(cost_usd) FROM generations WHERE generation_id = '${id}')::text AS usd`);
  return counts!;
}
