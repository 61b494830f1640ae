-- sonar-ingest partitions persons across its workers: a request is committed as one transaction
-- per worker that has events for it (its "parts"), each with its own ingest_batches row (and so
-- its own seq, count_changes row and NOTIFY). The row records which part of how many it is;
-- accepted/duplicates/rejected are the part's own, so a request's figures are the sum over its
-- rows with the same (stream_id, batch_id, parts). Rows written before this migration are whole
-- requests (part 0 of 1).
ALTER TABLE ingest_batches
  ADD COLUMN part  smallint NOT NULL DEFAULT 0,
  ADD COLUMN parts smallint NOT NULL DEFAULT 1;

-- Column privileges follow the table grants of 0003 (sonar_ingest: SELECT, INSERT;
-- sonar_query: SELECT); restated here so this migration is self-contained.
GRANT SELECT, INSERT ON ingest_batches TO sonar_ingest;
GRANT SELECT ON ingest_batches TO sonar_query;
