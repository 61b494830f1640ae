-- A batch part's count_changes row holds a few kB of arrays (2.7 kB on average at 200k persons,
-- 500 events a part), so PostgreSQL compresses it when it is written: with pglz, the default,
-- that was about 180 us a row, 1.2% of all CPU samples of a benchmark run. lz4 compresses the
-- same rows in about a quarter of the time and reads them back faster (the query service's feed
-- and the counter folder read every row), at 4.2 kB a row instead of 2.7 kB; rows are pruned
-- within minutes. Only rows written from now on are affected; no rewrite.
-- A server built without lz4 keeps pglz (the ALTER fails with feature_not_supported).
DO $$
BEGIN
  ALTER TABLE count_changes
    ALTER COLUMN q_quarters SET COMPRESSION lz4,
    ALTER COLUMN q_codes SET COMPRESSION lz4,
    ALTER COLUMN q_cells SET COMPRESSION lz4,
    ALTER COLUMN q_n SET COMPRESSION lz4,
    ALTER COLUMN l_codes SET COMPRESSION lz4,
    ALTER COLUMN l_cells SET COMPRESSION lz4,
    ALTER COLUMN l_n SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'lz4 is not supported by this server; count_changes stays compressed with pglz';
END
$$;
