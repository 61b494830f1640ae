-- Published quarters: each revision's figures, frozen as they were mapped and named at
-- publication, so a revision never changes whatever arrives later (or whatever reference-data
-- correction is made later).
CREATE TABLE publications (
  quarter          integer     NOT NULL,  -- year * 4 + quarter - 1
  revision         integer     NOT NULL,
  published_at     timestamptz NOT NULL,
  ingest_position  bigint      NOT NULL,  -- highest ingest_batches.seq in the snapshot
  batches_included bigint      NOT NULL,
  PRIMARY KEY (quarter, revision)
);

CREATE TABLE publication_figures (
  quarter                  integer  NOT NULL,
  revision                 integer  NOT NULL,
  region                   smallint NOT NULL,
  region_name              text     NOT NULL,
  region_cbs_code          text     NOT NULL,
  municipality_code        text     NOT NULL,
  municipality_name        text     NOT NULL,
  position                 smallint NOT NULL,  -- publication order within the region
  gemeente_with_profile    bigint   NOT NULL,
  gemeente_without_profile bigint   NOT NULL,
  uwv_with_profile         bigint   NOT NULL,
  uwv_without_profile      bigint   NOT NULL,
  register_only            bigint   NOT NULL,
  sonar_only               bigint   NOT NULL,
  PRIMARY KEY (quarter, revision, region, position),
  FOREIGN KEY (quarter, revision) REFERENCES publications
);
