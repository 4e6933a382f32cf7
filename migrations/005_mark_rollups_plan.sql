-- Roll-up marking touches a handful of rows per call, through the primary keys, however large the
-- ledger grows. Left to itself the planner did otherwise, twice:
-- - PL/pgSQL settled, after a session's first five calls, on one generic plan made for the tables
--   as they were then; on a ledger that starts empty it scanned span_usage and spans whole in every
--   call, and a batch of 2 ms took 50–100 ms once the ledger held 124,000 deliveries. So the
--   statement is planned in every call (it is still parsed once per session; planning is ~0.2 ms).
-- - Without statistics (a new ledger, or autovacuum off or behind) it guesses dozens of usage rows
--   per trace, so that on a big ledger the guessed cost passes `jit_above_cost`: LLVM compiled the
--   statement in every call (42 ms of CPU at 800,000 deliveries, where the call itself takes 0.1 ms),
--   and it chose a hash join over a whole-table scan of span_usage for the final update (not run
--   only because the bench's usage spans have no parents). Hash and merge joins and JIT are
--   therefore off inside this function: its every join is a nested loop over a primary-key probe.
ALTER FUNCTION mark_rollups(bigint[], text[])
  SET plan_cache_mode = force_custom_plan
  SET jit = off
  SET enable_hashjoin = off
  SET enable_mergejoin = off;
