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
  auto it = quarters_.lower_bound(quarter_index);
  if (it == quarters_.end() || it->first != quarter_index) {
    // A new quarter starts from the totals of the one before it.
    std::vector<Cells> start;
    if (it != quarters_.begin()) start = std::prev(it)->second;
    it = quarters_.emplace_hint(it, quarter_index, std::move(start));
  }
  for (; it != quarters_.end(); ++it) {
    if (it->second.size() <= i) it->second.resize(codes_.size());
    it->second[i][c] += n;
  }
}

std::vector<CounterRow> CountsModel::Rows(const std::vector<Cells>& totals) const {
  size_t nonzero = 0;
  for (const Cells& cells : totals) {
    for (int64_t v : cells) nonzero += v != 0 ? 1 : 0;
  }
  std::vector<CounterRow> rows;
  rows.reserve(nonzero);
  for (size_t i = 0; i < totals.size(); ++i) {
    for (size_t c = 0; c < kCellCount; ++c) {
      if (totals[i][c] != 0) rows.push_back({codes_[i], static_cast<Cell>(c), totals[i][c]});
    }
  }
  return rows;
}

std::vector<CounterRow> CountsModel::LiveRows() const { return Rows(live_); }

std::vector<CounterRow> CountsModel::QuarterRows(int quarter_index) const {
  auto it = quarters_.upper_bound(quarter_index);
  if (it == quarters_.begin()) return {};
  return Rows(std::prev(it)->second);
}

}  // namespace sonar::core
