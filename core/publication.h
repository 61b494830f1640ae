// The publication "Transparantie van klantprofielen" rendered from a quarter's figures
// (SPEC section 6), for one region or for the whole country, in four formats.
//
// Pure functions: no I/O, no clock. The text format reproduces the seed document
// (shared/seed/transparantie-klantprofielen-zeeland-2022-q3.txt) byte for byte, except for its
// totals row, which in the seed lost its last cell and is shifted one column; here every total
// sits under its own column and "Totaal in Sonar" is the last cell. Like the seed, the text has
// no newline at the end. CSV and Markdown end every line with "\n"; JSON is one line without.
//
// Rows come out in the order given: callers pass municipalities (and regions) already in
// publication order, as FiguresBuilder produces them. Totals are taken from RegionFigures::total,
// not re-summed, so the register total includes REGISTER_ONLY persons.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/figures.h"
#include "core/time.h"

namespace sonar::core {

enum class PublicationFormat { kText, kCsv, kJson, kMarkdown };

// "text", "csv", "json" or "markdown" (exactly, lower case); nullopt otherwise.
[[nodiscard]] std::optional<PublicationFormat> ParsePublicationFormat(std::string_view name);

// "derde kwartaal 2022". A quarter outside 1..4 falls back to Quarter::ToString().
[[nodiscard]] std::string DutchQuarterTitle(Quarter q);

// Dutch thousands grouping: 1239 -> "1.239", -1234567 -> "-1.234.567".
[[nodiscard]] std::string DutchNumber(int64_t n);

// One region's publication. Coverage is RoundedPercent(known in Sonar, register total): 0% for
// an empty register.
[[nodiscard]] std::string RenderRegion(const RegionFigures& figures, Quarter quarter,
                                       PublicationFormat format);

// The national publication: one row per region (its totals), in the order given, and the sum
// over all of them. The regions' municipality lists are not used.
[[nodiscard]] std::string RenderNational(const std::vector<RegionFigures>& regions, Quarter quarter,
                                         PublicationFormat format);

}  // namespace sonar::core
