-- The walk (004) kept each step's depth, capped at 256, in its rows, so UNION never saw that two
-- paths had reached the same ancestor: every usage span walked its whole way up. A trace whose
-- usage spans form a chain — an agent loop whose every step is a child of the one before — cost
-- its length times its depth: 10,000 such spans took 34 s in one batch on PGlite, holding the
-- writer all the while. Without the depth, UNION drops an ancestor already reached, so each span
-- of a trace is visited at most once, and a cycle of parent ids (a sender's bug) still ends. Nor
-- is an ancestor more than 256 levels above a usage span left unmarked (its usage counted twice).
CREATE OR REPLACE FUNCTION walk_rollups(org_ids bigint[], trace_ids text[]) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
SET jit = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
  WITH RECURSIVE touched AS (
    SELECT * FROM unnest(org_ids, trace_ids) AS t(org_id, trace_id)
  ), up(org_id, trace_id, ancestor) AS (
    SELECT u.org_id, u.trace_id, u.parent_span_id
    FROM span_usage u JOIN touched t ON t.org_id = u.org_id AND t.trace_id = u.trace_id
    WHERE u.parent_span_id IS NOT NULL
    UNION
    SELECT s.org_id, s.trace_id, s.parent_span_id
    FROM up JOIN spans s
      ON s.org_id = up.org_id AND s.trace_id = up.trace_id AND s.span_id = up.ancestor
    WHERE s.parent_span_id IS NOT NULL
  )
  UPDATE span_usage u SET has_usage_below = true
  FROM up
  WHERE u.org_id = up.org_id AND u.trace_id = up.trace_id AND u.span_id = up.ancestor
    AND NOT u.has_usage_below;
END
$$;
