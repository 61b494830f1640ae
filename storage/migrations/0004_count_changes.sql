-- The counters' change feed: one row per committed batch with the deltas it added to
-- quarter_deltas and live_counts (summed over nothing: exactly the batch's own deltas), written
-- in the batch's transaction. The NOTIFY on sonar_counts carries the batch's seq; the query
-- service fetches the row and applies it to its in-memory read model. Rows are only needed for
-- seconds; writers delete rows older than the retention (see PgBatchStore).
CREATE TABLE count_changes (
  seq          bigint      PRIMARY KEY,  -- ingest_batches.seq
  committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  q_quarters   int4[]      NOT NULL,
  q_codes      text[]      NOT NULL,
  q_cells      int2[]      NOT NULL,
  q_n          int8[]      NOT NULL,
  l_codes      text[]      NOT NULL,
  l_cells      int2[]      NOT NULL,
  l_n          int8[]      NOT NULL
);
CREATE INDEX count_changes_committed_at ON count_changes (committed_at);

GRANT SELECT, INSERT, DELETE ON count_changes TO sonar_ingest;
GRANT SELECT ON count_changes TO sonar_query;
