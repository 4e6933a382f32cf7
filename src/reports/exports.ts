import { setImmediate } from 'node:timers/promises';
import { stringify } from 'csv-stringify/sync';
import { sql, type Kysely, type QueryResult, type RawBuilder } from 'kysely';
import type { DB } from '../ledger/schema.js';
import type { ReportWindow } from './report-params.js';
import { spreadsheetText } from './spreadsheet-text.js';

export type ExportFormat = 'csv' | 'focus';

const PAGE = 1_000;
const ISO_US = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

/**
 * A pass of the event loop between an export's queries. PGlite answers in promise callbacks alone:
 * without it, no delivery arriving meanwhile could ask for a turn at its one session until the
 * export ended.
 */
const makeWayForDeliveries = () => setImmediate();

/** One row per generation: the `generations` view's columns. */
export const GENERATION_COLUMNS = [
  'org', 'generation_id', 'trace_id', 'span_id', 'started_at', 'ended_at', 'latency_ms', 'model', 'provider',
  'input_tokens', 'output_tokens', 'total_tokens', 'cached_input_tokens', 'reasoning_tokens', 'cost_usd', 'status',
  'user_id', 'session_id', 'api_key_name', 'trace_name', 'metadata', 'received_at',
] as const;

/** The columns whose text the sender chose (the rest are ids, times, numbers, or JSON objects). */
const SENDER_TEXT = new Set<string>(['generation_id', 'model', 'provider', 'user_id', 'session_id', 'api_key_name', 'trace_name']);

/**
 * Streams the generations of a window as CSV, a page at a time by keyset (started_at, trace_id,
 * span_id), so memory stays flat however large the ledger is, on Postgres and PGlite alike.
 */
export async function* generationsCsv(db: Kysely<DB>, orgId: string, window: ReportWindow): AsyncGenerator<string> {
  yield stringify([GENERATION_COLUMNS as unknown as string[]]);
  let after: { t: string; trace: string; span: string } | null = null;
  for (;;) {
    const keyset: RawBuilder<unknown> = after
      ? sql`AND (started_at, trace_id, span_id) > (${after.t}::timestamptz, ${after.trace}, ${after.span})`
      : sql``;
    const page: QueryResult<Record<string, string | null>> = await sql<Record<string, string | null>>`
      SELECT org, generation_id, trace_id, span_id,
        to_char(started_at AT TIME ZONE 'UTC', ${sql.raw(ISO_US)}) AS started_at,
        to_char(ended_at AT TIME ZONE 'UTC', ${sql.raw(ISO_US)}) AS ended_at,
        latency_ms::text, model, provider, input_tokens::text, output_tokens::text, total_tokens::text,
        cached_input_tokens::text, reasoning_tokens::text, cost_usd::text, status, user_id, session_id,
        api_key_name, trace_name, metadata::text AS metadata,
        to_char(received_at AT TIME ZONE 'UTC', ${sql.raw(ISO_US)}) AS received_at
      FROM generations
      WHERE org_id = ${orgId}
        AND started_at >= ${window.from.toISOString()}::timestamptz AND started_at < ${window.to.toISOString()}::timestamptz
        ${keyset}
      ORDER BY generations.started_at, generations.trace_id, generations.span_id
      LIMIT ${PAGE}`.execute(db);
    if (page.rows.length === 0) return;
    yield stringify(page.rows.map((r) => GENERATION_COLUMNS.map((c) => (SENDER_TEXT.has(c) ? spreadsheetText(r[c] ?? null) : (r[c] ?? '')))));
    const last: Record<string, string | null> = page.rows[page.rows.length - 1]!;
    after = { t: last.started_at!, trace: last.trace_id!, span: last.span_id! };
    if (page.rows.length < PAGE) return;
    await makeWayForDeliveries();
  }
}

/**
 * FinOps FOCUS 1.2 columns: the Mandatory ones, then the Conditional/Recommended ones that apply
 * to metered LLM usage. Costs are exact decimals in USD.
 */
export const FOCUS_COLUMNS = [
  'BilledCost', 'BillingAccountId', 'BillingAccountName', 'BillingCurrency', 'BillingPeriodEnd', 'BillingPeriodStart',
  'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ChargePeriodEnd', 'ChargePeriodStart', 'ContractedCost',
  'EffectiveCost', 'InvoiceIssuerName', 'ListCost', 'PricingQuantity', 'PricingUnit', 'ProviderName', 'PublisherName',
  'ServiceCategory', 'ServiceName',
  'ChargeFrequency', 'ConsumedQuantity', 'ConsumedUnit', 'PricingCategory', 'ServiceSubcategory', 'SkuId', 'Tags',
  'x_Requests', 'x_Errors', 'x_UnpricedRequests', 'x_InputTokens', 'x_OutputTokens', 'x_CachedInputTokens', 'x_ReasoningTokens',
] as const;

const DAY_MS = 86_400_000;

/**
 * One FOCUS row per UTC day × model × provider. Tags holds the `trace.metadata` keys (other than
 * OpenRouter's own) whose value is the same on every generation of the row.
 *
 * Read a day at a time (each day's rows stand alone), skipping days without spend: as one query, a
 * window of a few million generations outran the 30 s statement timeout, and on PGlite it held the
 * one session, and so every delivery, for as long as it ran.
 */
export async function* focusCsv(db: Kysely<DB>, orgId: string, window: ReportWindow): AsyncGenerator<string> {
  yield stringify([FOCUS_COLUMNS as unknown as string[]]);
  for (let day = await nextDayWithSpend(db, orgId, window.from, window.to); day; ) {
    const next = new Date(day.getTime() + DAY_MS);
    const rows = await focusRows(db, orgId, {
      from: day < window.from ? window.from : day,
      to: next > window.to ? window.to : next,
    });
    if (rows.length > 0) yield stringify(rows);
    if (next >= window.to) return;
    await makeWayForDeliveries();
    day = await nextDayWithSpend(db, orgId, next, window.to);
  }
}

/** The UTC midnight that starts the first day of [from, to) with a usage row, or null: one index probe. */
async function nextDayWithSpend(db: Kysely<DB>, orgId: string, from: Date, to: Date): Promise<Date | null> {
  const { rows } = await sql<{ day: string }>`
    SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day FROM span_usage
    WHERE org_id = ${orgId} AND started_at >= ${from.toISOString()}::timestamptz AND started_at < ${to.toISOString()}::timestamptz
    ORDER BY started_at LIMIT 1`.execute(db);
  return rows[0] ? new Date(`${rows[0].day}T00:00:00Z`) : null;
}

/** The FOCUS rows of a window, each a list of FOCUS_COLUMNS values. */
async function focusRows(db: Kysely<DB>, orgId: string, window: ReportWindow): Promise<string[][]> {
  const result = await sql<Record<string, string | null>>`
    WITH g AS (
      SELECT (started_at AT TIME ZONE 'UTC')::date AS day, COALESCE(model, 'unknown') AS model,
        COALESCE(provider, 'unknown') AS provider, org, status, cost_usd, input_tokens, output_tokens,
        total_tokens, cached_input_tokens, reasoning_tokens,
        (SELECT COALESCE(jsonb_object_agg(k, v), '{}') FROM jsonb_each(metadata) AS m(k, v)
          WHERE k NOT LIKE 'openrouter.%') AS tags
      FROM generations
      WHERE org_id = ${orgId}
        AND started_at >= ${window.from.toISOString()}::timestamptz AND started_at < ${window.to.toISOString()}::timestamptz
    ), totals AS (
      SELECT day, model, provider, min(org) AS org, count(*) AS requests,
        count(*) FILTER (WHERE status = 'error') AS errors,
        count(*) FILTER (WHERE cost_usd IS NULL AND COALESCE(total_tokens, 0) > 0) AS unpriced,
        COALESCE(sum(cost_usd), 0) AS cost, COALESCE(sum(total_tokens), 0) AS tokens,
        COALESCE(sum(input_tokens), 0) AS input_tokens, COALESCE(sum(output_tokens), 0) AS output_tokens,
        COALESCE(sum(cached_input_tokens), 0) AS cached_input_tokens, COALESCE(sum(reasoning_tokens), 0) AS reasoning_tokens
      FROM g GROUP BY day, model, provider
    ), common AS (
      SELECT day, model, provider, jsonb_object_agg(k, v) AS tags FROM (
        SELECT g.day, g.model, g.provider, e.k, min(e.v::text)::jsonb AS v, count(*) AS n, count(DISTINCT e.v) AS kinds
        FROM g, jsonb_each(g.tags) AS e(k, v) GROUP BY 1, 2, 3, 4
      ) per_key
      JOIN totals USING (day, model, provider)
      WHERE kinds = 1 AND n = totals.requests
      GROUP BY day, model, provider
    )
    SELECT t.*, COALESCE(c.tags, '{}')::text AS tags,
      to_char(date_trunc('month', t.day), 'YYYY-MM-DD"T"00:00:00"Z"') AS period_start,
      to_char(date_trunc('month', t.day) + interval '1 month', 'YYYY-MM-DD"T"00:00:00"Z"') AS period_end,
      to_char(t.day, 'YYYY-MM-DD"T"00:00:00"Z"') AS charge_start,
      to_char(t.day + 1, 'YYYY-MM-DD"T"00:00:00"Z"') AS charge_end,
      trim_scale(t.cost)::text AS cost_text
    FROM totals t LEFT JOIN common c USING (day, model, provider)
    ORDER BY t.day, t.model, t.provider`.execute(db);

  return result.rows.map((r) => {
    const cost = r.cost_text!;
    const model = spreadsheetText(r.model!);
    const focus: Record<(typeof FOCUS_COLUMNS)[number], string> = {
      BilledCost: cost,
      BillingAccountId: r.org!,
      BillingAccountName: r.org!,
      BillingCurrency: 'USD',
      BillingPeriodEnd: r.period_end!,
      BillingPeriodStart: r.period_start!,
      ChargeCategory: 'Usage',
      ChargeClass: '',
      ChargeDescription: `LLM usage of ${r.model} (${r.provider}): ${r.requests} requests, ${r.tokens} tokens`,
      ChargePeriodEnd: r.charge_end!,
      ChargePeriodStart: r.charge_start!,
      ContractedCost: cost,
      EffectiveCost: cost,
      InvoiceIssuerName: 'OpenRouter',
      ListCost: cost,
      PricingQuantity: r.tokens!,
      PricingUnit: 'Tokens',
      ProviderName: 'OpenRouter',
      PublisherName: spreadsheetText(r.provider!),
      ServiceCategory: 'AI and Machine Learning',
      ServiceName: model,
      ChargeFrequency: 'Usage-Based',
      ConsumedQuantity: r.tokens!,
      ConsumedUnit: 'Tokens',
      PricingCategory: 'Standard',
      ServiceSubcategory: 'Generative AI',
      SkuId: model,
      Tags: r.tags!,
      x_Requests: r.requests!,
      x_Errors: r.errors!,
      x_UnpricedRequests: r.unpriced!,
      x_InputTokens: r.input_tokens!,
      x_OutputTokens: r.output_tokens!,
      x_CachedInputTokens: r.cached_input_tokens!,
      x_ReasoningTokens: r.reasoning_tokens!,
    };
    return FOCUS_COLUMNS.map((c) => focus[c]);
  });
}

export function exportStream(db: Kysely<DB>, format: ExportFormat, orgId: string, window: ReportWindow): AsyncGenerator<string> {
  return format === 'focus' ? focusCsv(db, orgId, window) : generationsCsv(db, orgId, window);
}
