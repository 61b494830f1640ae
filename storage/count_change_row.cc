#include "storage/count_change_row.h"

#include <pqxx/pqxx>
#include <string_view>

#include "storage/sql_array.h"

namespace sonar::storage {

absl::StatusOr<CountChangeRow> DecodeCountChange(const pqxx::row& row, int first) {
  auto text = [&](int i) {
    const pqxx::field f = row[first + i];
    return std::string_view(f.c_str(), f.size());
  };
  CountChangeRow out;
  const bool parsed = ParseIntArray(text(0), out.q_quarters) &&
                      ParseIntArray(text(2), out.q_cells) && ParseIntArray(text(3), out.q_n) &&
                      ParseIntArray(text(5), out.l_cells) && ParseIntArray(text(6), out.l_n);
  out.q_codes = ParseTextArray(text(1));
  out.l_codes = ParseTextArray(text(4));
  const size_t q = out.q_quarters.size(), l = out.l_cells.size();
  if (!parsed || out.q_codes.size() != q || out.q_cells.size() != q || out.q_n.size() != q ||
      out.l_codes.size() != l || out.l_n.size() != l) {
    return absl::DataLossError("count_changes: a row's arrays do not parse or do not match");
  }
  return out;
}

}  // namespace sonar::storage
