import Big from 'big.js';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from '../ledger/schema.js';
import type { Dimension, ReportParams } from './report-params.js';

export const METRIC_COLUMNS = [
  'requests',
  'errors',
  'unpriced',
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'reasoning_tokens',
  'cost_usd',
] as const;

export type ReportRow = Record<string, string | null>;

export interface SpendReport {
  org: string;
  from: string;
  to: string;
  by: Dimension[];
  rows: ReportRow[];
  totals: ReportRow;
}

/** The SQL of one grouping dimension, over span_usage. */
function dimension(d: Dimension): RawBuilder<string | null> {
  switch (d) {
    case 'day':
      return sql`to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`;
    case 'week':
      return sql`to_char(date_trunc('week', started_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')`;
    case 'month':
      return sql`to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM')`;
    case 'model':
      return sql`model`;
    case 'provider':
      return sql`provider`;
    case 'user':
      return sql`user_id`;
    case 'session':
      return sql`session_id`;
    case 'api_key':
      return sql`api_key_name`;
    default:
      return sql`metadata ->> ${d.slice('meta.'.length)}`;
  }
}

/**
 * Spend grouped by the requested dimensions for one organisation. Reads span_usage with the same
 * conditions as the `generations` view, so its figures are the view's figures; the covering index
 * `span_usage_report` answers the usual groupings without touching the table.
 */
export async function spendReport(db: Kysely<DB>, org: { id: string; slug: string }, params: ReportParams): Promise<SpendReport> {
  const dims = params.by.map((d, i) => sql`${dimension(d)} AS ${sql.ref(`d${i}`)}`);
  const groupBy = params.by.length > 0 ? sql`GROUP BY ${sql.join(params.by.map((_, i) => sql.raw(String(i + 1))))}` : sql``;
  const orderBy = params.by.length > 0 ? sql`ORDER BY ${sql.join(params.by.map((_, i) => sql.raw(`${i + 1} NULLS LAST`)))}` : sql``;
  const result = await sql<Record<string, string | null>>`
    SELECT ${sql.join([...dims, sql`count(*)::text AS requests`])},
      count(*) FILTER (WHERE status = 'error')::text AS errors,
      count(*) FILTER (WHERE cost_usd IS NULL AND COALESCE(total_tokens, 0) > 0)::text AS unpriced,
      COALESCE(sum(input_tokens), 0)::text AS input_tokens,
      COALESCE(sum(output_tokens), 0)::text AS output_tokens,
      COALESCE(sum(cached_input_tokens), 0)::text AS cached_input_tokens,
      COALESCE(sum(reasoning_tokens), 0)::text AS reasoning_tokens,
      sum(cost_usd)::text AS cost_usd
    FROM span_usage
    WHERE org_id = ${org.id} AND role = 'generation' AND NOT has_usage_below
      AND started_at >= ${params.from.toISOString()}::timestamptz AND started_at < ${params.to.toISOString()}::timestamptz
    ${groupBy}
    ${orderBy}`.execute(db);

  const rows = result.rows
    .filter((r) => params.by.length > 0 || r.requests !== '0')
    .map((r) => {
      const row: ReportRow = {};
      params.by.forEach((d, i) => (row[d] = r[`d${i}`] ?? null));
      for (const m of METRIC_COLUMNS) row[m] = m === 'cost_usd' ? money(r[m] ?? null) : (r[m] ?? '0');
      return row;
    });
  return { org: org.slug, from: params.from.toISOString(), to: params.to.toISOString(), by: params.by, rows, totals: totalsOf(rows) };
}

/** Exact totals: integer counts as BigInt, money as decimals; NULL money stays NULL only if all rows are. */
export function totalsOf(rows: ReportRow[]): ReportRow {
  const totals: ReportRow = {};
  for (const m of METRIC_COLUMNS) {
    if (m === 'cost_usd') {
      const priced = rows.map((r) => r.cost_usd).filter((v): v is string => v !== null);
      totals[m] = priced.length === 0 ? null : priced.reduce((s, v) => s.plus(v), new Big(0)).toFixed();
    } else {
      totals[m] = rows.reduce((s, r) => s + BigInt(r[m] ?? '0'), 0n).toString();
    }
  }
  return totals;
}

/** Postgres's numeric text with the trailing zeros of summed scales removed (0.240 → 0.24). */
function money(v: string | null): string | null {
  return v === null ? null : new Big(v).toFixed();
}
