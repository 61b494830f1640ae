-- Room on each page of clients for the next versions of its rows. A person's row is written
-- again for every event of theirs (the history grows by about 35 bytes an event), and a new
-- version that fits on the row's page is a HOT update: no new entry in clients_pkey and no second
-- page changed. With full pages (the default fillfactor, 100) a person's first updates often did
-- not fit, and 82% of the history updates were HOT at national scale; with 70, 93%, and
-- PostgreSQL needed 1-2 us less per event (BENCHMARKS.md, session 13). Applies to the pages
-- filled from now on; existing pages keep their rows where they are. Takes a lock that lets reads
-- and writes go on.
ALTER TABLE clients SET (fillfactor = 70);
