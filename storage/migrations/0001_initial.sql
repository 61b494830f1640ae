-- The event log, per-person histories, live and per-quarter counters, and the quarantine.

-- One row per committed batch; its seq is the ingest position.
CREATE TABLE ingest_batches (
  seq          bigserial PRIMARY KEY,
  stream_id    text        NOT NULL,
  batch_id     numeric(20) NOT NULL,
  accepted     integer     NOT NULL,
  duplicates   integer     NOT NULL,
  rejected     integer     NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Every accepted event, once. (source, event_id) is the idempotency key.
CREATE TABLE events (
  source            text        NOT NULL,
  event_id          text        NOT NULL,
  client_ref        text        NOT NULL,  -- a pseudonym, never a BSN
  occurred_at       timestamptz NOT NULL,
  kind              smallint    NOT NULL,
  municipality_code text        NOT NULL DEFAULT '',
  registrant        smallint    NOT NULL DEFAULT 0,
  batch_seq         bigint      NOT NULL,
  PRIMARY KEY (source, event_id)
);

-- Each person's accepted events in last-writer-wins order (encoded by storage/history_codec).
-- The row is also the lock that serialises batches touching the same person.
CREATE TABLE clients (
  client_ref text  PRIMARY KEY,
  history    bytea NOT NULL DEFAULT ''::bytea
);

-- Live counts by raw residence code and cell (core::Cell). Writers add into their own shard, so
-- concurrent batches do not queue on one hot row; readers sum over shards.
CREATE TABLE live_counts (
  municipality_code text     NOT NULL,
  cell              smallint NOT NULL,
  shard             smallint NOT NULL,
  n                 bigint   NOT NULL,
  PRIMARY KEY (municipality_code, cell, shard)
);

-- Changes of the counts, bucketed by the quarter (year * 4 + quarter - 1, Amsterdam time) in
-- which they happened. The figures at the end of quarter Q are the sum over quarters <= Q.
CREATE TABLE quarter_deltas (
  quarter           integer  NOT NULL,
  municipality_code text     NOT NULL,
  cell              smallint NOT NULL,
  shard             smallint NOT NULL,
  n                 bigint   NOT NULL,
  PRIMARY KEY (quarter, municipality_code, cell, shard)
);

-- Rejected events with their reason, for inspection. The payload is the event as received
-- (protobuf), with a BSN-like client_ref removed before it got here.
CREATE TABLE rejected_events (
  id          bigserial PRIMARY KEY,
  batch_seq   bigint      NOT NULL,
  item_index  integer     NOT NULL,
  source      text        NOT NULL,
  event_id    text        NOT NULL,
  code        text        NOT NULL,
  reason      text        NOT NULL,
  payload     bytea       NOT NULL,
  received_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rejected_events_code ON rejected_events (code, received_at);
