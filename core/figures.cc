#include "core/figures.h"

#include <map>
#include <set>

namespace sonar::core {

void CellCounts::Add(Cell cell, int64_t n) {
  switch (cell) {
    case Cell::kGemeenteWithProfile:
      gemeente_with_profile += n;
      break;
    case Cell::kGemeenteWithoutProfile:
      gemeente_without_profile += n;
      break;
    case Cell::kUwvWithProfile:
      uwv_with_profile += n;
      break;
    case Cell::kUwvWithoutProfile:
      uwv_without_profile += n;
      break;
    case Cell::kRegisterOnly:
      register_only += n;
      break;
    case Cell::kSonarOnly:
      sonar_only += n;
      break;
    case Cell::kNone:
      break;
  }
}

void CellCounts::Add(const CellCounts& o) {
  gemeente_with_profile += o.gemeente_with_profile;
  gemeente_without_profile += o.gemeente_without_profile;
  uwv_with_profile += o.uwv_with_profile;
  uwv_without_profile += o.uwv_without_profile;
  register_only += o.register_only;
  sonar_only += o.sonar_only;
}

double RegionFigures::Coverage() const {
  const int64_t reg = RegisterTotal();
  return reg == 0 ? 0.0 : static_cast<double>(KnownInSonar()) / static_cast<double>(reg);
}

int RoundedPercent(int64_t numerator, int64_t denominator) {
  if (denominator <= 0) return 0;
  // Integer arithmetic: floor((200 * num + den) / (2 * den)) is round-half-up of 100*num/den.
  return static_cast<int>((200 * numerator + denominator) / (2 * denominator));
}

FiguresBuilder::FiguresBuilder(const ReferenceData& reference, Date on)
    : reference_(reference), on_(on) {
  std::map<std::string, Slot, std::less<>> by_successor;
  for (const RegionInfo& r : reference_.regions()) {
    RegionFigures figures{r, {}, {}};
    for (const MunicipalityInfo* m : reference_.MunicipalitiesOf(r.number, on_)) {
      by_successor.emplace(m->code, Slot{layout_.size(), figures.municipalities.size()});
      figures.municipalities.push_back({m->code, m->name, {}});
    }
    layout_.push_back(std::move(figures));
  }
  for (const MunicipalityInfo& m : reference_.municipalities()) {
    auto it = by_successor.find(reference_.SuccessorOn(m.code, on_));
    if (it != by_successor.end()) slots_.emplace(m.code, it->second);
  }
}

const FiguresBuilder::Slot* FiguresBuilder::Find(const std::string& code) const {
  auto it = slots_.find(code);
  return it == slots_.end() ? nullptr : &it->second;
}

RegionFigures FiguresBuilder::Region(int region, std::span<const CounterRow> rows) const {
  for (size_t r = 0; r < layout_.size(); ++r) {
    if (layout_[r].region.number != region) continue;
    std::vector<RegionFigures> one{layout_[r]};
    Place(one, rows, static_cast<std::ptrdiff_t>(r));
    return std::move(one[0]);
  }
  RegionFigures unknown;
  if (const RegionInfo* info = reference_.RegionByNumber(region)) unknown.region = *info;
  return unknown;
}

std::vector<RegionFigures> FiguresBuilder::National(std::span<const CounterRow> rows) const {
  std::vector<RegionFigures> regions = AllRegions(rows);
  for (RegionFigures& r : regions) r.municipalities.clear();
  return regions;
}

std::vector<RegionFigures> FiguresBuilder::AllRegions(std::span<const CounterRow> rows) const {
  std::vector<RegionFigures> layout = layout_;
  Place(layout, rows, -1);
  return layout;
}

void FiguresBuilder::Place(std::vector<RegionFigures>& layout, std::span<const CounterRow> rows,
                           std::ptrdiff_t only) const {
  // Rows come per (code, cell), usually grouped by code: remember the last lookup.
  const std::string* last_code = nullptr;
  const Slot* slot = nullptr;
  for (const CounterRow& row : rows) {
    if (last_code == nullptr || *last_code != row.municipality_code) {
      last_code = &row.municipality_code;
      slot = Find(row.municipality_code);
    }
    if (slot == nullptr) continue;
    if (only < 0) {
      layout[slot->region].municipalities[slot->municipality].cells.Add(row.cell, row.n);
    } else if (slot->region == static_cast<size_t>(only)) {
      layout[0].municipalities[slot->municipality].cells.Add(row.cell, row.n);
    }
  }
  for (RegionFigures& r : layout) {
    for (const MunicipalityFigures& m : r.municipalities) r.total.Add(m.cells);
  }
}

Date LayoutDate(Quarter quarter) {
  return AmsterdamDate(quarter.End() - std::chrono::microseconds{1});
}

RegionFigures NationalTotal(std::span<const RegionFigures> regions) {
  RegionFigures national;
  national.region = {0, "Nederland", "NL"};
  for (const RegionFigures& r : regions) national.total.Add(r.total);
  return national;
}

namespace {

int64_t CellValue(const CellCounts& c, Cell cell) {
  switch (cell) {
    case Cell::kGemeenteWithProfile:
      return c.gemeente_with_profile;
    case Cell::kGemeenteWithoutProfile:
      return c.gemeente_without_profile;
    case Cell::kUwvWithProfile:
      return c.uwv_with_profile;
    case Cell::kUwvWithoutProfile:
      return c.uwv_without_profile;
    case Cell::kRegisterOnly:
      return c.register_only;
    case Cell::kSonarOnly:
      return c.sonar_only;
    case Cell::kNone:
      break;
  }
  return 0;
}

}  // namespace

std::vector<CellChange> DiffFigures(std::span<const RegionFigures> published,
                                    std::span<const RegionFigures> provisional) {
  struct Side {
    const MunicipalityFigures* published = nullptr;
    const MunicipalityFigures* provisional = nullptr;
    RegionInfo region;
  };
  // (region number, order) -> both sides; order keeps the publication's municipality order.
  std::map<std::pair<int, size_t>, Side> rows;
  std::map<std::pair<int, std::string>, size_t> order;
  auto add = [&](std::span<const RegionFigures> side, bool is_published) {
    for (const RegionFigures& r : side) {
      for (const MunicipalityFigures& m : r.municipalities) {
        auto [it, fresh] = order.try_emplace({r.region.number, m.code}, order.size());
        Side& s = rows[{r.region.number, it->second}];
        s.region = r.region;
        (is_published ? s.published : s.provisional) = &m;
      }
    }
  };
  add(provisional, false);
  add(published, true);
  static constexpr Cell kCells[] = {Cell::kGemeenteWithProfile, Cell::kGemeenteWithoutProfile,
                                    Cell::kUwvWithProfile, Cell::kUwvWithoutProfile,
                                    Cell::kRegisterOnly};
  std::vector<CellChange> out;
  const CellCounts zero;
  for (const auto& [key, s] : rows) {
    const MunicipalityFigures* named = s.provisional ? s.provisional : s.published;
    for (Cell cell : kCells) {
      const int64_t old_value = CellValue(s.published ? s.published->cells : zero, cell);
      const int64_t new_value = CellValue(s.provisional ? s.provisional->cells : zero, cell);
      if (old_value == new_value) continue;
      out.push_back({s.region, named->code, named->name, cell, old_value, new_value});
    }
  }
  return out;
}

}  // namespace sonar::core
