-- A batch's trace locks as a procedure. CALL answers with no rows, so the locks can travel in the
-- query string of the batch's first COPY, after BEGIN: one round trip fewer per batch, with the
-- locks still held before the first row is written. PERFORM runs the query to its end, every lock
-- taken, in ascending order so that concurrent batches lock in one order.
CREATE PROCEDURE lock_traces(keys bigint[])
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(k) FROM unnest(keys) AS k ORDER BY k;
END
$$;
