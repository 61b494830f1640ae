#include "core/counts_model.h"

#include <gtest/gtest.h>

#include <map>

namespace sonar::core {
namespace {

std::map<std::pair<std::string, int>, int64_t> AsMap(const std::vector<CounterRow>& rows) {
  std::map<std::pair<std::string, int>, int64_t> out;
  for (const CounterRow& r : rows) {
    EXPECT_TRUE(
        out.emplace(std::make_pair(r.municipality_code, static_cast<int>(r.cell)), r.n).second)
        << "duplicate row " << r.municipality_code;
  }
  return out;
}

TEST(CountsModel, QuarterRowsAreCumulativeUpToTheQuarter) {
  CountsModel m;
  m.AddQuarter(8000, "GM0654", Cell::kUwvWithProfile, 3);
  m.AddQuarter(8002, "GM0654", Cell::kUwvWithProfile, -1);
  m.AddQuarter(8002, "GM0664", Cell::kRegisterOnly, 2);
  m.AddQuarter(8001, "GM0664", Cell::kRegisterOnly, 5);
  m.AddQuarter(8005, "GM0654", Cell::kUwvWithProfile, 10);

  EXPECT_TRUE(m.QuarterRows(7999).empty());
  EXPECT_EQ(AsMap(m.QuarterRows(8000)),
            (std::map<std::pair<std::string, int>, int64_t>{{{"GM0654", 3}, 3}}));
  EXPECT_EQ(AsMap(m.QuarterRows(8002)), (std::map<std::pair<std::string, int>, int64_t>{
                                            {{"GM0654", 3}, 2}, {{"GM0664", 5}, 7}}));
  EXPECT_EQ(AsMap(m.QuarterRows(9000)), (std::map<std::pair<std::string, int>, int64_t>{
                                            {{"GM0654", 3}, 12}, {{"GM0664", 5}, 7}}));
  EXPECT_EQ(m.quarter_count(), 4u);
}

TEST(CountsModel, ZeroTotalsAreLeftOutAndLiveIsSeparate) {
  CountsModel m;
  m.AddLive("GM0654", Cell::kGemeenteWithProfile, 4);
  m.AddLive("GM0654", Cell::kGemeenteWithProfile, -4);
  m.AddLive("GM0687", Cell::kSonarOnly, 1);
  m.AddQuarter(8000, "GM0654", Cell::kGemeenteWithProfile, 1);
  m.AddQuarter(8001, "GM0654", Cell::kGemeenteWithProfile, -1);
  EXPECT_EQ(AsMap(m.LiveRows()),
            (std::map<std::pair<std::string, int>, int64_t>{{{"GM0687", 6}, 1}}));
  EXPECT_TRUE(m.QuarterRows(8001).empty());
  EXPECT_EQ(m.QuarterRows(8000).size(), 1u);
  EXPECT_EQ(m.code_count(), 2u);
  // An out-of-range cell is ignored, not written out of bounds.
  m.AddLive("GM0654", static_cast<Cell>(200), 1);
  EXPECT_EQ(m.LiveRows().size(), 1u);
}

}  // namespace
}  // namespace sonar::core
