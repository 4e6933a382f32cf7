import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportSpans, ExportResultCode, recorder, type Encoding } from '../support/otel.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

let server: TestServer;
let key: string;
// Deliveries prepared on the serving thread (LEDGER_PREPARE_THREADS=0) must land the same.
let inline: { server: TestServer; key: string };

beforeAll(async () => {
  server = await startTestServer({ LEDGER_PREPARE_THREADS: '2' });
  ({ key } = await server.key('otel-co'));
  const inlineServer = await startTestServer({ LEDGER_PREPARE_THREADS: '0' });
  inline = { server: inlineServer, key: (await inlineServer.key('otel-co')).key };
});
afterAll(() => Promise.all([server.stop(), inline.server.stop()]));

const variants: { encoding: Encoding; gzip: boolean; path: string; threads: 'pool' | 'inline' }[] = [
  { encoding: 'protobuf', gzip: false, path: '/v1/traces', threads: 'pool' },
  { encoding: 'protobuf', gzip: true, path: '/developer/v1/ai-usage/openrouter/v1/traces', threads: 'inline' },
  { encoding: 'json', gzip: false, path: '/developer/v1/ai-usage/openrouter', threads: 'inline' },
  { encoding: 'json', gzip: true, path: '/v1/traces', threads: 'pool' },
];

describe.each(variants)('the OpenTelemetry JS exporter ($encoding, gzip $gzip) on $path, prepared $threads', ({ encoding, gzip, path, threads }) => {
  it('lands every span, with its attributes, once — even when retried', async () => {
    const target = threads === 'pool' ? { server, key } : inline;
    const rec = recorder();
    const tag = `${encoding}-${gzip}`;
    const chat = rec.start('chat gpt-4o', {
      'gen_ai.operation.name': 'chat',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.usage.prompt_tokens': 1200,
      'gen_ai.usage.completion_tokens': 300,
      'gen_ai.usage.cost': 0.0105,
      'user.id': `u-${tag}`,
      'test.variant': tag,
      'test.big_int': 2 ** 40,
      'test.flags': [true, false],
    });
    const tool = rec.start('execute_tool lookup', { 'gen_ai.operation.name': 'execute_tool', 'test.variant': tag }, chat);
    tool.end();
    chat.end();
    const spans = rec.finished();
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = await exportSpans(target.server.url + path, target.key, spans, { encoding, gzip });
      expect(result.code, String(result.error)).toBe(ExportResultCode.SUCCESS);
    }
    const stored = await target.server.query<{ name: string; parent: boolean; big: string; flags: string; service: string; scope: string }>(`
      SELECT name, parent_span_id IS NOT NULL AS parent, attributes->>'test.big_int' AS big,
             (attributes->'test.flags')::jsonb::text AS flags, resource->'attributes'->>'service.name' AS service,
             scope->>'name' AS scope
      FROM spans WHERE attributes->>'test.variant' = '${tag}' ORDER BY name`);
    expect(stored).toEqual([
      { name: 'chat gpt-4o', parent: false, big: String(2 ** 40), flags: '[true, false]', service: 'agent-app', scope: 'ledger-tests' },
      { name: 'execute_tool lookup', parent: true, big: null, flags: null, service: 'agent-app', scope: 'ledger-tests' },
    ]);
    const ids = stored.length === 2 ? spans.map((s) => s.spanContext()) : [];
    const [gen] = await target.server.query(`
      SELECT trace_id, span_id, model, provider, input_tokens::text, output_tokens::text,
             total_tokens::text, cost_usd::text, user_id
      FROM generations WHERE user_id = 'u-${tag}'`);
    const chatCtx = ids.find((c) => c.spanId === spans.find((s) => s.name === 'chat gpt-4o')!.spanContext().spanId)!;
    expect(gen).toEqual({
      trace_id: chatCtx.traceId,
      span_id: chatCtx.spanId,
      model: 'gpt-4o',
      provider: 'openai',
      input_tokens: '1200',
      output_tokens: '300',
      total_tokens: '1500',
      cost_usd: '0.0105',
      user_id: `u-${tag}`,
    });
  });
});

describe('agent trees: usage rolled up on parents is not counted twice', () => {
  const llm = (model: string, input: number, output: number, cost: number) => ({
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'anthropic',
    'gen_ai.response.model': model,
    'gen_ai.usage.input_tokens': input,
    'gen_ai.usage.output_tokens': output,
    'gen_ai.usage.total_cost': cost,
  });

  /**
   * agent (rolled-up usage) → step (no usage) → two LLM calls; and a workflow span without an agent
   * operation. `underRequest`: both hang under a plain request span, so that no usage span is a root.
   */
  function agentTree(tag: string, underRequest = false) {
    const rec = recorder('agents');
    const request = underRequest ? rec.start('POST /plan', { 'test.tree': tag }) : undefined;
    const agent = rec.start('invoke_agent planner', {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.usage.input_tokens': 300,
      'gen_ai.usage.output_tokens': 30,
      'gen_ai.usage.total_cost': 0.33,
      'test.tree': tag,
    }, request);
    const step = rec.start('step', { 'test.tree': tag }, agent);
    const a = rec.start('chat a', { ...llm('claude-a', 100, 10, 0.11), 'test.tree': tag }, step);
    a.end();
    const b = rec.start('chat b', { ...llm('claude-b', 200, 20, 0.22), 'test.tree': tag }, step);
    b.end();
    step.end();
    agent.end();
    // A parent with plain chat usage that also sums its children (no agent operation name).
    const wrapper = rec.start('chat wrapper', { ...llm('wrapper', 50, 5, 0.05), 'test.tree': tag }, request);
    const inner = rec.start('chat inner', { ...llm('inner', 50, 5, 0.05), 'test.tree': tag }, wrapper);
    inner.end();
    wrapper.end();
    request?.end();
    const byName = Object.fromEntries(rec.finished().map((s) => [s.name, s]));
    return byName;
  }

  const totals = (tag: string) =>
    server.query<{ n: string; usd: string; models: string }>(`
      SELECT count(*)::text AS n, sum(g.cost_usd)::text AS usd, string_agg(g.model, ',' ORDER BY g.model) AS models
      FROM generations g JOIN spans s ON s.org_id = g.org_id AND s.trace_id = g.trace_id AND s.span_id = g.span_id
      WHERE s.attributes->>'test.tree' = '${tag}'`);

  it('counts only the LLM calls when the whole tree arrives in one request', async () => {
    const t = agentTree('one-request');
    const all = Object.values(t);
    expect((await exportSpans(server.url + '/v1/traces', key, all, { encoding: 'protobuf', gzip: false })).code).toBe(ExportResultCode.SUCCESS);
    expect(await totals('one-request')).toEqual([{ n: '3', usd: '0.38', models: 'claude-a,claude-b,inner' }]);
  });

  it('gives the same answer parent-first and children-first, across requests', async () => {
    for (const order of ['parents-first', 'children-first'] as const) {
      const t = agentTree(order);
      const parents = [t['invoke_agent planner']!, t['chat wrapper']!];
      const middle = [t['step']!];
      const leaves = [t['chat a']!, t['chat b']!, t['chat inner']!];
      const sequence = order === 'parents-first' ? [parents, middle, leaves] : [leaves, parents, middle];
      for (const batch of sequence) {
        expect((await exportSpans(server.url + '/v1/traces', key, batch, { encoding: 'json', gzip: false })).code).toBe(ExportResultCode.SUCCESS);
      }
      expect(await totals(order)).toEqual([{ n: '3', usd: '0.38', models: 'claude-a,claude-b,inner' }]);
    }
  });

  it('gives the same answer when the tree hangs under a plain request span, in one request and across requests', async () => {
    const whole = agentTree('under-request-one', true);
    expect((await exportSpans(server.url + '/v1/traces', key, Object.values(whole), { encoding: 'json', gzip: false })).code).toBe(ExportResultCode.SUCCESS);
    expect(await totals('under-request-one')).toEqual([{ n: '3', usd: '0.38', models: 'claude-a,claude-b,inner' }]);

    // The step that links the LLM calls to the agent comes last, in a request without usage.
    const t = agentTree('under-request-across', true);
    const sequence = [[t['chat a']!, t['chat b']!, t['chat inner']!], [t['POST /plan']!, t['invoke_agent planner']!, t['chat wrapper']!], [t['step']!]];
    for (const batch of sequence) {
      expect((await exportSpans(server.url + '/v1/traces', key, batch, { encoding: 'json', gzip: false })).code).toBe(ExportResultCode.SUCCESS);
    }
    expect(await totals('under-request-across')).toEqual([{ n: '3', usd: '0.38', models: 'claude-a,claude-b,inner' }]);
  });

  it('marks an ancestor however far above its usage below: 300 plain steps apart, and along a chain of 2,000 LLM calls', async () => {
    const rec = recorder('deep');
    const chain = (tag: string, links: number, usageEveryLink: boolean) => {
      const root = rec.start('chat root', { ...llm('root', 10, 1, 0.5), 'test.tree': tag });
      const opened = [root];
      for (let i = 0; i < links; i++) {
        const attributes = usageEveryLink ? { ...llm('link', 10, 1, 0.001), 'test.tree': tag } : { 'test.tree': tag };
        opened.push(rec.start(`step ${i}`, attributes, opened.at(-1)));
      }
      opened.push(rec.start('chat leaf', { ...llm('leaf', 10, 1, 0.25), 'test.tree': tag }, opened.at(-1)));
      for (const span of opened.reverse()) span.end();
    };
    chain('deep-apart', 300, false);
    chain('deep-chain', 2_000, true);
    expect((await exportSpans(server.url + '/v1/traces', key, rec.finished(), { encoding: 'protobuf', gzip: true })).code).toBe(ExportResultCode.SUCCESS);
    // Only the deepest LLM call of each trace is a generation; everything above it is a roll-up.
    expect(await totals('deep-apart')).toEqual([{ n: '1', usd: '0.25', models: 'leaf' }]);
    expect(await totals('deep-chain')).toEqual([{ n: '1', usd: '0.25', models: 'leaf' }]);
  });
});
