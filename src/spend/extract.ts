import type { AttrValue, Attributes, OtlpSpan } from '../otlp/model.js';
import {
  METADATA_PREFIX,
  NAMES,
  OPENROUTER_GENERATION_ID,
  ROLLUP_OPENINFERENCE_KINDS,
  ROLLUP_OPERATIONS,
  USAGE_NAMES,
} from './attribute-names.js';
import { addDecimals, nanosToMillis, NotAnAmountError, toDecimal } from './decimal.js';

/** What one span says about spend. Token counts are plain numbers: they are integers well under 2^53. */
export interface Usage {
  /** `generation`: an LLM call; `rollup`: an agent or workflow span whose usage sums its children. */
  role: 'generation' | 'rollup';
  generationId: string | null;
  model: string | null;
  provider: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  totalTokens: number | null;
  cachedInputTokens: number | null;
  reasoningTokens: number | null;
  /** Exact decimal USD, or null when the sender reported no cost. */
  costUsd: string | null;
  status: 'ok' | 'error';
  userId: string | null;
  sessionId: string | null;
  apiKeyName: string | null;
  traceName: string | null;
  latencyMs: string;
  metadata: Attributes;
}

/** An attribute the ledger must read as a number holds something else: the span is refused. */
export class UsageError extends Error {}

const STATUS_ERROR = 2;

/**
 * Model, provider and generation id are in the ledger's indexes, and a btree entry holds at most
 * 2,704 bytes: a longer value would fail its write on every retry. Real ones are tens of bytes.
 */
const MAX_MODEL_BYTES = 256;
const MAX_GENERATION_ID_BYTES = 1024;

/** The spend a span carries, or null when it carries no usage or cost at all. */
export function extractUsage(span: OtlpSpan): Usage | null {
  const a = span.attributes;
  if (!USAGE_NAMES.some((name) => a[name] !== undefined)) return null;

  const inputTokens = tokens(a, NAMES.inputTokens);
  const outputTokens = tokens(a, NAMES.outputTokens);
  const sentTotal = tokens(a, NAMES.totalTokens);
  const totalTokens =
    sentTotal ?? (inputTokens === null && outputTokens === null ? null : (inputTokens ?? 0) + (outputTokens ?? 0));

  return {
    role: isRollup(a) ? 'rollup' : 'generation',
    generationId:
      indexedText(a, NAMES.generationId, MAX_GENERATION_ID_BYTES) ??
      indexedText(span.resource.attributes, [OPENROUTER_GENERATION_ID], MAX_GENERATION_ID_BYTES),
    model: indexedText(a, NAMES.model, MAX_MODEL_BYTES),
    provider: indexedText(a, NAMES.provider, MAX_MODEL_BYTES),
    inputTokens,
    outputTokens,
    totalTokens,
    cachedInputTokens: tokens(a, NAMES.cachedInputTokens),
    reasoningTokens: tokens(a, NAMES.reasoningTokens),
    costUsd: cost(a),
    status: span.statusCode === STATUS_ERROR ? 'error' : 'ok',
    userId: text(a, NAMES.userId),
    sessionId: text(a, NAMES.sessionId),
    apiKeyName: text(a, NAMES.apiKeyName),
    traceName: text(a, NAMES.traceName) ?? (span.parentSpanId === null ? span.name : null),
    latencyMs: nanosToMillis(span.startTimeUnixNano, span.endTimeUnixNano),
    metadata: metadata(a),
  };
}

function isRollup(a: Attributes): boolean {
  const op = text(a, NAMES.operation);
  const kind = text(a, NAMES.openInferenceKind);
  return (op !== null && ROLLUP_OPERATIONS.has(op)) || (kind !== null && ROLLUP_OPENINFERENCE_KINDS.has(kind));
}

/**
 * Cost in precedence order: the sender's total, else input + output cost, else a vendor's single
 * cost attribute. Unit prices are rates and never enter here.
 */
function cost(a: Attributes): string | null {
  const total = money(a, NAMES.totalCost);
  if (total !== null) return total;
  const parts = [money(a, NAMES.inputCost), money(a, NAMES.outputCost)].filter((v): v is string => v !== null);
  if (parts.length > 0) return addDecimals(parts);
  return money(a, NAMES.otherCost);
}

function first(a: Attributes, names: readonly string[]): [string, AttrValue] | null {
  for (const name of names) {
    const v = a[name];
    if (v !== undefined && v !== null) return [name, v];
  }
  return null;
}

function text(a: Attributes, names: readonly string[]): string | null {
  const hit = first(a, names);
  if (!hit) return null;
  const [, v] = hit;
  if (typeof v === 'string') return v === '' ? null : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

function indexedText(a: Attributes, names: readonly string[], maxBytes: number): string | null {
  const value = text(a, names);
  if (value === null) return null;
  const bytes = Buffer.byteLength(value);
  if (bytes <= maxBytes) return value;
  const [name] = first(a, names)!;
  throw new UsageError(`${name} must be at most ${maxBytes} bytes long, got ${bytes.toLocaleString('en-US')}`);
}

function tokens(a: Attributes, names: readonly string[]): number | null {
  const hit = first(a, names);
  if (!hit) return null;
  const [name, v] = hit;
  const n = typeof v === 'string' && /^\s*\d+(\.0*)?\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`${name} must be a non-negative integer, got ${JSON.stringify(v).slice(0, 40)}`);
  }
  return n;
}

function money(a: Attributes, names: readonly string[]): string | null {
  const hit = first(a, names);
  if (!hit) return null;
  const [name, v] = hit;
  const refuse = (what: string) => new UsageError(`${name} must be ${what}, got ${JSON.stringify(v).slice(0, 40)}`);
  if (typeof v !== 'number' && typeof v !== 'string') throw refuse('a finite number');
  try {
    return toDecimal(v);
  } catch (err) {
    if (err instanceof NotAnAmountError) throw refuse(err.message);
    throw err;
  }
}

/** Every `trace.metadata.<key>` attribute as `<key>`, its value keeping its JSON type. */
function metadata(a: Attributes): Attributes {
  const out: Attributes = {};
  for (const key of Object.keys(a)) {
    if (key.startsWith(METADATA_PREFIX) && key.length > METADATA_PREFIX.length) {
      out[key.slice(METADATA_PREFIX.length)] = a[key]!;
    }
  }
  return out;
}
