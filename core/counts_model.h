// The counters as the query service keeps them in memory: live totals and per-quarter deltas by
// raw residence code and cell. Built from a snapshot of the counters and kept current by applying
// each committed batch's changes (the change feed).
// Answers the same rows PgCountsReader reads from the database, without a database round trip.
// A value type; not thread-safe (the owner guards it).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/client_state.h"
#include "core/figures.h"

namespace sonar::core {

class CountsModel final {
 public:
  void AddLive(std::string_view code, Cell cell, int64_t n);
  void AddQuarter(int quarter_index, std::string_view code, Cell cell, int64_t n);

  // Live totals of every code (rows with n == 0 left out).
  [[nodiscard]] std::vector<CounterRow> LiveRows() const;
  // Totals at the end of the quarter `quarter_index`: the sum of its deltas and all earlier
  // quarters' (rows with n == 0 left out).
  [[nodiscard]] std::vector<CounterRow> QuarterRows(int quarter_index) const;

  // Distinct codes seen; for tests and logs.
  [[nodiscard]] size_t code_count() const { return codes_.size(); }
  [[nodiscard]] size_t quarter_count() const { return quarters_.size(); }

 private:
  using Cells = std::array<int64_t, kCellCount>;
  [[nodiscard]] size_t CodeIndex(std::string_view code);
  [[nodiscard]] std::vector<CounterRow> Rows(const std::vector<Cells>& totals) const;

  std::vector<std::string> codes_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<Cells> live_;  // by code index
  // Quarter index -> totals at its end (the cumulative sum of its and all earlier quarters'
  // deltas), by code index: a delta is added to its quarter and every later one present, so a
  // report reads one vector.
  std::map<int, std::vector<Cells>> quarters_;
};

}  // namespace sonar::core
