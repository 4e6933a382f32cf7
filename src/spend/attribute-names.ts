/**
 * One table of attribute names per concept, first match wins. The order is the precedence: the
 * current GenAI semantic conventions, then their older names, then other vendors' names.
 */
export const NAMES = {
  inputTokens: ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens', 'llm.token_count.prompt'],
  outputTokens: ['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens', 'llm.token_count.completion'],
  totalTokens: ['gen_ai.usage.total_tokens', 'llm.usage.total_tokens', 'llm.token_count.total'],
  cachedInputTokens: [
    'gen_ai.usage.input_tokens.cached',
    'gen_ai.usage.cache_read.input_tokens',
    'gen_ai.usage.cache_read_input_tokens',
  ],
  reasoningTokens: ['gen_ai.usage.output_tokens.reasoning', 'gen_ai.usage.reasoning.output_tokens'],
  totalCost: ['gen_ai.usage.total_cost'],
  inputCost: ['gen_ai.usage.input_cost'],
  outputCost: ['gen_ai.usage.output_cost'],
  /** Tried only when neither a total nor an input/output split was sent. */
  otherCost: ['gen_ai.usage.cost', 'llm.cost.total'],
  model: ['gen_ai.response.model', 'gen_ai.request.model', 'llm.model_name'],
  provider: ['gen_ai.provider.name', 'gen_ai.system', 'llm.provider'],
  generationId: ['gen_ai.response.id'],
  userId: ['user.id', 'enduser.id'],
  sessionId: ['session.id', 'gen_ai.conversation.id'],
  apiKeyName: ['trace.metadata.openrouter.api_key_name'],
  traceName: ['trace.name'],
  operation: ['gen_ai.operation.name'],
  openInferenceKind: ['openinference.span.kind'],
} as const;

/** Resource attribute OpenRouter sets to the generation id on every span of a delivery. */
export const OPENROUTER_GENERATION_ID = 'openrouter.trace.id';

export const METADATA_PREFIX = 'trace.metadata.';

/** Operations whose usage is the sum of the LLM calls below them, never a call of their own. */
export const ROLLUP_OPERATIONS = new Set(['invoke_agent', 'create_agent', 'invoke_workflow']);
export const ROLLUP_OPENINFERENCE_KINDS = new Set(['AGENT', 'CHAIN']);

/** The span OpenRouter's "Test Connection" sends; it is a probe, never a span of the ledger. */
export const CONNECTION_TEST_SPAN = 'openrouter-connection-test';

/** Every name whose presence makes a span a candidate generation. */
export const USAGE_NAMES: readonly string[] = [
  ...NAMES.inputTokens,
  ...NAMES.outputTokens,
  ...NAMES.totalTokens,
  ...NAMES.totalCost,
  ...NAMES.inputCost,
  ...NAMES.outputCost,
  ...NAMES.otherCost,
];
