-- Least privilege: group roles for the two services. Operators create login roles that are
-- members of these (CREATE ROLE ingest_svc LOGIN PASSWORD '...' IN ROLE sonar_ingest) and give
-- each service its own URL; only migrations (sonar-ingest --migrate-only, or the first start)
-- need the schema owner. Neither service role may change the schema.
-- Roles are cluster-wide: another database of the cluster may create them at the same moment.
DO $$
BEGIN
  BEGIN
    CREATE ROLE sonar_ingest NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
  BEGIN
    CREATE ROLE sonar_query NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
END
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO sonar_ingest, sonar_query;
GRANT SELECT ON schema_migrations TO sonar_ingest, sonar_query;

-- The write path: events, histories, counters, quarantine, batch records. No access to
-- publications.
GRANT SELECT, INSERT ON events, ingest_batches TO sonar_ingest;
GRANT SELECT, INSERT, UPDATE ON clients, live_counts, quarter_deltas TO sonar_ingest;
GRANT INSERT ON rejected_events TO sonar_ingest;
GRANT USAGE, SELECT ON SEQUENCE ingest_batches_seq_seq, rejected_events_id_seq TO sonar_ingest;

-- The read path: counters and batch positions read-only; publications also written (frozen
-- revisions are only ever inserted). No access to events, histories or the quarantine.
GRANT SELECT ON live_counts, quarter_deltas, ingest_batches TO sonar_query;
GRANT SELECT, INSERT ON publications, publication_figures TO sonar_query;
