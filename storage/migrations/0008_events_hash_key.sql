-- The events' idempotency key (source, event_id) as a hash exclusion constraint instead of the
-- B-tree primary key. Both are exact: no two rows with equal keys, checked at insert time
-- against concurrent inserters too. The hash index is about half the size of the B-tree on
-- these random-order text keys (2M keys: 9 372 pages against 17 178), so a batch's inserts
-- touch fewer index pages, and fewer of them need a full-page image in the WAL after each
-- checkpoint: at national scale with the server's default settings that is most of the cost
-- of an insert (BENCHMARKS.md, session 6).
--
-- A hash index covers one column, and an index expression cannot be an anonymous record, hence
-- the composite type. Statements must compare ROW(source, event_id)::event_key values to use
-- the index (storage/pg_batch_store.cc); `ON CONFLICT DO NOTHING` (no conflict target) works
-- with the constraint.
--
-- During a rolling update, an ingest process of an earlier release fails the batches that
-- reach its locking path (its `ON CONFLICT (source, event_id)` no longer has a matching
-- constraint: SQLSTATE 42P10) or that collide in its optimistic COPY (23P01, which it does not
-- expect). Those transactions roll back and their producers resend; nothing is counted twice.
-- The ALTER holds an exclusive lock on events while the hash index is built.
CREATE TYPE event_key AS (source text, event_id text);
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD CONSTRAINT events_key
  EXCLUDE USING hash ((ROW(source, event_id)::event_key) WITH =);
