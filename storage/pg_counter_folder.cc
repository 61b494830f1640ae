#include "storage/pg_counter_folder.h"

#include <map>
#include <pqxx/pqxx>
#include <tuple>

#include "storage/binary_array.h"
#include "storage/count_change_row.h"
#include "storage/pg_status.h"

namespace sonar::storage {
namespace {

constexpr const char* kTryLock = "SELECT pg_try_advisory_xact_lock(hashtext('sonar.fold'))";

// Takes every mark visible now (a batch committing meanwhile stays unfolded until the next fold)
// and returns the marked rows' deltas; FoldOnce sums them per key and adds the sums in key order.
// The counter tables and the marks change in one transaction, so a reader of the *_all views
// sees each batch exactly once.
constexpr const char* kTakeUnfolded = R"sql(
WITH taken AS (
  DELETE FROM count_changes_unfolded
  WHERE seq IN (SELECT seq FROM count_changes_unfolded ORDER BY seq LIMIT $1)
  RETURNING seq
)
SELECT c.seq IS NULL, q_quarters, q_codes, q_cells, q_n, l_codes, l_cells, l_n
FROM taken LEFT JOIN count_changes c USING (seq))sql";

constexpr const char* kAddQuarters = R"sql(
INSERT INTO quarter_deltas AS q (quarter, municipality_code, cell, shard, n)
SELECT qu, m, ce, 0, n FROM unnest($1::int4[], $2::text[], $3::int2[], $4::int8[])
     AS u(qu, m, ce, n)
ON CONFLICT (quarter, municipality_code, cell, shard) DO UPDATE SET n = q.n + EXCLUDED.n)sql";

constexpr const char* kAddLive = R"sql(
INSERT INTO live_counts AS l (municipality_code, cell, shard, n)
SELECT m, ce, 0, n FROM unnest($1::text[], $2::int2[], $3::int8[]) AS u(m, ce, n)
ON CONFLICT (municipality_code, cell, shard) DO UPDATE SET n = l.n + EXCLUDED.n)sql";

constexpr const char* kPrune = R"sql(
DELETE FROM count_changes c
WHERE c.committed_at < clock_timestamp() - $1 * interval '1 second'
  AND NOT EXISTS (SELECT 1 FROM count_changes_unfolded f WHERE f.seq = c.seq))sql";

}  // namespace

PgCounterFolder::PgCounterFolder(std::string database_url) : connection_(std::move(database_url)) {}

absl::StatusOr<FoldResult> PgCounterFolder::FoldOnce(int64_t max_batches) {
  try {
    pqxx::work tx(connection_.Get());
    FoldResult result;
    if (!tx.exec1(kTryLock)[0].as<bool>()) {
      result.skipped = true;
      return result;  // rolled back, which releases nothing: the lock was not taken
    }
    std::map<std::tuple<int64_t, std::string, int64_t>, int64_t> quarters;
    std::map<std::pair<std::string, int64_t>, int64_t> live;
    for (const auto& row : tx.exec_params(kTakeUnfolded, max_batches)) {
      if (row[0].as<bool>()) {
        // Cannot happen while the foreign key of migration 0007 holds; never fold a mark away
        // without its deltas (rolled back).
        return absl::DataLossError("count_changes_unfolded: a marked batch has no change row");
      }
      auto change = DecodeCountChange(row, 1);
      if (!change.ok()) return change.status();
      for (size_t i = 0; i < change->q_n.size(); ++i) {
        quarters[{change->q_quarters[i], std::move(change->q_codes[i]), change->q_cells[i]}] +=
            change->q_n[i];
      }
      for (size_t i = 0; i < change->l_n.size(); ++i) {
        live[{std::move(change->l_codes[i]), change->l_cells[i]}] += change->l_n[i];
      }
      ++result.batches;
    }
    BinaryArray qq(PgElement::kInt4), qm(PgElement::kText), qc(PgElement::kInt2),
        qn(PgElement::kInt8);
    for (const auto& [key, n] : quarters) {
      if (n == 0) continue;
      qq.Add(std::get<0>(key));
      qm.Add(std::get<1>(key));
      qc.Add(std::get<2>(key));
      qn.Add(n);
      ++result.quarter_rows;
    }
    BinaryArray lm(PgElement::kText), lc(PgElement::kInt2), ln(PgElement::kInt8);
    for (const auto& [key, n] : live) {
      if (n == 0) continue;
      lm.Add(key.first);
      lc.Add(key.second);
      ln.Add(n);
      ++result.live_rows;
    }
    if (result.quarter_rows > 0) {
      tx.exec_params0(kAddQuarters, qq.Param(), qm.Param(), qc.Param(), qn.Param());
    }
    if (result.live_rows > 0) tx.exec_params0(kAddLive, lm.Param(), lc.Param(), ln.Param());
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
