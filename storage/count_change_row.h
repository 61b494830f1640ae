// A count_changes row (migration 0004) as read back by the read model's feed and the counter
// folder: the arrays come as text and are parsed here, in the reader's process, instead of being
// unnested into one result row per element by PostgreSQL.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pqxx {
class row;
}

namespace sonar::storage {

struct CountChangeRow {
  std::vector<int64_t> q_quarters, q_cells, q_n;  // quarter deltas, parallel arrays
  std::vector<std::string> q_codes;
  std::vector<int64_t> l_cells, l_n;  // live deltas, parallel arrays
  std::vector<std::string> l_codes;
};

// The columns (q_quarters, q_codes, q_cells, q_n, l_codes, l_cells, l_n), in that order, starting
// at column `first` of `row`. DATA_LOSS when they do not parse or their lengths differ.
[[nodiscard]] absl::StatusOr<CountChangeRow> DecodeCountChange(const pqxx::row& row, int first);

// The select list for DecodeCountChange.
inline constexpr const char* kCountChangeColumns =
    "q_quarters, q_codes, q_cells, q_n, l_codes, l_cells, l_n";

}  // namespace sonar::storage
