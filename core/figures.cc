#include "core/figures.h"

#include <map>

namespace sonar::core {

void CellCounts::Add(Cell cell, int64_t n) {
  switch (cell) {
    case Cell::kGemeenteWithProfile: gemeente_with_profile += n; break;
    case Cell::kGemeenteWithoutProfile: gemeente_without_profile += n; break;
    case Cell::kUwvWithProfile: uwv_with_profile += n; break;
    case Cell::kUwvWithoutProfile: uwv_without_profile += n; break;
    case Cell::kRegisterOnly: register_only += n; break;
    case Cell::kSonarOnly: sonar_only += n; break;
    case Cell::kNone: break;
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
    : reference_(reference), on_(on) {}

RegionFigures FiguresBuilder::Region(int region, std::span<const CounterRow> rows) const {
  RegionFigures out;
  if (const RegionInfo* info = reference_.RegionByNumber(region)) out.region = *info;
  std::map<std::string, size_t, std::less<>> index;
  for (const MunicipalityInfo* m : reference_.MunicipalitiesOf(region, on_)) {
    index.emplace(m->code, out.municipalities.size());
    out.municipalities.push_back({m->code, m->name, {}});
  }
  std::map<std::string, std::string, std::less<>> successor_cache;
  for (const CounterRow& row : rows) {
    auto cached = successor_cache.find(row.municipality_code);
    if (cached == successor_cache.end()) {
      cached = successor_cache
                   .emplace(row.municipality_code, reference_.SuccessorOn(row.municipality_code, on_))
                   .first;
    }
    auto it = index.find(cached->second);
    if (it == index.end()) continue;
    out.municipalities[it->second].cells.Add(row.cell, row.n);
  }
  for (const MunicipalityFigures& m : out.municipalities) out.total.Add(m.cells);
  return out;
}

std::vector<RegionFigures> FiguresBuilder::National(std::span<const CounterRow> rows) const {
  std::vector<RegionFigures> out;
  std::map<int, size_t> index;
  for (const RegionInfo& r : reference_.regions()) {
    index.emplace(r.number, out.size());
    out.push_back({r, {}, {}});
  }
  for (const CounterRow& row : rows) {
    const std::string code = reference_.SuccessorOn(row.municipality_code, on_);
    if (!reference_.ExistsOn(code, on_)) continue;
    const auto region = reference_.RegionOn(code, on_);
    if (!region) continue;
    auto it = index.find(*region);
    if (it != index.end()) out[it->second].total.Add(row.cell, row.n);
  }
  return out;
}

}  // namespace sonar::core
