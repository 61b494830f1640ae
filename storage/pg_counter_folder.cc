#include "storage/pg_counter_folder.h"

#include <pqxx/pqxx>

#include "storage/pg_status.h"

namespace sonar::storage {
namespace {

constexpr const char* kTryLock = "SELECT pg_try_advisory_xact_lock(hashtext('sonar.fold'))";

// Takes every mark visible now (a batch committing meanwhile stays unfolded until the next fold),
// sums the marked rows' deltas per key and adds them in key order. The counter tables and the
// marks change in one transaction, so a reader of the *_all views sees each batch exactly once.
constexpr const char* kFold = R"sql(
WITH taken AS (
  DELETE FROM count_changes_unfolded RETURNING seq
), changes AS MATERIALIZED (
  SELECT c.q_quarters, c.q_codes, c.q_cells, c.q_n, c.l_codes, c.l_cells, c.l_n
  FROM count_changes c JOIN taken USING (seq)
), quarters AS (
  INSERT INTO quarter_deltas AS q (quarter, municipality_code, cell, shard, n)
  SELECT u.qu, u.m, u.ce, 0, sum(u.n)::int8
  FROM changes c CROSS JOIN LATERAL unnest(c.q_quarters, c.q_codes, c.q_cells, c.q_n)
       AS u(qu, m, ce, n)
  GROUP BY 1, 2, 3 HAVING sum(u.n) <> 0 ORDER BY 1, 2, 3
  ON CONFLICT (quarter, municipality_code, cell, shard) DO UPDATE SET n = q.n + EXCLUDED.n
  RETURNING 1
), lives AS (
  INSERT INTO live_counts AS l (municipality_code, cell, shard, n)
  SELECT u.m, u.ce, 0, sum(u.n)::int8
  FROM changes c CROSS JOIN LATERAL unnest(c.l_codes, c.l_cells, c.l_n) AS u(m, ce, n)
  GROUP BY 1, 2 HAVING sum(u.n) <> 0 ORDER BY 1, 2
  ON CONFLICT (municipality_code, cell, shard) DO UPDATE SET n = l.n + EXCLUDED.n
  RETURNING 1
)
SELECT (SELECT count(*) FROM taken), (SELECT count(*) FROM quarters), (SELECT count(*) FROM lives)
)sql";

constexpr const char* kPrune = R"sql(
DELETE FROM count_changes c
WHERE c.committed_at < clock_timestamp() - $1 * interval '1 second'
  AND NOT EXISTS (SELECT 1 FROM count_changes_unfolded f WHERE f.seq = c.seq))sql";

}  // namespace

PgCounterFolder::PgCounterFolder(std::string database_url) : connection_(std::move(database_url)) {}

absl::StatusOr<FoldResult> PgCounterFolder::FoldOnce() {
  try {
    pqxx::work tx(connection_.Get());
    FoldResult result;
    if (!tx.exec1(kTryLock)[0].as<bool>()) {
      result.skipped = true;
      return result;  // rolled back, which releases nothing: the lock was not taken
    }
    const pqxx::row row = tx.exec1(kFold);
    result.batches = row[0].as<int64_t>();
    result.quarter_rows = row[1].as<int64_t>();
    result.live_rows = row[2].as<int64_t>();
    tx.commit();
    return result;
  } catch (...) {
    absl::Status status = StatusFromCurrentException();
    if (absl::IsUnavailable(status)) connection_.Reset();
    return status;
  }
}

absl::StatusOr<int64_t> PgCounterFolder::Prune(std::chrono::seconds retention) {
  try {
    pqxx::work tx(connection_.Get());
    const pqxx::result deleted = tx.exec_params0(kPrune, static_cast<int64_t>(retention.count()));
    tx.commit();
    return static_cast<int64_t>(deleted.affected_rows());
  } catch (...) {
    absl::Status status = StatusFromCurrentException();
    if (absl::IsUnavailable(status)) connection_.Reset();
    return status;
  }
}

}  // namespace sonar::storage
