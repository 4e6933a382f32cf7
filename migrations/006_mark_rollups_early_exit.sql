-- Roll-up marking walks up from the touched traces' usage spans that have a parent. OpenRouter's
-- never have one (the root carries all usage), so for its deliveries the walk finds nothing; yet
-- planning it made the call cost ~180 µs a batch beyond a bare round trip (pgbench, 1 or 16
-- traces), more than the rows of a small batch. A primary-key probe per touched trace now looks for
-- such a span first (~70 µs), and the walk runs only when there is one: the same marks, since the
-- walk starts from exactly those spans.
CREATE OR REPLACE FUNCTION mark_rollups(org_ids bigint[], trace_ids text[]) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
SET jit = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
  IF NOT EXISTS (
    SELECT FROM unnest(org_ids, trace_ids) AS t(org_id, trace_id)
    CROSS JOIN LATERAL (SELECT FROM span_usage u
      WHERE u.org_id = t.org_id AND u.trace_id = t.trace_id AND u.parent_span_id IS NOT NULL LIMIT 1) AS u
  ) THEN
    RETURN;
  END IF;
  WITH RECURSIVE touched AS (
    SELECT * FROM unnest(org_ids, trace_ids) AS t(org_id, trace_id)
  ), up(org_id, trace_id, ancestor, depth) AS (
    SELECT u.org_id, u.trace_id, u.parent_span_id, 1
    FROM span_usage u JOIN touched t ON t.org_id = u.org_id AND t.trace_id = u.trace_id
    WHERE u.parent_span_id IS NOT NULL
    UNION
    SELECT s.org_id, s.trace_id, s.parent_span_id, up.depth + 1
    FROM up JOIN spans s
      ON s.org_id = up.org_id AND s.trace_id = up.trace_id AND s.span_id = up.ancestor
    WHERE s.parent_span_id IS NOT NULL AND up.depth < 256
  )
  UPDATE span_usage u SET has_usage_below = true
  FROM up
  WHERE u.org_id = up.org_id AND u.trace_id = up.trace_id AND u.span_id = up.ancestor
    AND NOT u.has_usage_below;
END
$$;
