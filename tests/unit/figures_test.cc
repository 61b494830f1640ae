#include "core/figures.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace sonar::core {
namespace {

Date D(const char* text) { return *ParseDate(text); }

const ReferenceData& Ref() { return ReferenceData::Builtin(); }

const MunicipalityFigures* Find(const RegionFigures& r, const std::string& code) {
  for (const MunicipalityFigures& m : r.municipalities) {
    if (m.code == code) return &m;
  }
  return nullptr;
}

TEST(CellCountsTest, AddAndTotals) {
  CellCounts c;
  c.Add(Cell::kGemeenteWithProfile, 1);
  c.Add(Cell::kGemeenteWithoutProfile, 20);
  c.Add(Cell::kUwvWithProfile, 300);
  c.Add(Cell::kUwvWithoutProfile, 4000);
  c.Add(Cell::kRegisterOnly, 50000);
  c.Add(Cell::kSonarOnly, 600000);
  c.Add(Cell::kNone, 7);
  EXPECT_EQ(c.TotalInSonar(), 4321);
  EXPECT_EQ(c.RegisterTotal(), 54321);
  CellCounts d = c;
  d.Add(c);
  EXPECT_EQ(d.TotalInSonar(), 8642);
  EXPECT_EQ(d.sonar_only, 1200000);
  d.Add(Cell::kUwvWithProfile, -300);
  EXPECT_EQ(d.uwv_with_profile, 300);
}

TEST(FiguresBuilderTest, UdenCountsAsMaashorstInRegion27) {
  const std::vector<CounterRow> rows = {
      {"GM0856", Cell::kGemeenteWithProfile, 5},    // Uden
      {"GM1991", Cell::kGemeenteWithProfile, 2},    // Maashorst
      {"GM1685", Cell::kUwvWithoutProfile, 3},      // Landerd, also merged into Maashorst
      {"GM0856", Cell::kRegisterOnly, 4},           //
      {"GM0856", Cell::kSonarOnly, 9},              //
      {"GM0654", Cell::kGemeenteWithProfile, 100},  // Borsele, Zeeland: not in region 27
      {"GM9999", Cell::kGemeenteWithProfile, 100},  // unknown
  };
  const RegionFigures r = FiguresBuilder(Ref(), D("2022-09-30")).Region(27, rows);
  EXPECT_EQ(r.region.number, 27);
  EXPECT_EQ(Find(r, "GM0856"), nullptr);
  const MunicipalityFigures* maashorst = Find(r, "GM1991");
  ASSERT_NE(maashorst, nullptr);
  EXPECT_EQ(maashorst->name, "Maashorst");
  EXPECT_EQ(maashorst->cells.gemeente_with_profile, 7);
  EXPECT_EQ(maashorst->cells.uwv_without_profile, 3);
  EXPECT_EQ(maashorst->cells.register_only, 4);
  EXPECT_EQ(maashorst->cells.sonar_only, 9);
  EXPECT_EQ(r.total, maashorst->cells);
  EXPECT_EQ(r.KnownInSonar(), 10);
  EXPECT_EQ(r.RegisterTotal(), 14);
  EXPECT_DOUBLE_EQ(r.Coverage(), 10.0 / 14.0);
  // Municipalities in publication order.
  EXPECT_TRUE(
      std::is_sorted(r.municipalities.begin(), r.municipalities.end(),
                     [](const auto& a, const auto& b) { return NameLess(a.name, b.name); }));
}

TEST(FiguresBuilderTest, BeforeTheMergerUdenIsItsOwnRow) {
  const std::vector<CounterRow> rows = {{"GM0856", Cell::kGemeenteWithProfile, 5}};
  const RegionFigures r = FiguresBuilder(Ref(), D("2021-12-31")).Region(27, rows);
  EXPECT_EQ(Find(r, "GM1991"), nullptr);
  ASSERT_NE(Find(r, "GM0856"), nullptr);
  EXPECT_EQ(Find(r, "GM0856")->cells.gemeente_with_profile, 5);
}

TEST(FiguresBuilderTest, ZeelandTotalsAndEmptyMunicipalities) {
  const std::vector<CounterRow> rows = {
      {"GM0654", Cell::kGemeenteWithoutProfile, 45},
      {"GM0654", Cell::kUwvWithProfile, 57},
      {"GM0664", Cell::kUwvWithoutProfile, 81},
      {"GM0664", Cell::kRegisterOnly, 10},
      {"GM0664", Cell::kSonarOnly, 1000},
      {"GM0856", Cell::kUwvWithProfile, 99},
  };
  const RegionFigures r = FiguresBuilder(Ref(), D("2022-09-30")).Region(29, rows);
  EXPECT_EQ(r.region.name, "Zeeland");
  ASSERT_EQ(r.municipalities.size(), 13u);
  EXPECT_EQ(r.municipalities.front().name, "Borsele");
  EXPECT_EQ(r.municipalities.front().cells.TotalInSonar(), 102);
  EXPECT_EQ(r.municipalities[1].name, "Goes");
  EXPECT_EQ(r.municipalities[1].cells.TotalInSonar(), 81);
  EXPECT_EQ(r.municipalities[2].cells, CellCounts{});
  EXPECT_EQ(r.total.gemeente_without_profile, 45);
  EXPECT_EQ(r.total.uwv_with_profile, 57);
  EXPECT_EQ(r.total.uwv_without_profile, 81);
  // TotalInSonar excludes register_only and sonar_only; RegisterTotal includes register_only.
  EXPECT_EQ(r.KnownInSonar(), 183);
  EXPECT_EQ(r.RegisterTotal(), 193);
  EXPECT_EQ(r.total.sonar_only, 1000);
  EXPECT_EQ(RoundedPercent(r.KnownInSonar(), r.RegisterTotal()), 95);  // 94.8
}

TEST(FiguresTest, CoverageOfEmptyRegionIsZero) {
  const RegionFigures r = FiguresBuilder(Ref(), D("2022-09-30")).Region(29, {});
  EXPECT_EQ(r.RegisterTotal(), 0);
  EXPECT_EQ(r.Coverage(), 0.0);
  EXPECT_EQ(r.municipalities.size(), 13u);
}

TEST(FiguresTest, RoundedPercentHalfUp) {
  EXPECT_EQ(RoundedPercent(2671, 4125), 65);  // 64.75
  EXPECT_EQ(RoundedPercent(1, 8), 13);        // 12.5
  EXPECT_EQ(RoundedPercent(3, 8), 38);        // 37.5
  EXPECT_EQ(RoundedPercent(1, 3), 33);        // 33.33
  EXPECT_EQ(RoundedPercent(2, 3), 67);        // 66.67
  EXPECT_EQ(RoundedPercent(1, 200), 1);       // 0.5
  EXPECT_EQ(RoundedPercent(1, 201), 0);       // 0.497
  EXPECT_EQ(RoundedPercent(0, 0), 0);
  EXPECT_EQ(RoundedPercent(0, 5), 0);
  EXPECT_EQ(RoundedPercent(5, 5), 100);
  EXPECT_EQ(RoundedPercent(199, 200), 100);  // 99.5
  EXPECT_EQ(RoundedPercent(3'000'000'000LL, 4'000'000'000LL), 75);
}

TEST(FiguresBuilderTest, NationalHas35RegionsSummingAllRows) {
  const std::vector<CounterRow> rows = {
      {"GM0654", Cell::kGemeenteWithProfile, 1},
      {"GM0856", Cell::kUwvWithProfile, 2},
      {"GM0457", Cell::kRegisterOnly, 4},
      {"GM0363", Cell::kUwvWithoutProfile, 8},
      {"GM0450", Cell::kGemeenteWithoutProfile, 16},
      {"GM0014", Cell::kSonarOnly, 32},
  };
  const FiguresBuilder builder(Ref(), D("2022-09-30"));
  const std::vector<RegionFigures> national = builder.National(rows);
  ASSERT_EQ(national.size(), 35u);
  CellCounts sum;
  for (size_t i = 0; i < national.size(); ++i) {
    EXPECT_EQ(national[i].region.number, static_cast<int>(i) + 1);
    EXPECT_TRUE(national[i].municipalities.empty());
    sum.Add(national[i].total);
  }
  EXPECT_EQ(sum.gemeente_with_profile + sum.uwv_with_profile + sum.register_only +
                sum.uwv_without_profile + sum.gemeente_without_profile + sum.sonar_only,
            63);
  EXPECT_EQ(national[28].total.gemeente_with_profile, 1);  // Zeeland
  EXPECT_EQ(national[26].total.uwv_with_profile, 2);       // Uden -> Maashorst, region 27
  EXPECT_EQ(national[9].total.register_only, 4);           // Weesp -> Amsterdam, region 10
  EXPECT_EQ(national[9].total.uwv_without_profile, 8);
  EXPECT_EQ(national[2].total.gemeente_without_profile, 16);  // Uitgeest, region 3 since 2017
  EXPECT_EQ(NationalTotal(national).total, sum);
  EXPECT_EQ(NationalTotal(national).region.number, 0);

  // AllRegions agrees with Region and National per region.
  const std::vector<RegionFigures> all = builder.AllRegions(rows);
  ASSERT_EQ(all.size(), 35u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].total, national[i].total) << all[i].region.name;
    const RegionFigures one = builder.Region(all[i].region.number, rows);
    EXPECT_EQ(all[i].total, one.total);
    EXPECT_EQ(all[i].municipalities.size(), one.municipalities.size());
  }
}

TEST(FiguresTest, LayoutDateIsTheQuartersLastDay) {
  EXPECT_EQ(LayoutDate({2022, 3}), D("2022-09-30"));
  EXPECT_EQ(LayoutDate({2021, 4}), D("2021-12-31"));
  EXPECT_EQ(LayoutDate({2022, 1}), D("2022-03-31"));
}

TEST(DiffFiguresTest, ReportsChangedCellsOnly) {
  const FiguresBuilder builder(Ref(), D("2022-09-30"));
  const std::vector<CounterRow> before = {{"GM0654", Cell::kGemeenteWithProfile, 3},
                                          {"GM0664", Cell::kRegisterOnly, 2}};
  const std::vector<CounterRow> after = {{"GM0654", Cell::kGemeenteWithProfile, 4},
                                         {"GM0664", Cell::kRegisterOnly, 2},
                                         {"GM0664", Cell::kSonarOnly, 9}};
  const std::vector<RegionFigures> pub = {builder.Region(29, before)};
  const std::vector<RegionFigures> prov = {builder.Region(29, after)};
  const std::vector<CellChange> changes = DiffFigures(pub, prov);
  ASSERT_EQ(changes.size(), 1u);  // sonar_only is not compared
  EXPECT_EQ(changes[0].municipality_code, "GM0654");
  EXPECT_EQ(changes[0].cell, Cell::kGemeenteWithProfile);
  EXPECT_EQ(changes[0].published, 3);
  EXPECT_EQ(changes[0].provisional, 4);
  EXPECT_TRUE(DiffFigures(pub, pub).empty());
}

}  // namespace
}  // namespace sonar::core
