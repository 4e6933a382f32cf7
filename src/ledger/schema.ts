import type { ColumnType, Generated } from 'kysely';

/** Kysely's view of the tables in migrations/. Numeric and bigint columns come back as strings. */
export interface DB {
  orgs: {
    id: Generated<string>;
    slug: string;
    created_at: Generated<Date>;
  };
  api_keys: {
    org_id: string;
    id: string;
    name: string;
    scope: 'ingest' | 'read';
    key_prefix: string;
    key_hash: Buffer;
    created_at: Generated<Date>;
    last_used_at: Date | null;
    last_tested_at: Date | null;
    revoked_at: Date | null;
  };
  schema_migrations: {
    name: string;
    applied_at: Generated<Date>;
  };
  span_content: {
    org_id: string;
    trace_id: string;
    span_id: string;
    received_at: ColumnType<Date, never, never>;
  };
  generations: GenerationsView;
  daily_spend: DailySpendView;
}

export interface GenerationsView {
  org: string;
  org_id: string;
  generation_id: string | null;
  trace_id: string;
  span_id: string;
  started_at: Date;
  ended_at: Date;
  latency_ms: string;
  model: string | null;
  provider: string | null;
  input_tokens: string | null;
  output_tokens: string | null;
  total_tokens: string | null;
  cached_input_tokens: string | null;
  reasoning_tokens: string | null;
  cost_usd: string | null;
  status: 'ok' | 'error';
  user_id: string | null;
  session_id: string | null;
  api_key_name: string | null;
  trace_name: string | null;
  metadata: Record<string, unknown>;
  received_at: Date;
}

export interface DailySpendView {
  org: string;
  org_id: string;
  day: string;
  model: string | null;
  provider: string | null;
  requests: string;
  errors: string;
  unpriced: string;
  input_tokens: string;
  output_tokens: string;
  total_tokens: string;
  cached_input_tokens: string;
  reasoning_tokens: string;
  cost_usd: string | null;
}
