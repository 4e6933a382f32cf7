-- The stable reporting surface finance queries (see README: "SQL reporting surface").

CREATE VIEW generations AS
SELECT
  o.slug                AS org,
  u.generation_id,
  u.trace_id,
  u.span_id,
  u.started_at,
  u.ended_at,
  u.latency_ms,
  u.model,
  u.provider,
  u.input_tokens,
  u.output_tokens,
  u.total_tokens,
  u.cached_input_tokens,
  u.reasoning_tokens,
  u.cost_usd,
  u.status,
  u.user_id,
  u.session_id,
  u.api_key_name,
  COALESCE(
    u.trace_name,
    (SELECT s.name FROM spans s
      WHERE s.org_id = u.org_id AND s.trace_id = u.trace_id AND s.parent_span_id IS NULL
      ORDER BY s.start_time_unix_nano LIMIT 1)
  )                     AS trace_name,
  u.metadata,
  u.received_at,
  u.org_id
FROM span_usage u
JOIN orgs o ON o.id = u.org_id
WHERE u.role = 'generation' AND NOT u.has_usage_below;

CREATE VIEW daily_spend AS
SELECT
  org,
  (started_at AT TIME ZONE 'UTC')::date                                    AS day,
  model,
  provider,
  count(*)                                                                 AS requests,
  count(*) FILTER (WHERE status = 'error')                                 AS errors,
  count(*) FILTER (WHERE cost_usd IS NULL AND COALESCE(total_tokens, 0) > 0) AS unpriced,
  COALESCE(sum(input_tokens), 0)                                           AS input_tokens,
  COALESCE(sum(output_tokens), 0)                                          AS output_tokens,
  COALESCE(sum(total_tokens), 0)                                           AS total_tokens,
  COALESCE(sum(cached_input_tokens), 0)                                    AS cached_input_tokens,
  COALESCE(sum(reasoning_tokens), 0)                                       AS reasoning_tokens,
  sum(cost_usd)                                                            AS cost_usd,
  org_id
FROM generations
GROUP BY org_id, org, day, model, provider;
