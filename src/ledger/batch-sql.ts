import type { BulkStatements, BulkTransaction } from './bulk-transaction.js';
import type { WriteRequest } from './ledger-writer.js';

// The SQL around a batch's rows: what the ledger already holds of them, the trace locks, and the
// roll-up marking.

/** A span (`id` trace, `sub` span) or a generation id the ledger already holds. */
export type HeldKey = { kind: 'span' | 'generation'; org_id: string; id: string; sub: string | null };

/** Which of the batch's spans and generation ids the ledger already holds. */
export function heldKeys(tx: BulkTransaction, batch: WriteRequest[]): Promise<HeldKey[]> {
  const spans = { orgIds: [] as string[], traceIds: [] as string[], spanIds: [] as string[] };
  const generations = { orgIds: [] as string[], ids: [] as string[] };
  for (const req of batch) {
    for (const s of req.spans) {
      spans.orgIds.push(req.orgId);
      spans.traceIds.push(s.traceId);
      spans.spanIds.push(s.spanId);
      if (s.generationId) {
        generations.orgIds.push(req.orgId);
        generations.ids.push(s.generationId);
      }
    }
  }
  return tx.query<HeldKey>(
    // LATERAL … LIMIT 1 keeps this a probe of the primary key per row: a join would let the
    // planner hash a whole table that is still small.
    `SELECT 'span' AS kind, k.org_id::text, k.trace_id AS id, k.span_id AS sub
       FROM unnest($1::bigint[], $2::text[], $3::text[]) AS k(org_id, trace_id, span_id)
       CROSS JOIN LATERAL (SELECT FROM spans s
         WHERE s.org_id = k.org_id AND s.trace_id = k.trace_id AND s.span_id = k.span_id LIMIT 1) AS s
     UNION ALL
     SELECT 'generation', g.org_id::text, g.generation_id, NULL
       FROM unnest($4::bigint[], $5::text[]) AS g(org_id, generation_id)
       CROSS JOIN LATERAL (SELECT FROM span_usage u
         WHERE u.org_id = g.org_id AND u.generation_id = g.generation_id LIMIT 1) AS u`,
    [spans.orgIds, spans.traceIds, spans.spanIds, generations.orgIds, generations.ids],
  );
}

interface BatchKeys {
  traces: { orgIds: string[]; traceIds: string[] };
  /** One advisory-lock key per touched trace, ascending, so that transactions lock in one order. */
  lockKeys: string[];
}

function batchKeys(batch: WriteRequest[]): BatchKeys {
  const traces = new Map<string, { orgId: string; traceId: string }>();
  for (const req of batch) {
    for (const s of req.spans) traces.set(`${req.orgId}/${s.traceId}`, { orgId: req.orgId, traceId: s.traceId });
  }
  const lockKeys = [...new Set([...traces.values()].map((t) => lockKey(t.orgId, t.traceId)))];
  lockKeys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    traces: { orgIds: [...traces.values()].map((t) => t.orgId), traceIds: [...traces.values()].map((t) => t.traceId) },
    lockKeys: lockKeys.map(String),
  };
}

/** A trace's advisory-lock key: 64 bits of its (random) trace id, mixed with the organisation. */
export function lockKey(orgId: string, traceId: string): bigint {
  return BigInt.asIntN(64, BigInt(`0x${traceId.slice(0, 16)}`) ^ BigInt(orgId));
}

/**
 * The statements around a batch's rows, with the batch's keys inlined as literals (they are sent
 * without parameters). Only checked values are inlined: decimal organisation ids and lock keys,
 * and trace ids the decoder has checked to be 32 hex digits — asserted again here, since a slip
 * would be an injection.
 */
export function lockAndRollupStatements(batch: WriteRequest[]): BulkStatements {
  const keys = batchKeys(batch);
  const lockKeys = arrayLiteral(keys.lockKeys, /^-?\d+$/, 'bigint');
  const orgIds = arrayLiteral(keys.traces.orgIds, /^\d+$/, 'bigint');
  const traceIds = arrayLiteral(keys.traces.traceIds, /^[0-9a-f]{32}$/, 'text');
  return {
    // Transactions touching the same trace take turns, so that a parent and its child arriving in
    // two concurrent batches still see each other when roll-ups are marked. Taken before the first
    // row is written, in one order (migrations/007_lock_traces_procedure.sql).
    opening: `CALL lock_traces(${lockKeys})`,
    closing: markRollups(orgIds, traceIds),
  };
}

function arrayLiteral(values: string[], shape: RegExp, type: 'bigint' | 'text'): string {
  for (const v of values) if (!shape.test(v)) throw new Error(`refusing to inline ${JSON.stringify(v)} into SQL`);
  return `'{${values.join(',')}}'::${type}[]`;
}

/** Marks the roll-ups among the touched traces' spans (migrations/004_mark_rollups_function.sql). */
function markRollups(orgIds: string, traceIds: string): string {
  return `SELECT mark_rollups(${orgIds}, ${traceIds})`;
}
