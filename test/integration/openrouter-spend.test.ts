import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionTestBody, openRouterDelivery, REFERENCE_LIKE } from '../fixtures/openrouter.js';
import { post } from '../support/http.js';
import { generationCounts } from '../support/ledger-counts.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

let server: TestServer;
let key: string;

beforeAll(async () => {
  server = await startTestServer();
  ({ key } = await server.key('acme'));
});
afterAll(() => server.stop());

const generation = (id: string) =>
  server.query<Record<string, string | null>>(`
    SELECT org, generation_id, model, provider, input_tokens::text, output_tokens::text,
           total_tokens::text, cached_input_tokens::text, reasoning_tokens::text, cost_usd::text,
           status, user_id, session_id, api_key_name, trace_name, latency_ms::text,
           to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS started_at,
           metadata::text AS metadata
    FROM generations WHERE generation_id = '${id}'`);

describe('OpenRouter Broadcast deliveries', () => {
  it('turns the content deliveries into three generations summing to exactly 0.08513895 USD', async () => {
    for (const g of REFERENCE_LIKE.withContent) {
      const res = await post(server.url, openRouterDelivery(g), { key });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({});
    }
    const [sum] = await server.query<{ n: string; usd: string }>(
      `SELECT count(*)::text AS n, sum(cost_usd)::text AS usd FROM generations
       WHERE generation_id IN ('gen-test-0001','gen-test-0002','gen-test-0003')`,
    );
    expect(sum).toEqual({ n: '3', usd: '0.08513895' });
    const [cached] = await generation('gen-test-0002');
    expect(cached).toMatchObject({ input_tokens: '12720', output_tokens: '373', total_tokens: '13093', cached_input_tokens: '12312', cost_usd: '0.0036047' });
    const [reasoning] = await generation('gen-test-0003');
    expect(reasoning).toMatchObject({ reasoning_tokens: '518', user_id: 'user-0001', session_id: 'ses_two', cost_usd: '0.06507625' });
    // Root and both children are stored as spans; only the root is a generation.
    const [spans] = await server.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM spans WHERE resource->'attributes'->>'openrouter.trace.id' = 'gen-test-0001'`,
    );
    expect(spans!.n).toBe('3');
  });

  it('reads every field of a Privacy Mode delivery exactly', async () => {
    expect((await post(server.url, openRouterDelivery(REFERENCE_LIKE.privacyMode), { key })).status).toBe(200);
    const [row] = await generation('gen-test-0004');
    expect(row).toMatchObject({
      org: 'acme',
      model: 'deepseek/deepseek-v4-flash',
      provider: 'deepseek',
      input_tokens: '25',
      output_tokens: '236',
      total_tokens: '261',
      cached_input_tokens: '0',
      reasoning_tokens: '101',
      cost_usd: '0.00006958',
      status: 'ok',
      user_id: null,
      session_id: null,
      api_key_name: 'Agentic Coding',
      trace_name: 'OpenRouter Request',
      latency_ms: '3366',
      started_at: '2026-07-05T03:09:51.321000',
    });
    const metadata = JSON.parse(row!.metadata!);
    expect(metadata['openrouter.provider_name']).toBe('Novita');
    // Values keep their type; unit prices are metadata (rates), never cost.
    expect(metadata['openrouter.router_latency_ms']).toBe(58);
    expect(metadata['openrouter.input_unit_price']).toBe(0.000001);
  });

  it('stores a retried delivery once and a re-sent generation under new span ids once', async () => {
    const delivery = openRouterDelivery({ generationId: 'gen-retry-1', inputTokens: 10, outputTokens: 5, totalCost: 0.001, children: true });
    for (let i = 0; i < 3; i++) expect((await post(server.url, delivery, { key })).status).toBe(200);
    const resent = openRouterDelivery({ generationId: 'gen-retry-1', inputTokens: 10, outputTokens: 5, totalCost: 0.001, children: true });
    expect((await post(server.url, resent, { key })).status).toBe(200);
    // Both deliveries' spans are kept (nothing said is lost); the money counts once.
    expect(await generationCounts(server, 'gen-retry-1')).toEqual({ spans: '6', generations: '1', usd: '0.001' });
  });

  it('records failed requests as errors and unpriced generations as NULL, never $0', async () => {
    const day = '2026-10-01T12:00:00.000Z';
    const model = 'openai/gpt-error-test';
    await post(server.url, openRouterDelivery({ generationId: 'gen-err-1', model, start: day, inputTokens: 100, outputTokens: 0, error: 'Provider returned error' }), { key });
    await post(server.url, openRouterDelivery({ generationId: 'gen-unpriced-1', model, start: day, inputTokens: 100, outputTokens: 20 }), { key });
    await post(server.url, openRouterDelivery({ generationId: 'gen-priced-1', model, start: day, inputTokens: 1, outputTokens: 2, inputCost: 0.00006958, outputCost: 0.016458 }), { key });
    const [daily] = await server.query(`
      SELECT day::text, requests::text, errors::text, unpriced::text, input_tokens::text,
             output_tokens::text, total_tokens::text, cost_usd::text
      FROM daily_spend WHERE model = '${model}'`);
    expect(daily).toEqual({
      day: '2026-10-01',
      requests: '3',
      errors: '1',
      unpriced: '2',
      input_tokens: '201',
      output_tokens: '22',
      total_tokens: '223',
      // input_cost + output_cost, added as decimals.
      cost_usd: '0.01652758',
    });
    const [err] = await generation('gen-err-1');
    expect(err).toMatchObject({ status: 'error', cost_usd: null });
  });

  it('stores a credit (negative cost) as sent, and answers 200 after committing it', async () => {
    const res = await post(server.url, openRouterDelivery({ generationId: 'gen-credit', inputTokens: 1, outputTokens: 1, totalCost: -0.0125 }), { key });
    expect(res.status).toBe(200);
    const [row] = await generation('gen-credit');
    expect(row!.cost_usd).toBe('-0.0125');
  });

  it('stores text Postgres cannot hold (NUL, lone surrogates) with U+FFFD, instead of failing the write', async () => {
    const body = openRouterDelivery({ generationId: 'gen-odd-text', inputTokens: 1, outputTokens: 1, totalCost: 0.5, userId: 'a\u0000b', metadata: { cc: 'x\ud800y' } });
    body.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name = 'LLM\u0000Generation';
    expect((await post(server.url, body, { key })).status).toBe(200);
    const [row] = await generation('gen-odd-text');
    expect(row).toMatchObject({ user_id: 'a\uFFFDb', trace_name: 'OpenRouter Request' });
    expect(JSON.parse(row!.metadata!).cc).toBe('x\uFFFDy');
  });

  it('groups by user, session, key name and any trace.metadata key', async () => {
    await post(server.url, openRouterDelivery({
      generationId: 'gen-meta-1', inputTokens: 3, outputTokens: 4, totalCost: 0.5, userId: 'alice', sessionId: 's-9',
      apiKeyName: 'Support bot', metadata: { cost_center: 'CC-42', department: 'support', priority: 2 },
    }), { key });
    const [row] = await server.query(`
      SELECT user_id, session_id, api_key_name, metadata->>'cost_center' AS cc,
             jsonb_typeof(metadata->'priority') AS priority_type
      FROM generations WHERE generation_id = 'gen-meta-1'`);
    expect(row).toEqual({ user_id: 'alice', session_id: 's-9', api_key_name: 'Support bot', cc: 'CC-42', priority_type: 'number' });
  });

  it('keeps prompt and completion out of the ledger unless content storage is on', async () => {
    await post(server.url, openRouterDelivery({ generationId: 'gen-content-off', inputTokens: 1, outputTokens: 1, totalCost: 0.1, content: true }), { key });
    const [row] = await server.query<{ stored: boolean; content: string }>(`
      SELECT (attributes::jsonb ?| array['gen_ai.prompt', 'gen_ai.completion', 'span.input', 'span.output']) AS stored,
             (SELECT count(*) FROM span_content c WHERE c.trace_id = s.trace_id)::text AS content
      FROM spans s WHERE resource->'attributes'->>'openrouter.trace.id' = 'gen-content-off'`);
    expect(row).toEqual({ stored: false, content: '0' });
  });

  it('answers the connection test 200 for a valid key, records it on the key, and adds no spend', async () => {
    const before = await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM spans`);
    const res = await post(server.url, connectionTestBody(), { key });
    expect(res.status).toBe(200);
    const empty = await post(server.url, '{}', { key, headers: { 'x-test-connection': 'true' } });
    expect(empty.status).toBe(200);
    const after = await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM spans`);
    expect(after).toEqual(before);
    const [tested] = await server.query<{ tested: boolean }>(`SELECT last_tested_at IS NOT NULL AS tested FROM api_keys`);
    expect(tested!.tested).toBe(true);
    expect((await post(server.url, connectionTestBody(), { key: 'asl_wrong' })).status).toBe(401);
  });
});

describe('OpenRouter deliveries with content storage on', () => {
  let withContent: TestServer;
  beforeAll(async () => {
    withContent = await startTestServer({ LEDGER_STORE_CONTENT: 'true' });
  });
  afterAll(() => withContent.stop());

  it('keeps content in its own table, never in spans', async () => {
    const { key: k } = await withContent.key('acme');
    const res = await post(withContent.url, openRouterDelivery({ generationId: 'gen-content-on', inputTokens: 1, outputTokens: 1, totalCost: 0.1, content: true }), { key: k });
    expect(res.status).toBe(200);
    const [row] = await withContent.query<{ in_spans: boolean; prompt: string }>(`
      SELECT s.attributes::jsonb ? 'gen_ai.prompt' AS in_spans, c.attributes->>'gen_ai.prompt' AS prompt
      FROM spans s JOIN span_content c USING (org_id, trace_id, span_id)`);
    expect(row!.in_spans).toBe(false);
    expect(JSON.parse(row!.prompt).messages[0].role).toBe('user');
  });
});
