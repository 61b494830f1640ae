// Folds the counter deltas that batches wrote insert-only (their count_changes rows marked in
// count_changes_unfolded, see migration 0006) into quarter_deltas and live_counts, summed per
// key, and prunes change-feed rows nobody needs any more. One fold runs at a time per database
// (an advisory lock; a second folder skips), so the counter rows have a single writer. Readers
// are correct before and after a fold: they read the views that add the unfolded rows.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "storage/pg_connection.h"

namespace sonar::storage {

struct FoldResult {
  bool skipped = false;      // another folder held the lock; nothing done
  int64_t batches = 0;       // count_changes rows folded
  int64_t quarter_rows = 0;  // quarter_deltas rows inserted or updated
  int64_t live_rows = 0;     // live_counts rows inserted or updated
};

// Not thread-safe: one per thread (it owns one connection).
class PgCounterFolder final {
 public:
  explicit PgCounterFolder(std::string database_url);

  // Folds the oldest `max_batches` rows unfolded when it starts (all of them if fewer), in one
  // transaction; FoldResult::batches == max_batches means there may be more.
  [[nodiscard]] absl::StatusOr<FoldResult> FoldOnce(int64_t max_batches = kMaxBatchesPerFold);

  static constexpr int64_t kMaxBatchesPerFold = 4096;

  // Deletes folded count_changes rows committed more than `retention` ago (the query service's
  // read model fetches a row within moments of its NOTIFY; a feed that falls further behind
  // reloads from a snapshot). Returns how many rows were deleted.
  [[nodiscard]] absl::StatusOr<int64_t> Prune(std::chrono::seconds retention);

 private:
  PgConnection connection_;
};

}  // namespace sonar::storage
