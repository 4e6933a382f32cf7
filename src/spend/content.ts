import type { Attributes, OtlpEvent } from '../otlp/model.js';

/** Prompt and completion attributes: what a user typed and what a model answered. */
const CONTENT_KEYS = new Set([
  'gen_ai.prompt',
  'gen_ai.completion',
  'gen_ai.input.messages',
  'gen_ai.output.messages',
  'gen_ai.system_instructions',
  'gen_ai.tool.call.arguments',
  'gen_ai.tool.call.result',
  'span.input',
  'span.output',
  'input.value',
  'output.value',
  'traceloop.entity.input',
  'traceloop.entity.output',
  'langfuse.observation.input',
  'langfuse.observation.output',
]);

/** Indexed forms, e.g. `gen_ai.prompt.0.content` (older conventions) or OpenInference messages. */
const CONTENT_PREFIXES = ['gen_ai.prompt.', 'gen_ai.completion.', 'llm.input_messages.', 'llm.output_messages.', 'llm.prompts.'];

export function isContentKey(key: string): boolean {
  if (CONTENT_KEYS.has(key)) return true;
  // `<key>.truncated` flags say that content was cut; they are not content themselves.
  if (key.endsWith('.truncated')) return false;
  return CONTENT_PREFIXES.some((p) => key.startsWith(p));
}

export interface SplitAttributes {
  kept: Attributes;
  content: Attributes | null;
}

export function splitContent(attributes: Attributes): SplitAttributes {
  let content: Attributes | null = null;
  let kept = attributes;
  for (const key of Object.keys(attributes)) {
    if (!isContentKey(key)) continue;
    if (content === null) {
      content = {};
      kept = { ...attributes };
    }
    content[key] = attributes[key]!;
    delete kept[key];
  }
  return { kept, content };
}

export interface SplitEvents {
  kept: OtlpEvent[];
  /** Content of each event that had any, by the event's index. */
  content: { index: number; name: string; attributes: Attributes }[];
}

export function splitEventContent(events: OtlpEvent[]): SplitEvents {
  const out: SplitEvents = { kept: [], content: [] };
  events.forEach((event, index) => {
    const split = splitContent(event.attributes);
    if (split.content) {
      out.content.push({ index, name: event.name, attributes: split.content });
      out.kept.push({ ...event, attributes: split.kept });
    } else {
      out.kept.push(event);
    }
  });
  return out;
}
