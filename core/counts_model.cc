#include "core/counts_model.h"

namespace sonar::core {

size_t CountsModel::CodeIndex(std::string_view code) {
  auto it = index_.find(std::string(code));
  if (it != index_.end()) return it->second;
  const size_t i = codes_.size();
  codes_.emplace_back(code);
  index_.emplace(codes_.back(), i);
  live_.emplace_back();
  return i;
}

void CountsModel::AddLive(std::string_view code, Cell cell, int64_t n) {
  const auto c = static_cast<size_t>(cell);
  if (c >= kCellCount) return;
  live_[CodeIndex(code)][c] += n;
}

void CountsModel::AddQuarter(int quarter_index, std::string_view code, Cell cell, int64_t n) {
  const auto c = static_cast<size_t>(cell);
  if (c >= kCellCount) return;
  const size_t i = CodeIndex(code);
  std::vector<Cells>& q = quarters_[quarter_index];
  if (q.size() <= i) q.resize(codes_.size());
  q[i][c] += n;
}

std::vector<CounterRow> CountsModel::Rows(const std::vector<Cells>& totals) const {
  std::vector<CounterRow> rows;
  for (size_t i = 0; i < totals.size(); ++i) {
    for (size_t c = 0; c < kCellCount; ++c) {
      if (totals[i][c] != 0) rows.push_back({codes_[i], static_cast<Cell>(c), totals[i][c]});
    }
  }
  return rows;
}

std::vector<CounterRow> CountsModel::LiveRows() const { return Rows(live_); }

std::vector<CounterRow> CountsModel::QuarterRows(int quarter_index) const {
  std::vector<Cells> totals(codes_.size(), Cells{});
  for (auto it = quarters_.begin(); it != quarters_.end() && it->first <= quarter_index; ++it) {
    for (size_t i = 0; i < it->second.size(); ++i) {
      for (size_t c = 0; c < kCellCount; ++c) totals[i][c] += it->second[i][c];
    }
  }
  return Rows(totals);
}

}  // namespace sonar::core
