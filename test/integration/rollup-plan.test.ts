import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { sql } from 'kysely';
import { startTestServer, type TestServer } from '../support/test-server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

const ROWS = 10_000;
const TRACES = 256;
/** Before the fix, at 5,000 traces the planner still took the primary key; at 10,000, not. */
const TRACES_NEW = 10_000;

describe('roll-up marking on a ledger that has grown', () => {
  it('probes the primary keys and scans no table whole, on a connection that began while the ledger was empty', async () => {
    await server.ledger.db.connection().execute(async (conn) => {
      // A batch's worth of traces: with many, a planner that guesses rather than knows the rows
      // per trace prefers hashing a whole table to probing its index once per trace.
      const mark = () => sql`SELECT mark_rollups(
        ARRAY(SELECT 1::bigint FROM generate_series(1, ${sql.lit(TRACES)})),
        ARRAY(SELECT md5(i::text) FROM generate_series(1, ${sql.lit(TRACES)}) AS i))`.execute(conn);
      // Postgres settles on one plan for a function's statement after its first five calls; made
      // while the tables were empty, such a plan would scan them whole however far they grow
      // (migrations/005_mark_rollups_plan.sql).
      for (let i = 0; i < 10; i++) await mark();

      // Each trace: a root span and its child, both with usage, so that a call walks up from the
      // child to the root and marks the root's usage row as a roll-up.
      await sql`INSERT INTO spans (org_id, trace_id, span_id, parent_span_id, api_key_id, name, kind,
          start_time_unix_nano, end_time_unix_nano, started_at, ended_at, status_code, status_message,
          trace_state, flags, attributes, events, links, dropped, resource, scope)
        SELECT 1, md5(i::text), left(md5(i::text || c.kind), 16),
          CASE WHEN c.kind = 'child' THEN left(md5(i::text || 'root'), 16) END,
          gen_random_uuid(), 'LLM Generation', 1, 0, 0, now(), now(), 0, '', '', 0,
          '{}', '[]', '[]', '{}', '{}', '{}'
        FROM generate_series(1, ${ROWS}) AS i, (VALUES ('root'), ('child')) AS c(kind)`.execute(conn);
      await sql`INSERT INTO span_usage (org_id, trace_id, span_id, parent_span_id, role, started_at,
          ended_at, latency_ms, status, metadata)
        SELECT org_id, trace_id, span_id, parent_span_id, 'generation', now(), now(), 1, 'ok', '{}'
        FROM spans`.execute(conn);

      // The scans of one call: the difference of this backend's counts around it, read in one
      // transaction (pg_stat_xact_user_tables also holds counts not yet flushed from before).
      const seqScans = async () =>
        (await sql<{ relname: string; seq_scan: string }>`
          SELECT relname, seq_scan::text FROM pg_stat_xact_user_tables
          WHERE schemaname = current_schema() AND relname IN ('spans', 'span_usage') ORDER BY relname`.execute(conn)).rows.map((r) => [r.relname, Number(r.seq_scan)] as const);
      await sql`BEGIN`.execute(conn);
      try {
        const before = await seqScans();
        await mark();
        const after = await seqScans();
        expect(after.map(([name, n], i) => [name, n - before[i]![1]])).toEqual([
          ['span_usage', 0],
          ['spans', 0],
        ]);
        // Marked: the roots of the traces in the call (the first and the last), not of the others.
        const roots = await sql<{ n: string; has_usage_below: boolean }>`
          SELECT n::text, has_usage_below FROM span_usage
          JOIN (VALUES (1), (${sql.lit(TRACES)}), (${sql.lit(TRACES + 1)})) AS v(n) ON trace_id = md5(n::text)
          WHERE parent_span_id IS NULL ORDER BY n`.execute(conn);
        expect(roots.rows).toEqual([
          { n: '1', has_usage_below: true },
          { n: String(TRACES), has_usage_below: true },
          { n: String(TRACES + 1), has_usage_below: false },
        ]);
      } finally {
        await sql`ROLLBACK`.execute(conn);
      }
    });
  });

  it('probes by trace however the statistics were taken: analysed with one row, org_id looks unique', async () => {
    // A ledger of its own: the test above leaves dead rows behind, which ANALYZE would count.
    const fresh = await startTestServer();
    onTestFinished(() => fresh.stop());
    await fresh.ledger.db.connection().execute(async (conn) => {
      const usage = (org: number, from: number, to: number) => sql`INSERT INTO span_usage (org_id, trace_id, span_id, role,
          generation_id, started_at, ended_at, latency_ms, status, metadata)
        SELECT ${sql.lit(org)}, md5(${sql.lit(org)} || '-' || i), left(md5(i::text), 16), 'generation', 'gen-' || i, now(), now(), 1, 'ok', '{}'
        FROM generate_series(${sql.lit(from)}, ${sql.lit(to)}) AS i`.execute(conn);
      await usage(1, 1, 1);
      // As the embedded maintenance once did, and a DBA might, while the ledger is nearly empty.
      await sql`ANALYZE span_usage`.execute(conn);
      const fetched = async () =>
        Number((await sql<{ n: string }>`SELECT idx_tup_fetch::text AS n FROM pg_stat_xact_user_tables
          WHERE schemaname = current_schema() AND relname = 'span_usage'`.execute(conn)).rows[0]!.n);
      await sql`BEGIN`.execute(conn);
      try {
        // A new organisation's first batch: traces whose usage spans are roots, as OpenRouter's.
        await usage(2, 1, TRACES_NEW);
        const before = await fetched();
        await sql`SELECT mark_rollups(ARRAY(SELECT 2::bigint FROM generate_series(1, ${sql.lit(TRACES_NEW)})),
          ARRAY(SELECT md5('2-' || i) FROM generate_series(1, ${sql.lit(TRACES_NEW)}) AS i))`.execute(conn);
        // At most a row per trace. Through span_usage_generation by org_id alone, each trace's
        // probe read every row of the organisation: 100,000,000 for 10,000 traces (83 s for 20,000).
        expect((await fetched()) - before).toBeLessThanOrEqual(TRACES_NEW);
      } finally {
        await sql`ROLLBACK`.execute(conn);
      }
    });
  });
});
