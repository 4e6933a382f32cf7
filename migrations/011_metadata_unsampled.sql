-- No statistics for span_usage.metadata: reports group and filter by metadata->>'key', whose plans
-- were the same without them (a report by month and cost centre: only its guess of the number of
-- groups moved, 200 to 1,000), yet sampling the JSON was a third of every ANALYZE of span_usage
-- (embedded: 870-1,200 ms over 250,000 generations, 500-670 without it), which holds the embedded
-- ledger's one session. Statistics of it taken before stay as they were (ANALYZE skips the column).
ALTER TABLE span_usage ALTER COLUMN metadata SET STATISTICS 0;
