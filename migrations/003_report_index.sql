-- Reports and exports read span_usage by organisation and time. This covering index answers the
-- usual groupings (day/week/month × model/provider) by an index-only scan, and orders exports by
-- (started_at, trace_id, span_id) for keyset paging.
DROP INDEX span_usage_started;
CREATE INDEX span_usage_report ON span_usage (org_id, started_at, trace_id, span_id)
  INCLUDE (role, has_usage_below, model, provider, status, input_tokens, output_tokens, total_tokens,
           cached_input_tokens, reasoning_tokens, cost_usd);
