-- Insert-only counter deltas. A batch's transaction no longer adds its deltas into the shared
-- counter rows of quarter_deltas and live_counts (about two upserts per event, each locking and
-- rewriting a row): it writes them once, as its count_changes row, and marks that row unfolded.
-- One folder at a time (sonar-ingest's counter folder, storage/pg_counter_folder.cc) adds the
-- unfolded rows of many batches into the counter tables in one transaction, summed per key, and
-- removes their marks. The counters are therefore the tables plus the unfolded rows: the two views
-- below give that sum, and every reader reads them. Rows folded before this migration (all
-- counters written by earlier batches) are in the tables already.
CREATE TABLE count_changes_unfolded (
  seq bigint PRIMARY KEY  -- count_changes.seq; the row stays until it is folded
);

CREATE VIEW live_counts_all (municipality_code, cell, n) AS
  SELECT municipality_code, cell, n FROM live_counts
  UNION ALL
  SELECT u.m, u.ce, u.n
  FROM count_changes_unfolded f
  JOIN count_changes c USING (seq)
  CROSS JOIN LATERAL unnest(c.l_codes, c.l_cells, c.l_n) AS u(m, ce, n);

CREATE VIEW quarter_deltas_all (quarter, municipality_code, cell, n) AS
  SELECT quarter, municipality_code, cell, n FROM quarter_deltas
  UNION ALL
  SELECT u.qu, u.m, u.ce, u.n
  FROM count_changes_unfolded f
  JOIN count_changes c USING (seq)
  CROSS JOIN LATERAL unnest(c.q_quarters, c.q_codes, c.q_cells, c.q_n) AS u(qu, m, ce, n);

GRANT SELECT, INSERT, DELETE ON count_changes_unfolded TO sonar_ingest;
GRANT SELECT ON count_changes_unfolded TO sonar_query;
GRANT SELECT ON live_counts_all, quarter_deltas_all TO sonar_ingest, sonar_query;
