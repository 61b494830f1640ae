-- An unfolded mark needs its count_changes row until it is folded: deleting the row first would
-- lose the batch's counts. sonar-ingest's folder never does (it prunes folded rows only), but an
-- ingest process of a release before 0006, still running during a rolling update, prunes every
-- row older than 10 minutes; with this key that DELETE fails (and its batch is retried) instead.
ALTER TABLE count_changes_unfolded
  ADD CONSTRAINT count_changes_unfolded_seq_fkey
  FOREIGN KEY (seq) REFERENCES count_changes (seq) ON DELETE RESTRICT;
