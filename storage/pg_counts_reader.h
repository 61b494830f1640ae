// Reads counter totals for the query path. Not thread-safe: one reader per worker thread; it
// uses (does not own) its worker's connection.
#pragma once

#include <functional>
#include <pqxx/pqxx>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/figures.h"
#include "core/time.h"
#include "storage/pg_connection.h"

namespace sonar::storage {

struct CountsSnapshot {
  std::vector<core::CounterRow> rows;  // summed by raw residence code and cell
  core::Instant as_of{};               // database clock at the read
};

class PgCountsReader final {
 public:
  explicit PgCountsReader(PgConnection& connection);

  // Live totals of the given raw codes (all codes when `codes` is empty).
  [[nodiscard]] absl::StatusOr<CountsSnapshot> LiveCounts(std::span<const std::string> codes);

  // Totals at the end of the quarter with index `quarter_index`: the sum of the deltas of that
  // quarter and every earlier one (all codes when `codes` is empty).
  [[nodiscard]] absl::StatusOr<CountsSnapshot> QuarterCounts(int quarter_index,
                                                             std::span<const std::string> codes);

 private:
  // Runs `query` in a read-only transaction; its rows are (code, cell, n, clock µs).
  [[nodiscard]] absl::StatusOr<CountsSnapshot> Read(
      const std::function<pqxx::result(pqxx::transaction_base&)>& query);

  PgConnection& connection_;
};

}  // namespace sonar::storage
