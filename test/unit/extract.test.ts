import { describe, expect, it } from 'vitest';
import type { Attributes, OtlpSpan } from '../../src/otlp/model.js';
import { extractUsage, UsageError } from '../../src/spend/extract.js';
import { addDecimals, NotAnAmountError, toDecimal } from '../../src/spend/decimal.js';
import { splitContent } from '../../src/spend/content.js';

function span(attributes: Attributes, over: Partial<OtlpSpan> = {}): OtlpSpan {
  return {
    traceId: 'a'.repeat(32),
    spanId: 'b'.repeat(16),
    parentSpanId: null,
    traceState: '',
    flags: 0,
    name: 'root name',
    kind: 3,
    startTimeUnixNano: '1000000000',
    endTimeUnixNano: '1002500001',
    attributes,
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    statusCode: 0,
    statusMessage: '',
    resource: { attributes: {}, droppedAttributesCount: 0, schemaUrl: '' },
    scope: { name: '', version: '', attributes: {}, droppedAttributesCount: 0, schemaUrl: '' },
    ...over,
  };
}

describe('usage extraction', () => {
  it('is null for spans without usage or cost', () => {
    expect(extractUsage(span({ 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'm' }))).toBeNull();
  });

  it('reads the current names', () => {
    const u = extractUsage(span({
      'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': '5', 'gen_ai.usage.input_tokens.cached': 4,
      'gen_ai.usage.output_tokens.reasoning': 2, 'gen_ai.provider.name': 'anthropic', 'gen_ai.system': 'old',
      'gen_ai.response.model': 'resp', 'gen_ai.request.model': 'req', 'gen_ai.usage.total_cost': 0.1,
    }))!;
    expect(u).toMatchObject({ inputTokens: 10, outputTokens: 5, totalTokens: 15, cachedInputTokens: 4, reasoningTokens: 2, provider: 'anthropic', model: 'resp', costUsd: '0.1', role: 'generation' });
    expect(u.latencyMs).toBe('2.500001');
    expect(u.traceName).toBe('root name');
  });

  it('reads the older and vendor names', () => {
    const u = extractUsage(span({
      'gen_ai.usage.prompt_tokens': 7, 'gen_ai.usage.completion_tokens': 3, 'gen_ai.usage.cache_read.input_tokens': 1,
      'gen_ai.usage.reasoning.output_tokens': 2, 'gen_ai.system': 'openai', 'gen_ai.request.model': 'req',
      'llm.cost.total': '0.25',
    }, { parentSpanId: 'c'.repeat(16) }))!;
    expect(u).toMatchObject({ inputTokens: 7, outputTokens: 3, totalTokens: 10, cachedInputTokens: 1, reasoningTokens: 2, provider: 'openai', model: 'req', costUsd: '0.25', traceName: null });
  });

  it('takes cost in precedence order and never adds unit prices', () => {
    const cost = (a: Attributes) => extractUsage(span({ 'gen_ai.usage.input_tokens': 1, ...a }))!.costUsd;
    expect(cost({ 'gen_ai.usage.total_cost': 3, 'gen_ai.usage.input_cost': 1, 'gen_ai.usage.output_cost': 1 })).toBe('3');
    expect(cost({ 'gen_ai.usage.input_cost': 0.00006958, 'gen_ai.usage.output_cost': 0.016458, 'gen_ai.usage.cost': 9 })).toBe('0.01652758');
    expect(cost({ 'gen_ai.usage.cost': 0.1, 'llm.cost.total': 9 })).toBe('0.1');
    expect(cost({ 'trace.metadata.openrouter.input_unit_price': 1e-6 })).toBeNull();
  });

  it('marks agent spans as roll-ups and failed requests as errors', () => {
    expect(extractUsage(span({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.usage.input_tokens': 1 }))!.role).toBe('rollup');
    expect(extractUsage(span({ 'openinference.span.kind': 'AGENT', 'llm.token_count.prompt': 1 }))!.role).toBe('rollup');
    expect(extractUsage(span({ 'gen_ai.usage.input_tokens': 1 }, { statusCode: 2 }))!.status).toBe('error');
  });

  it('takes the generation id from the span, else from the OpenRouter resource', () => {
    const withResource = span({ 'gen_ai.usage.input_tokens': 1 }, { resource: { attributes: { 'openrouter.trace.id': 'gen-1' }, droppedAttributesCount: 0, schemaUrl: '' } });
    expect(extractUsage(withResource)!.generationId).toBe('gen-1');
    expect(extractUsage(span({ 'gen_ai.usage.input_tokens': 1, 'gen_ai.response.id': 'chatcmpl-9' }))!.generationId).toBe('chatcmpl-9');
  });

  it('refuses a usage attribute of the wrong type', () => {
    expect(() => extractUsage(span({ 'gen_ai.usage.input_tokens': 'many' }))).toThrow(UsageError);
    expect(() => extractUsage(span({ 'gen_ai.usage.input_tokens': -1 }))).toThrow(UsageError);
    expect(() => extractUsage(span({ 'gen_ai.usage.input_tokens': 1.5 }))).toThrow(UsageError);
    expect(() => extractUsage(span({ 'gen_ai.usage.total_cost': 'NaN' }))).toThrow(UsageError);
    expect(() => extractUsage(span({ 'gen_ai.usage.total_cost': true }))).toThrow(UsageError);
  });
  it('refuses a cost beyond the bounds of an amount, before it is expanded into digits', () => {
    expect(() => extractUsage(span({ 'gen_ai.usage.total_cost': '1e999999999' }))).toThrow(
      'gen_ai.usage.total_cost must be less than 1e15 in magnitude, got "1e999999999"',
    );
    expect(() => extractUsage(span({ 'gen_ai.usage.input_cost': -1e15 }))).toThrow('less than 1e15 in magnitude');
    expect(() => extractUsage(span({ 'gen_ai.usage.total_cost': '1e-999999999' }))).toThrow(
      'gen_ai.usage.total_cost must be given to at most 1000 decimal places',
    );
    expect(extractUsage(span({ 'gen_ai.usage.total_cost': '999999999999999.5' }))?.costUsd).toBe('999999999999999.5');
    expect(extractUsage(span({ 'gen_ai.usage.total_cost': 5e-324 }))?.costUsd).toBe(`0.${'0'.repeat(323)}5`);
  });
});

describe('exact decimals', () => {
  it('takes a double at its shortest round-trip text', () => {
    expect(toDecimal(6.958e-5)).toBe('0.00006958');
    expect(toDecimal(1.4e-7)).toBe('0.00000014');
    expect(toDecimal(0.1)).toBe('0.1');
    expect(toDecimal('1e-3')).toBe('0.001');
    expect(toDecimal('+1.50')).toBe('1.5');
    expect(toDecimal('-0')).toBe('0');
    expect(() => toDecimal(Infinity)).toThrow(NotAnAmountError);
    expect(() => toDecimal('12abc')).toThrow(NotAnAmountError);
  });
  it('adds without floating-point error', () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(addDecimals(['0.00006958', '0.016458'])).toBe('0.01652758');
    expect(addDecimals(['0.1', '0.2'])).toBe('0.3');
  });
});

describe('content split', () => {
  it('moves prompt and completion attributes out, keeps the rest', () => {
    const { kept, content } = splitContent({
      'gen_ai.prompt': 'p', 'gen_ai.completion': 'c', 'span.input': 'i', 'gen_ai.input.messages': '[]',
      'gen_ai.prompt.0.content': 'x', 'gen_ai.prompt.truncated': true, 'gen_ai.usage.input_tokens': 1,
    });
    expect(Object.keys(content!).sort()).toEqual(['gen_ai.completion', 'gen_ai.input.messages', 'gen_ai.prompt', 'gen_ai.prompt.0.content', 'span.input']);
    expect(kept).toEqual({ 'gen_ai.prompt.truncated': true, 'gen_ai.usage.input_tokens': 1 });
  });
});
