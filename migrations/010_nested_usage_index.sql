-- mark_rollups (006) probes each touched trace for a usage span that has a parent. With span_usage
-- analysed while it held one row, org_id looked unique to the planner, and it probed through
-- span_usage_generation by org_id alone, reading every row of the organisation for each trace:
-- a batch of 20,000 new traces took 90 s (1.7 s otherwise), holding the writer all the while.
-- This index holds only such spans (none of OpenRouter's: their root carries the usage), so the
-- probe is the smallest index there is, whatever the statistics say.
CREATE INDEX span_usage_nested ON span_usage (org_id, trace_id) WHERE parent_span_id IS NOT NULL;
