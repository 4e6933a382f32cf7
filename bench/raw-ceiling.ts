import { loadConfig } from '../src/config.js';
import { openDatabase, type OwnLedgerDatabase } from '../src/ledger/database.js';
import { LedgerWriter, type WriteRequest } from '../src/ledger/ledger-writer.js';
import { SPAN_COLUMNS, USAGE_COLUMNS } from '../src/ledger/copy-rows.js';
import { migrate } from '../src/ledger/migrate.js';
import { createKey } from '../src/auth/key-store.js';
import { prepareDelivery } from '../src/ingest/prepare-delivery.js';
import { CompiledQuery, sql } from 'kysely';

const ROWS_PER_INSERT = 1_000;

export interface Ceiling {
  deliveriesPerSecond: number;
  spansPerSecond: number;
}

export type LedgerLocation = { databaseUrl?: string; dataDir: string };

/**
 * Opens a fresh ledger, prepares the bodies' rows for it, lets `prepare` turn them into what it
 * will send (untimed), and times the write it returns.
 */
async function timed(
  ledger: LedgerLocation,
  bodies: Buffer[],
  prepare: (db: OwnLedgerDatabase, requests: WriteRequest[], spans: number) => Promise<() => Promise<void>>,
): Promise<Ceiling> {
  // Written as the server under test writes (the same LEDGER_* settings reach both).
  const writeFlushAfterKb = loadConfig(process.env).LEDGER_WRITE_FLUSH_AFTER_KB;
  const db = await openDatabase({ databaseUrl: ledger.databaseUrl, dataDir: ledger.dataDir, poolSize: 4, writeFlushAfterKb });
  try {
    await migrate(db.db);
    const key = await createKey(db.db, { org: 'raw-ceiling', scope: 'ingest' });
    const row = await sql<{ org_id: string }>`SELECT org_id FROM api_keys WHERE id = ${key.id}`.execute(db.db);
    const orgId = row.rows[0]!.org_id;
    const requests: WriteRequest[] = bodies.map((body) => ({
      orgId,
      spans: prepareDelivery({ body, encoding: 'json', orgId, apiKeyId: key.id, storeContent: false, maxSpans: Infinity }).spans,
    }));
    const spans = requests.reduce((n, r) => n + r.spans.length, 0);
    const write = await prepare(db, requests, spans);
    const started = performance.now();
    await write();
    const seconds = (performance.now() - started) / 1000;
    return { deliveriesPerSecond: requests.length / seconds, spansPerSecond: spans / seconds };
  } finally {
    await db.close();
  }
}

/**
 * The raw ceiling as the throughput issue defines it: the same rows written straight to the
 * database by one multi-row INSERT per 1,000 rows (`INSERT … SELECT FROM unnest(…)`, one array per
 * column, each a statement of its own, one after another; its parameters built before the clock
 * starts) — no HTTP, no decoding, no deduplication or roll-up marking.
 */
export function rawInsertCeiling(ledger: LedgerLocation, bodies: Buffer[]): Promise<Ceiling> {
  return timed(ledger, bodies, async (db, requests) => {
    const spans = requests.flatMap((r) => r.spans);
    const tables = [
      { table: 'spans', columns: SPAN_COLUMNS, rows: spans.map((s) => s.spanRow) },
      { table: 'span_usage', columns: USAGE_COLUMNS, rows: spans.flatMap((s) => (s.usageRow ? [s.usageRow] : [])) },
    ];
    const statements: CompiledQuery[] = [];
    for (const { table, columns, rows } of tables) {
      // Each column as one array of its own type, so that a statement has as many parameters as
      // the table has columns, not one per value.
      const types = await sql<{ column_name: string; udt_name: string }>`SELECT column_name, udt_name
        FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${table}`.execute(db.db);
      const typeOf = new Map(types.rows.map((t) => [t.column_name, t.udt_name]));
      const arrays = columns.map((c, i) => `$${i + 1}::${typeOf.get(c)}[]`).join(', ');
      const text = `INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM unnest(${arrays})`;
      for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
        const chunk = rows.slice(i, i + ROWS_PER_INSERT).map(copyFields);
        statements.push(CompiledQuery.raw(text, columns.map((_, c) => chunk.map((fields) => fields[c]))));
      }
    }
    return async () => {
      for (const statement of statements) await db.db.executeQuery(statement);
    };
  });
}

/**
 * The ledger writer's own ceiling for these rows: the same writer (COPY, one transaction per
 * ~1,000 spans) run straight from this process on rows prepared beforehand — no HTTP, no
 * decoding, no waiting for senders. COPY is cheaper than any INSERT, so this ceiling is higher.
 */
export function writerCeiling(ledger: LedgerLocation, bodies: Buffer[]): Promise<Ceiling> {
  return timed(ledger, bodies, async (db, requests, spans) => {
    const perRequest = spans / requests.length;
    const writer = new LedgerWriter(db.bulkTransaction, { maxItems: Math.max(1, Math.round(ROWS_PER_INSERT / perRequest)), maxWaitMs: 0, maxInFlight: 1 });
    return async () => {
      await Promise.all(requests.map((r) => writer.write(r)));
    };
  });
}

const UNESCAPE: Record<string, string> = { n: '\n', r: '\r', t: '\t' };
const UTF8 = new TextDecoder();

/** A COPY text line's fields as values for parameters: `\N` is null, escapes undone. */
function copyFields(row: Uint8Array): (string | null)[] {
  return UTF8.decode(row)
    .slice(0, -1)
    .split('\t')
    .map((f) => (f === '\\N' ? null : f.replace(/\\(.)/g, (_, ch: string) => UNESCAPE[ch] ?? ch)));
}
