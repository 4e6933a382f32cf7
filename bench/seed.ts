/**
 * npm run seed -- [--generations 1000000] [--days 90] [--org seed]
 *
 * Fills the ledger (DATABASE_URL, or the embedded one in DATA_DIR) with realistic synthetic
 * generations for measuring reports: 12 models over 5 providers, 200 users, 40 cost centres,
 * 2% errors, 1% unpriced, costs with 8 decimals. Rows go straight into span_usage (the source of the
 * `generations` view) in batches, then the table is vacuumed and analysed.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.js';
import { openDatabaseForCli } from '../src/ledger/database.js';
import { migrate } from '../src/ledger/migrate.js';

const { values } = parseArgs({
  options: { generations: { type: 'string', default: '1000000' }, days: { type: 'string', default: '90' }, org: { type: 'string', default: 'seed' } },
});
const total = Number(values.generations);
const days = Number(values.days);
const BATCH = 50_000;

const config = loadConfig();
const ledger = await openDatabaseForCli({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR, poolSize: 2 });
try {
  if (ledger.kind !== 'bridge') await migrate(ledger.db);
  await sql`INSERT INTO orgs (slug) VALUES (${values.org}) ON CONFLICT (slug) DO NOTHING`.execute(ledger.db);
  const org = (await sql<{ id: string }>`SELECT id FROM orgs WHERE slug = ${values.org}`.execute(ledger.db)).rows[0]!.id;
  const salt = randomBytes(4).toString('hex');
  const started = performance.now();
  for (let from = 0; from < total; from += BATCH) {
    const to = Math.min(total, from + BATCH) - 1;
    await sql`
      INSERT INTO span_usage (org_id, trace_id, span_id, role, generation_id, started_at, ended_at,
        latency_ms, model, provider, input_tokens, output_tokens, total_tokens, cached_input_tokens,
        reasoning_tokens, cost_usd, status, user_id, session_id, api_key_name, trace_name, metadata)
      SELECT ${org}, md5(${salt} || i), substr(md5('s' || ${salt} || i), 1, 16), 'generation',
        'gen-seed-' || ${salt} || '-' || i, t, t + latency * interval '1 millisecond', latency,
        (ARRAY['anthropic/claude-haiku-4.5','anthropic/claude-sonnet-4.5','openai/gpt-4o','openai/gpt-4o-mini',
               'openai/o3','google/gemini-2.5-pro','google/gemini-2.5-flash','deepseek/deepseek-v4-flash',
               'deepseek/deepseek-r1','mistralai/mistral-large','meta-llama/llama-4-maverick','anthropic/claude-opus-4.1'])[1 + i % 12],
        split_part((ARRAY['anthropic/','anthropic/','openai/','openai/','openai/','google/','google/','deepseek/',
               'deepseek/','mistralai/','meta-llama/','anthropic/'])[1 + i % 12], '/', 1),
        input, output, input + output, CASE WHEN i % 3 = 0 THEN input / 2 ELSE 0 END, CASE WHEN i % 5 = 0 THEN output / 3 ELSE 0 END,
        CASE WHEN i % 100 = 7 THEN NULL ELSE round((input * 0.000001 + output * 0.000005)::numeric, 8) END,
        CASE WHEN i % 50 = 3 THEN 'error' ELSE 'ok' END,
        'user-' || (i % 200), 'ses-' || (i / 20), (ARRAY['Prod','Staging','Agents','Support'])[1 + i % 4], 'OpenRouter Request',
        jsonb_build_object('cost_center', 'CC-' || (i % 40), 'department', (ARRAY['eng','sales','support','research'])[1 + i % 4],
          'openrouter.provider_name', 'Amazon Bedrock')
      FROM generate_series(${from}::int, ${to}::int) AS i,
        LATERAL (SELECT now() - random() * ${days} * interval '1 day' AS t,
                        (200 + random() * 5000)::int AS latency,
                        (50 + random() * 20000)::int AS input,
                        (10 + random() * 2000)::int AS output) AS r`.execute(ledger.db);
    process.stdout.write(`\r${to + 1} / ${total} generations`);
  }
  process.stdout.write(`\ninserted in ${((performance.now() - started) / 1000).toFixed(1)} s; vacuuming\n`);
  await sql`VACUUM ANALYZE span_usage`.execute(ledger.db);
} finally {
  await ledger.close();
}
