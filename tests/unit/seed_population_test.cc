#include "sim/seed_population.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "core/figures.h"
#include "core/validation.h"

namespace sonar::sim {
namespace {

using core::Cell;
using core::Instant;
using core::ReferenceData;

constexpr core::Quarter kQ3{2022, 3};
constexpr int kZeeland = 29;

Instant At(const char* date) { return core::AmsterdamMidnight(*core::ParseDate(date)); }

PopulationOptions ZeelandOptions(uint64_t seed = 1) {
  PopulationOptions options;
  options.quarter = kQ3;
  options.rows = ZeelandSeedRows();
  options.register_only = 1454;
  options.sonar_only = 37;
  options.seed = seed;
  options.now = At("2026-01-01");
  return options;
}

// Generated once: the population has ~5,000 persons and every test reads it.
const Population& Zeeland() {
  static const Population* const population =
      new Population(GeneratePopulation(ZeelandOptions(), ReferenceData::Builtin()));
  return *population;
}

std::vector<core::CounterRow> ToCounterRows(const std::map<std::string, core::CellCounts>& counts) {
  std::vector<core::CounterRow> rows;
  for (const auto& [code, c] : counts) {
    const std::pair<Cell, int64_t> cells[] = {
        {Cell::kGemeenteWithProfile, c.gemeente_with_profile},
        {Cell::kGemeenteWithoutProfile, c.gemeente_without_profile},
        {Cell::kUwvWithProfile, c.uwv_with_profile},
        {Cell::kUwvWithoutProfile, c.uwv_without_profile},
        {Cell::kRegisterOnly, c.register_only},
        {Cell::kSonarOnly, c.sonar_only}};
    for (const auto& [cell, n] : cells) {
      if (n != 0) rows.push_back({code, cell, n});
    }
  }
  return rows;
}

TEST(ZeelandSeedRowsTest, NamesTheThirteenZeelandMunicipalitiesInPublicationOrder) {
  const auto rows = ZeelandSeedRows();
  const auto layout =
      ReferenceData::Builtin().MunicipalitiesOf(kZeeland, *core::ParseDate("2022-09-30"));
  ASSERT_EQ(rows.size(), 13u);
  ASSERT_EQ(layout.size(), 13u);
  int64_t total = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].municipality_code, layout[i]->code) << layout[i]->name;
    total += rows[i].gemeente_with_profile + rows[i].gemeente_without_profile +
             rows[i].uwv_with_profile + rows[i].uwv_without_profile;
  }
  EXPECT_EQ(total, 2671);
}

TEST(SeedPopulationTest, FoldingTheEventsGivesTheExpectedEndState) {
  EXPECT_EQ(FoldAt(Zeeland().events, kQ3.End()), Zeeland().expected_at_end);
}

TEST(SeedPopulationTest, FiguresEqualTheSeedPublication) {
  const auto rows = ToCounterRows(FoldAt(Zeeland().events, kQ3.End()));
  const core::FiguresBuilder builder(ReferenceData::Builtin(), *core::ParseDate("2022-09-30"));
  const core::RegionFigures figures = builder.Region(kZeeland, rows);
  std::map<std::string, SeedRow> seed;
  for (const SeedRow& row : ZeelandSeedRows()) seed.emplace(row.municipality_code, row);
  ASSERT_EQ(figures.municipalities.size(), 13u);
  for (const core::MunicipalityFigures& m : figures.municipalities) {
    const SeedRow& want = seed.at(m.code);
    EXPECT_EQ(m.cells.gemeente_with_profile, want.gemeente_with_profile) << m.name;
    EXPECT_EQ(m.cells.gemeente_without_profile, want.gemeente_without_profile) << m.name;
    EXPECT_EQ(m.cells.uwv_with_profile, want.uwv_with_profile) << m.name;
    EXPECT_EQ(m.cells.uwv_without_profile, want.uwv_without_profile) << m.name;
  }
  EXPECT_EQ(figures.KnownInSonar(), 2671);
  EXPECT_EQ(figures.RegisterTotal(), 4125);
  EXPECT_EQ(figures.total.sonar_only, 37);
  EXPECT_EQ(core::RoundedPercent(figures.KnownInSonar(), figures.RegisterTotal()), 65);
}

TEST(SeedPopulationTest, EveryEventIsValid) {
  const Instant now = At("2026-01-01");
  for (const core::Event& e : Zeeland().events) {
    const auto rejection = core::ValidateEvent(e, now, ReferenceData::Builtin());
    ASSERT_FALSE(rejection.has_value())
        << rejection->code << " " << core::EventKindName(e.kind) << " " << e.event_id;
    ASSERT_GE(e.occurred_at, At("2019-01-01"));
    ASSERT_GE(e.client_ref.size(), 22u);
  }
}

TEST(SeedPopulationTest, EventKeysAreUniqueAndSourcesFollowTheKind) {
  std::set<std::pair<std::string, std::string>> keys;
  for (const core::Event& e : Zeeland().events) {
    EXPECT_TRUE(keys.emplace(e.source, e.event_id).second) << e.event_id;
    const bool register_kind = e.kind == core::EventKind::kTargetGroupEntered ||
                               e.kind == core::EventKind::kTargetGroupLeft;
    EXPECT_EQ(e.source, register_kind ? "doelgroepregister" : "sonar");
  }
}

TEST(SeedPopulationTest, SameSeedGivesSameEventsAndAnotherSeedOthers) {
  const Population again = GeneratePopulation(ZeelandOptions(), ReferenceData::Builtin());
  const Population other = GeneratePopulation(ZeelandOptions(2), ReferenceData::Builtin());
  ASSERT_EQ(again.events.size(), Zeeland().events.size());
  for (size_t i = 0; i < again.events.size(); ++i) {
    ASSERT_TRUE(again.events[i].SameContent(Zeeland().events[i])) << i;
    ASSERT_EQ(again.events[i].event_id, Zeeland().events[i].event_id);
    ASSERT_EQ(again.events[i].source, Zeeland().events[i].source);
  }
  EXPECT_NE(other.events.front().client_ref, Zeeland().events.front().client_ref);
  EXPECT_NE(other.events.front().event_id, Zeeland().events.front().event_id);
  EXPECT_EQ(other.expected_at_end.size(), 13u);
}

TEST(SeedPopulationTest, EventsAfterTheEndChangeOnlyTheLiveState) {
  const auto& events = Zeeland().events;
  const auto after = std::count_if(events.begin(), events.end(),
                                   [](const core::Event& e) { return e.occurred_at >= kQ3.End(); });
  EXPECT_GT(after, 0);
  const auto at_cut_off = std::count_if(events.begin(), events.end(), [](const core::Event& e) {
    return e.occurred_at == kQ3.End();
  });
  EXPECT_EQ(at_cut_off, 1);
  EXPECT_LE(events.back().occurred_at, kQ3.End() + std::chrono::days{30});
  EXPECT_NE(FoldAt(events, At("2100-01-01")), Zeeland().expected_at_end);
}

TEST(SeedPopulationTest, SomePersonsHaveTiedEventsThatTheTieBreakResolves) {
  std::map<std::pair<std::string, Instant>, int> per_instant;
  for (const core::Event& e : Zeeland().events) ++per_instant[{e.client_ref, e.occurred_at}];
  const auto ties = std::count_if(per_instant.begin(), per_instant.end(),
                                  [](const auto& entry) { return entry.second > 1; });
  EXPECT_EQ(ties, 2);  // deliberate: one within a source, one across sources
}

TEST(SeedPopulationTest, TheCrossSourceTieFollowsTheSourceNames) {
  PopulationOptions options = ZeelandOptions();
  options.source_register = "zz-register";  // now sorts after "sonar": the register event wins
  const Population swapped = GeneratePopulation(options, ReferenceData::Builtin());
  EXPECT_EQ(FoldAt(swapped.events, kQ3.End()), swapped.expected_at_end);
}

TEST(SeedPopulationTest, WithoutNoiseEveryPersonHasOnlyTheBasicEvents) {
  PopulationOptions options = ZeelandOptions();
  options.noise = false;
  const Population plain = GeneratePopulation(options, ReferenceData::Builtin());
  EXPECT_EQ(FoldAt(plain.events, kQ3.End()), plain.expected_at_end);
  EXPECT_EQ(FoldAt(plain.events, At("2100-01-01")), plain.expected_at_end);
  // 2671 persons with 2 or 3 events, 1454 with 1, 37 with 1 or 2.
  EXPECT_GE(plain.events.size(), 2671u * 2 + 1454 + 37);
  EXPECT_LE(plain.events.size(), 2671u * 3 + 1454 + 37 * 2);
}

TEST(SeedPopulationTest, NothingLiesAfterNowForACurrentQuarter) {
  PopulationOptions options = ZeelandOptions();
  options.now = At("2022-09-15");
  const Population early = GeneratePopulation(options, ReferenceData::Builtin());
  for (const core::Event& e : early.events) ASSERT_LT(e.occurred_at, *options.now);
  EXPECT_EQ(FoldAt(early.events, kQ3.End()), early.expected_at_end);
}

}  // namespace
}  // namespace sonar::sim
