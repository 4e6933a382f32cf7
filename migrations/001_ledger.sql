-- The ledger: organisations, their API keys, every received span, and the spend each span carries.
-- Every table holding tenant data has org_id first in its primary key (ready to distribute by org).
-- The high-volume tables carry no foreign key to orgs: their org_id always comes from a verified
-- key, and a per-row referential check would cost more than the insert itself.

CREATE TABLE orgs (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  org_id          bigint NOT NULL REFERENCES orgs (id),
  id              uuid NOT NULL,
  name            text NOT NULL,
  scope           text NOT NULL CHECK (scope IN ('ingest', 'read')),
  -- The first characters of the key, safe to show, so that people can tell their keys apart.
  key_prefix      text NOT NULL,
  -- SHA-256 of the whole key; the key itself is never stored.
  key_hash        bytea NOT NULL UNIQUE,
  created_at      timestamptz NOT NULL DEFAULT now(),
  last_used_at    timestamptz,
  last_tested_at  timestamptz,
  revoked_at      timestamptz,
  PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX api_keys_id ON api_keys (id);

-- Every span as the sender sent it, less prompt and completion content (see span_content).
-- The bulky detail is `json`, not `jsonb`: kept exactly as written and about three times cheaper to
-- insert; finance reads the typed columns of span_usage, and `::jsonb` serves the odd forensic query.
CREATE TABLE spans (
  org_id                bigint NOT NULL,
  trace_id              text NOT NULL,
  span_id               text NOT NULL,
  parent_span_id        text,
  api_key_id            uuid NOT NULL,
  name                  text NOT NULL,
  kind                  smallint NOT NULL,
  start_time_unix_nano  bigint NOT NULL,
  end_time_unix_nano    bigint NOT NULL,
  started_at            timestamptz NOT NULL,
  ended_at              timestamptz NOT NULL,
  status_code           smallint NOT NULL,
  status_message        text NOT NULL,
  trace_state           text NOT NULL,
  flags                 bigint NOT NULL,
  attributes            json NOT NULL,
  events                json NOT NULL,
  links                 json NOT NULL,
  dropped               json NOT NULL,
  resource              json NOT NULL,
  scope                 json NOT NULL,
  received_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, trace_id, span_id)
);

-- Prompt and completion content, kept only when LEDGER_STORE_CONTENT=true.
CREATE TABLE span_content (
  org_id       bigint NOT NULL,
  trace_id     text NOT NULL,
  span_id      text NOT NULL,
  attributes   json NOT NULL,
  events       json NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, trace_id, span_id)
);
CREATE INDEX span_content_received ON span_content (received_at);

-- One row per span that carries usage or cost, extracted when it arrives.
CREATE TABLE span_usage (
  org_id               bigint NOT NULL,
  trace_id             text NOT NULL,
  span_id              text NOT NULL,
  parent_span_id       text,
  -- 'rollup': an agent/workflow span whose usage sums the LLM calls below it.
  role                 text NOT NULL CHECK (role IN ('generation', 'rollup')),
  -- Set once a descendant span in the same trace is seen to carry usage too.
  has_usage_below      boolean NOT NULL DEFAULT false,
  generation_id        text,
  started_at           timestamptz NOT NULL,
  ended_at             timestamptz NOT NULL,
  latency_ms           numeric NOT NULL,
  model                text,
  provider             text,
  input_tokens         bigint,
  output_tokens        bigint,
  total_tokens         bigint,
  cached_input_tokens  bigint,
  reasoning_tokens     bigint,
  cost_usd             numeric,
  status               text NOT NULL CHECK (status IN ('ok', 'error')),
  user_id              text,
  session_id           text,
  api_key_name         text,
  trace_name           text,
  metadata             jsonb NOT NULL,
  received_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, trace_id, span_id)
);
-- The same generation re-sent under other span ids is counted once per organisation.
CREATE UNIQUE INDEX span_usage_generation ON span_usage (org_id, generation_id);
CREATE INDEX span_usage_started ON span_usage (org_id, started_at);
