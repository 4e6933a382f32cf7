import { randomBytes } from 'node:crypto';
import { ExportTraceServiceRequest } from '../src/otlp/proto.js';

export type Variant = 'privacy' | 'content';
export type BodyEncoding = 'json' | 'protobuf';

interface Attr {
  key: string;
  value: { stringValue?: string; intValue?: number; doubleValue?: number; boolValue?: boolean };
}

const s = (key: string, v: string): Attr => ({ key, value: { stringValue: v } });
const i = (key: string, v: number): Attr => ({ key, value: { intValue: v } });
const d = (key: string, v: number): Attr => ({ key, value: { doubleValue: v } });
const b = (key: string, v: boolean): Attr => ({ key, value: { boolValue: v } });

/** ~4 KB each of prompt and completion, like a tool-using coding agent's turn. */
function content(): Attr[] {
  const words = 'the quick brown fox counts whitespace separated words in a file and writes a unittest '.repeat(48);
  const prompt = JSON.stringify({ messages: [{ role: 'system', content: words.slice(0, 1800) }, { role: 'user', content: words.slice(0, 2200) }] });
  const completion = JSON.stringify({ completion: words.slice(0, 4000), reasoning: null, toolCalls: [] });
  return [s('gen_ai.prompt', prompt), s('gen_ai.completion', completion)];
}

/**
 * One OpenRouter-shaped delivery: root `LLM Generation` with ~30 attributes and its two children,
 * each in its own resourceSpans, with fresh ids. `n` varies the figures.
 */
export function delivery(n: number, variant: Variant): { body: object; spans: number } {
  const traceId = randomBytes(16).toString('hex');
  const root = traceId.slice(0, 16);
  const gen = `gen-bench-${traceId}`;
  const start = 1_790_000_000_000_000_000n + BigInt(n) * 1_000_000_000n;
  const end = start + 2_443_000_000n;
  const resource = {
    attributes: [s('service.name', 'openrouter'), s('openrouter.trace.id', gen), s('service.version', '1.0.0')],
  };
  const input = 1000 + (n % 500);
  const output = 100 + (n % 50);
  const rootAttrs: Attr[] = [
    s('trace.name', 'OpenRouter Request'),
    s('user.id', `user-${n % 97}`),
    s('session.id', `ses-${n % 1013}`),
    s('trace.metadata.cost_center', `CC-${n % 7}`),
    s('span.type', 'generation'),
    s('span.level', 'DEFAULT'),
    s('gen_ai.operation.name', 'chat'),
    s('gen_ai.system', 'anthropic'),
    s('gen_ai.provider.name', 'anthropic'),
    s('gen_ai.request.model', 'anthropic/claude-haiku-4.5'),
    s('gen_ai.response.model', 'anthropic/claude-haiku-4.5'),
    s('gen_ai.response.id', gen),
    i('gen_ai.usage.input_tokens', input),
    i('gen_ai.usage.output_tokens', output),
    i('gen_ai.usage.total_tokens', input + output),
    d('gen_ai.usage.input_cost', input * 1e-6),
    d('gen_ai.usage.output_cost', output * 5e-6),
    d('gen_ai.usage.total_cost', Number((input * 1e-6 + output * 5e-6).toPrecision(12))),
    i('gen_ai.usage.input_tokens.cached', 0),
    i('gen_ai.usage.output_tokens.reasoning', 0),
    s('gen_ai.response.finish_reasons', '["stop"]'),
    s('trace.metadata.openrouter.source', 'openrouter'),
    s('trace.metadata.openrouter.api_key_name', 'bench key'),
    s('trace.metadata.openrouter.entity_id', 'user_bench000000000000000000'),
    s('trace.metadata.openrouter.provider_name', 'Amazon Bedrock'),
    s('trace.metadata.openrouter.provider_slug', 'amazon-bedrock/global'),
    d('trace.metadata.openrouter.router_latency_ms', 58),
    d('trace.metadata.openrouter.first_token_ms', 1382),
    d('trace.metadata.openrouter.input_unit_price', 1e-6),
    d('trace.metadata.openrouter.output_unit_price', 5e-6),
    ...(variant === 'content' ? content() : []),
  ];
  const span = (spanId: string, parent: string | undefined, name: string, kind: number, attributes: Attr[]) => ({
    resource,
    scopeSpans: [
      {
        scope: { name: 'openrouter' },
        spans: [
          {
            traceId,
            spanId,
            ...(parent ? { parentSpanId: parent } : {}),
            name,
            kind,
            startTimeUnixNano: start.toString(),
            endTimeUnixNano: end.toString(),
            status: { code: 1 },
            attributes,
          },
        ],
      },
    ],
  });
  const child = () => randomBytes(8).toString('hex');
  return {
    body: {
      resourceSpans: [
        span(root, undefined, 'LLM Generation', 3, rootAttrs),
        span(child(), root, 'provider attempt 1: Amazon Bedrock', 2, [
          s('span.type', 'span'),
          i('span.metadata.attempt_index', 0),
          i('span.metadata.status_code', 200),
          b('span.metadata.is_byok', false),
          s('gen_ai.response.id', `${gen}:attempt-0`),
        ]),
        span(child(), root, 'generation', 2, [s('span.type', 'span'), s('gen_ai.response.id', `${gen}:generation`)]),
      ],
    },
    spans: 3,
  };
}

/** The body as it goes on the wire. */
export function encode(body: object, encoding: BodyEncoding): Buffer {
  if (encoding === 'json') return Buffer.from(JSON.stringify(body));
  return Buffer.from(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(toProtoShape(body) as Record<string, unknown>)).finish());
}

/** OTLP/JSON's hex ids and decimal-string times to protobufjs's bytes and numbers. */
function toProtoShape(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => toProtoShape(v));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toProtoShape(v, k)]));
  }
  if (typeof value === 'string' && /^(traceId|spanId|parentSpanId)$/.test(key)) return Buffer.from(value, 'hex');
  return value;
}
