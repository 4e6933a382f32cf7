-- Roll-up marking walks up from the touched traces' usage spans that have a parent. OpenRouter's
-- never have one (the root carries all usage), so for its deliveries the walk finds nothing; yet
-- planning it made the call cost ~180 µs a batch beyond a bare round trip (pgbench, 1 or 16
-- traces), more than the rows of a small batch. The walk (004, with 005's settings) becomes
-- walk_rollups, and mark_rollups first probes the primary key of each touched trace for such a
-- span (~70 µs), walking only when there is one: the same marks, since the walk starts from
-- exactly those spans.
ALTER FUNCTION mark_rollups(bigint[], text[]) RENAME TO walk_rollups;

-- Planned in every call, with nested loops only, for the reasons 005 gives.
CREATE FUNCTION mark_rollups(org_ids bigint[], trace_ids text[]) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
SET jit = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
  IF EXISTS (
    SELECT FROM unnest(org_ids, trace_ids) AS t(org_id, trace_id)
    CROSS JOIN LATERAL (SELECT FROM span_usage u
      WHERE u.org_id = t.org_id AND u.trace_id = t.trace_id AND u.parent_span_id IS NOT NULL LIMIT 1) AS u
  ) THEN
    PERFORM walk_rollups(org_ids, trace_ids);
  END IF;
END
$$;
