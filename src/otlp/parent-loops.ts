import type { DecodedTraces, Rejection } from './model.js';

/** Loop members named in one rejection's message; a longer loop ends with "…". */
const NAMED = 4;

/**
 * Refuses the spans of a request whose parent ids lead back to themselves (a → b → a), as a span
 * its own parent is refused: each would count as the roll-up of the others' usage, and the
 * loop's spend would be counted nowhere. A span hanging below a loop is kept. Only a loop closed
 * within one request is seen here; one closed across requests is not (README, "How spend is
 * counted").
 */
export function refuseParentLoops(decoded: DecodedTraces): DecodedTraces {
  // Keyed by trace id (32 hex characters) and span id together.
  const parentOf = new Map<string, string>();
  for (const s of decoded.spans) if (s.parentSpanId !== null) parentOf.set(s.traceId + s.spanId, s.traceId + s.parentSpanId);
  // A loop takes two spans with parents at least (a span its own parent is refused before this).
  if (parentOf.size < 2) return decoded;

  // Each walk goes up from a span until it meets a span walked before: one of its own walk's
  // closes a loop. Every span is walked once.
  const loops = new Map<string, string[]>();
  const walkOf = new Map<string, number>();
  let walk = 0;
  for (const start of parentOf.keys()) {
    walk++;
    let at: string | undefined = start;
    while (at !== undefined && !walkOf.has(at)) {
      walkOf.set(at, walk);
      at = parentOf.get(at);
    }
    if (at === undefined || walkOf.get(at) !== walk) continue;
    const loop = [at];
    for (let next = parentOf.get(at)!; next !== at; next = parentOf.get(next)!) loop.push(next);
    for (const member of loop) loops.set(member, loop);
  }
  if (loops.size === 0) return decoded;

  const rejected: Rejection[] = [...decoded.rejected];
  const spans = decoded.spans.filter((s) => {
    const loop = loops.get(s.traceId + s.spanId);
    if (loop === undefined) return true;
    rejected.push({ reason: 'invalid_parent_span_id', message: `span ${s.spanId}: its parent chain loops back to it (${describeLoop(loop, s.traceId + s.spanId)})` });
    return false;
  });
  return { spans, rejected };
}

/** The loop as span ids, each followed by its parent, from `from` round to it again: "b → a → b". */
function describeLoop(loop: string[], from: string): string {
  const at = loop.indexOf(from);
  const ids = [...loop.slice(at), ...loop.slice(0, at)].map((k) => k.slice(32));
  const named = ids.length > NAMED ? [...ids.slice(0, NAMED), '…'] : ids;
  return [...named, ids[0]].join(' → ');
}
