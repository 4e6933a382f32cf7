import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.js';

// The SQL reporting surface of ../shared/contract.md: these columns, with these types, must exist.
const GENERATIONS: Record<string, string> = {
  org: 'text', generation_id: 'text', trace_id: 'text', span_id: 'text', started_at: 'timestamp with time zone',
  ended_at: 'timestamp with time zone', latency_ms: 'numeric', model: 'text', provider: 'text', input_tokens: 'bigint',
  output_tokens: 'bigint', total_tokens: 'bigint', cached_input_tokens: 'bigint', reasoning_tokens: 'bigint',
  cost_usd: 'numeric', status: 'text', user_id: 'text', session_id: 'text', api_key_name: 'text', trace_name: 'text',
  metadata: 'jsonb', received_at: 'timestamp with time zone',
};
const DAILY_SPEND: Record<string, string> = {
  org: 'text', day: 'date', model: 'text', provider: 'text', requests: 'bigint', errors: 'bigint', unpriced: 'bigint',
  input_tokens: 'numeric', output_tokens: 'numeric', total_tokens: 'numeric', cost_usd: 'numeric',
};

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

describe('SQL reporting surface', () => {
  it.each([
    ['generations', GENERATIONS],
    ['daily_spend', DAILY_SPEND],
  ] as const)('%s has every contract column with its type', async (view, columns) => {
    const rows = await server.query<{ column_name: string; data_type: string }>(`
      SELECT column_name, data_type FROM information_schema.columns
      WHERE table_name = '${view}' AND table_schema = current_schema()`);
    const actual = Object.fromEntries(rows.map((r) => [r.column_name, r.data_type]));
    for (const [name, type] of Object.entries(columns)) expect(actual[name], `${view}.${name}`).toBe(type);
  });
});
