// The published figures (SPEC section 4): per municipality the four Sonar cells and their total,
// per region their sums, the register total, the number known in Sonar and the coverage.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/client_state.h"
#include "core/reference_data.h"

namespace sonar::core {

struct CellCounts {
  int64_t gemeente_with_profile = 0;
  int64_t gemeente_without_profile = 0;
  int64_t uwv_with_profile = 0;
  int64_t uwv_without_profile = 0;
  int64_t register_only = 0;
  int64_t sonar_only = 0;

  void Add(Cell cell, int64_t n);
  void Add(const CellCounts& other);
  // "Totaal in Sonar": the four published cells.
  [[nodiscard]] int64_t TotalInSonar() const {
    return gemeente_with_profile + gemeente_without_profile + uwv_with_profile +
           uwv_without_profile;
  }
  // Everyone in the target-group register: the four cells plus REGISTER_ONLY.
  [[nodiscard]] int64_t RegisterTotal() const { return TotalInSonar() + register_only; }

  friend bool operator==(const CellCounts&, const CellCounts&) = default;
};

// A counter total keyed by the raw residence code it was recorded under.
struct CounterRow {
  std::string municipality_code;
  Cell cell = Cell::kNone;
  int64_t n = 0;
};

struct MunicipalityFigures {
  std::string code;
  std::string name;
  CellCounts cells;
};

struct RegionFigures {
  RegionInfo region;
  std::vector<MunicipalityFigures> municipalities;  // by name
  CellCounts total;

  [[nodiscard]] int64_t RegisterTotal() const { return total.RegisterTotal(); }
  [[nodiscard]] int64_t KnownInSonar() const { return total.TotalInSonar(); }
  // Known in Sonar / register total; 0 when the register is empty.
  [[nodiscard]] double Coverage() const;
};

// Places counter rows on the municipality layout of `on`: every raw code is mapped to the
// successor it had merged into by then, and that municipality to its region then. Rows whose
// municipality is not in a region are left out.
// Maps raw counter rows onto the municipality layout of one date. Construction computes the
// layout (every region with its municipalities, and where each raw code counts), so one builder
// serves many requests; immutable and thread-safe once built.
class FiguresBuilder final {
 public:
  FiguresBuilder(const ReferenceData& reference, Date on);

  [[nodiscard]] RegionFigures Region(int region, std::span<const CounterRow> rows) const;
  // One entry per region, by number; municipalities are left empty.
  [[nodiscard]] std::vector<RegionFigures> National(std::span<const CounterRow> rows) const;
  // One entry per region, by number, each with its municipalities (what a publication freezes).
  [[nodiscard]] std::vector<RegionFigures> AllRegions(std::span<const CounterRow> rows) const;

  [[nodiscard]] Date on() const { return on_; }

 private:
  struct Slot {
    size_t region = 0;        // index into layout_
    size_t municipality = 0;  // index into layout_[region].municipalities
  };
  // Where a raw code counts on `on_` (its successor's slot), or nullptr.
  [[nodiscard]] const Slot* Find(const std::string& code) const;
  // Adds the rows that count in `layout` (all regions, or only layout_[only] when only >= 0).
  void Place(std::vector<RegionFigures>& layout, std::span<const CounterRow> rows,
             std::ptrdiff_t only) const;

  const ReferenceData& reference_;
  Date on_;
  std::vector<RegionFigures> layout_;  // every region, with its municipalities, zero cells
  std::unordered_map<std::string, Slot> slots_;  // raw code -> slot, for every known code
};

// The municipality layout a quarter's figures use: the one on its last day (the cut-off is the
// quarter's last moment, SPEC §1), so a merger effective on the next 1 January is not applied.
[[nodiscard]] Date LayoutDate(Quarter quarter);

// The sums over regions: "Nederland", number 0, no municipalities.
[[nodiscard]] RegionFigures NationalTotal(std::span<const RegionFigures> regions);

// One cell whose value differs between a published revision and the provisional figures.
struct CellChange {
  RegionInfo region;
  std::string municipality_code;
  std::string municipality_name;
  Cell cell = Cell::kNone;
  int64_t published = 0;
  int64_t provisional = 0;
};

// Compares per (region, municipality) the four Sonar cells and REGISTER_ONLY. A municipality
// present on one side only is compared against zeros. Ordered by region number, then by the
// order of municipalities in `provisional` (then `published`), then by cell.
[[nodiscard]] std::vector<CellChange> DiffFigures(std::span<const RegionFigures> published,
                                                  std::span<const RegionFigures> provisional);

// Coverage as published: a whole percent, rounded half up.
[[nodiscard]] int RoundedPercent(int64_t numerator, int64_t denominator);

}  // namespace sonar::core
