-- 007 takes one advisory lock per touched trace. Postgres keeps every lock in one shared table
-- (max_locks_per_transaction × max_connections entries: 6,400 by default), so a batch touching
-- tens of thousands of traces — an OpenTelemetry Collector's batch of unrelated requests, say —
-- failed with "out of shared memory", however often it was retried. Every batch now first takes
-- an "all traces" lock in shared mode; one touching more than 1,000 traces takes it exclusively
-- instead of its trace locks, so it waits for the batches in flight and they wait for it. The
-- two-key form keeps that lock apart from every one-key trace lock.
CREATE OR REPLACE PROCEDURE lock_traces(keys bigint[])
LANGUAGE plpgsql
AS $$
BEGIN
  IF cardinality(keys) > 1000 THEN
    PERFORM pg_advisory_xact_lock(1001, 8);
  ELSE
    PERFORM pg_advisory_xact_lock_shared(1001, 8);
    PERFORM pg_advisory_xact_lock(k) FROM unnest(keys) AS k ORDER BY k;
  END IF;
END
$$;
