#include "core/reference_data.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace sonar::core {
namespace {

Date D(const char* text) { return *ParseDate(text); }

const ReferenceData& Ref() { return ReferenceData::Builtin(); }

int CountValidOn(Date d) {
  return static_cast<int>(std::count_if(Ref().municipalities().begin(),
                                        Ref().municipalities().end(),
                                        [d](const MunicipalityInfo& m) { return m.ValidOn(d); }));
}

TEST(ReferenceDataTest, BuiltinLoadsWithExpectedCounts) {
  EXPECT_EQ(CountValidOn(D("2022-09-30")), 344);
  EXPECT_EQ(CountValidOn(D("2023-06-30")), 342);
  ASSERT_EQ(Ref().regions().size(), 35u);
  for (size_t i = 0; i < Ref().regions().size(); ++i) {
    EXPECT_EQ(Ref().regions()[i].number, static_cast<int>(i) + 1);
  }
  // Every municipality valid on a date is in exactly one region then.
  int in_regions = 0;
  for (const RegionInfo& r : Ref().regions()) {
    in_regions += static_cast<int>(Ref().MunicipalitiesOf(r.number, D("2022-09-30")).size());
  }
  EXPECT_EQ(in_regions, 344);
}

TEST(ReferenceDataTest, FindRegion) {
  const RegionInfo* zeeland = Ref().FindRegion("29");
  ASSERT_NE(zeeland, nullptr);
  EXPECT_EQ(zeeland->number, 29);
  EXPECT_EQ(zeeland->name, "Zeeland");
  EXPECT_EQ(zeeland->cbs_code, "AM24");
  EXPECT_EQ(Ref().FindRegion("AM24"), zeeland);
  EXPECT_EQ(Ref().FindRegion("am24"), zeeland);
  EXPECT_EQ(Ref().RegionByNumber(29), zeeland);
  EXPECT_EQ(Ref().FindRegion("99"), nullptr);
  EXPECT_EQ(Ref().FindRegion("0"), nullptr);
  EXPECT_EQ(Ref().FindRegion(""), nullptr);
  EXPECT_EQ(Ref().FindRegion("AM99"), nullptr);
  EXPECT_EQ(Ref().FindRegion("Zeeland"), nullptr);
  EXPECT_EQ(Ref().FindRegion("123456789012"), nullptr);
}

TEST(ReferenceDataTest, ZeelandMunicipalitiesInSeedOrder) {
  std::vector<std::string> names;
  for (const MunicipalityInfo* m : Ref().MunicipalitiesOf(29, D("2022-09-30"))) {
    names.push_back(m->name);
  }
  const std::vector<std::string> want = {
      "Borsele",    "Goes",           "Hulst",       "Kapelle",
      "Middelburg", "Noord-Beveland", "Reimerswaal", "Schouwen-Duiveland",
      "Sluis",      "Terneuzen",      "Tholen",      "Veere",
      "Vlissingen"};
  EXPECT_EQ(names, want);
}

TEST(ReferenceDataTest, FindMunicipalityAndExistsOn) {
  const MunicipalityInfo* borsele = Ref().FindMunicipality("GM0654");
  ASSERT_NE(borsele, nullptr);
  EXPECT_EQ(borsele->name, "Borsele");
  EXPECT_EQ(Ref().FindMunicipality("GM9999"), nullptr);
  EXPECT_TRUE(Ref().ExistsOn("GM0856", D("2021-12-31")));
  EXPECT_FALSE(Ref().ExistsOn("GM0856", D("2022-01-01")));
  EXPECT_FALSE(Ref().ExistsOn("GM1991", D("2021-12-31")));
  EXPECT_TRUE(Ref().ExistsOn("GM1991", D("2022-01-01")));
  EXPECT_FALSE(Ref().ExistsOn("GM9999", D("2022-01-01")));
}

TEST(ReferenceDataTest, SuccessorOn) {
  EXPECT_EQ(Ref().SuccessorOn("GM0856", D("2022-09-30")), "GM1991");
  EXPECT_EQ(Ref().SuccessorOn("GM0856", D("2022-01-01")), "GM1991");
  EXPECT_EQ(Ref().SuccessorOn("GM0856", D("2021-12-31")), "GM0856");
  EXPECT_EQ(Ref().SuccessorOn("GM0457", D("2022-03-23")), "GM0457");
  EXPECT_EQ(Ref().SuccessorOn("GM0457", D("2022-03-24")), "GM0363");
  // Chain: Millingen -> Groesbeek (2015) -> Berg en Dal (2016).
  EXPECT_EQ(Ref().SuccessorOn("GM0265", D("2014-12-31")), "GM0265");
  EXPECT_EQ(Ref().SuccessorOn("GM0265", D("2015-06-01")), "GM0241");
  EXPECT_EQ(Ref().SuccessorOn("GM0265", D("2016-06-01")), "GM1945");
  // Split: Haaren's residents count in its largest part, Oisterwijk.
  EXPECT_EQ(Ref().SuccessorOn("GM0788", D("2021-06-01")), "GM0824");
  // A municipality never merged maps to itself; so does an unknown code.
  EXPECT_EQ(Ref().SuccessorOn("GM0654", D("2022-09-30")), "GM0654");
  EXPECT_EQ(Ref().SuccessorOn("GM9999", D("2022-09-30")), "GM9999");
}

TEST(ReferenceDataTest, RegionOn) {
  EXPECT_EQ(Ref().RegionOn("GM0450", D("2016-12-31")), 8);
  EXPECT_EQ(Ref().RegionOn("GM0450", D("2017-01-01")), 3);
  EXPECT_EQ(Ref().RegionOn("GM1991", D("2022-09-30")), 27);
  EXPECT_EQ(Ref().RegionOn(Ref().SuccessorOn("GM0856", D("2022-09-30")), D("2022-09-30")), 27);
  EXPECT_EQ(Ref().RegionOn("GM0654", D("2022-09-30")), 29);
  EXPECT_EQ(Ref().RegionOn("GM9999", D("2022-09-30")), std::nullopt);
  EXPECT_EQ(Ref().RegionOn("GM0856", D("2022-09-30")), std::nullopt);  // no longer exists
}

TEST(NameLessTest, PublicationOrder) {
  EXPECT_TRUE(NameLess("Borsele", "Goes"));
  EXPECT_FALSE(NameLess("Goes", "Borsele"));
  EXPECT_FALSE(NameLess("Goes", "Goes"));
  // The article "'s-" is ignored: 's-Hertogenbosch under H, 's-Gravenhage under G.
  EXPECT_TRUE(NameLess("Helmond", "'s-Hertogenbosch"));
  EXPECT_TRUE(NameLess("'s-Hertogenbosch", "Heusden"));
  EXPECT_TRUE(NameLess("'s-Hertogenbosch", "Schiedam"));
  EXPECT_TRUE(NameLess("Goirle", "'s-Gravenhage"));
  EXPECT_TRUE(NameLess("'s-Gravenhage", "Groningen"));
  EXPECT_TRUE(NameLess("Súdwest-Fryslân", "Terneuzen"));
  EXPECT_TRUE(NameLess("Stichtse Vecht", "Súdwest-Fryslân"));
  EXPECT_FALSE(NameLess("Súdwest-Fryslân", "Stichtse Vecht"));
  EXPECT_TRUE(NameLess("Sluis", "Súdwest-Fryslân"));
  EXPECT_TRUE(NameLess("Noord-Beveland", "Noordoostpolder"));  // punctuation ignored
  EXPECT_TRUE(NameLess("goes", "Hulst"));                      // case-insensitive
}

// Where a name lands in the list of all municipality names on a date.
TEST(NameLessTest, HertogenboschAmongTheHs) {
  std::vector<std::string> names;
  for (const MunicipalityInfo& m : Ref().municipalities()) {
    if (m.ValidOn(D("2022-09-30"))) names.push_back(m.name);
  }
  std::sort(names.begin(), names.end(),
            [](const std::string& a, const std::string& b) { return NameLess(a, b); });
  const auto at = std::find(names.begin(), names.end(), "'s-Hertogenbosch");
  ASSERT_NE(at, names.end());
  ASSERT_NE(at, names.begin());
  ASSERT_NE(at + 1, names.end());
  EXPECT_EQ(std::toupper(static_cast<unsigned char>((at - 1)->front())), 'H') << *(at - 1);
  EXPECT_EQ(std::toupper(static_cast<unsigned char>((at + 1)->front())), 'H') << *(at + 1);
  const auto sudwest = std::find(names.begin(), names.end(), "Súdwest-Fryslân");
  ASSERT_NE(sudwest, names.end());
  EXPECT_LT(std::find(names.begin(), names.end(), "Stichtse Vecht"), sudwest);
  EXPECT_LT(sudwest, std::find(names.begin(), names.end(), "Terneuzen"));
}

constexpr std::string_view kRegions = "number,name,cbs_code\n1,Noord,AM01\n2,Zuid,AM02\n";
constexpr std::string_view kMunicipalities =
    "code,name,valid_from,valid_to\n"
    "GM0001,Aa,1970-01-01,2020-01-01\n"
    "GM0002,Bee,1970-01-01,\n"
    "GM0003,Cee,1970-01-01,\n"
    "GM0004,\"Dee, en Eee\",2020-01-01,\n";
constexpr std::string_view kMembership =
    "code,region,valid_from,valid_to\n"
    "GM0001,1,1970-01-01,2020-01-01\n"
    "GM0002,1,1970-01-01,\n"
    "GM0003,2,1970-01-01,\n"
    "GM0004,2,2020-01-01,\n";
constexpr std::string_view kMergers =
    "effective_date,old_code,new_code,primary,kind\n"
    "2020-01-01,GM0001,GM0004,1,splitsing\n"
    "2020-01-01,GM0001,GM0002,0,splitsing\n";

TEST(ReferenceParseTest, SmallValidTables) {
  auto data = ReferenceData::Parse({kRegions, kMunicipalities, kMembership, kMergers});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->regions().size(), 2u);
  EXPECT_EQ(data->FindMunicipality("GM0004")->name, "Dee, en Eee");
  EXPECT_EQ(data->SuccessorOn("GM0001", D("2019-12-31")), "GM0001");
  EXPECT_EQ(data->SuccessorOn("GM0001", D("2020-01-01")), "GM0004");
  EXPECT_EQ(data->RegionOn("GM0004", D("2020-01-01")), 2);
  ASSERT_EQ(data->MunicipalitiesOf(2, D("2021-01-01")).size(), 2u);
  EXPECT_EQ(data->MunicipalitiesOf(2, D("2021-01-01"))[0]->code, "GM0003");
}

TEST(ReferenceParseTest, RejectsBadHeader) {
  auto bad_regions = ReferenceData::Parse(
      {"nr,name,cbs_code\n1,Noord,AM01\n", kMunicipalities, kMembership, kMergers});
  ASSERT_FALSE(bad_regions.ok());
  EXPECT_EQ(bad_regions.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad_regions.status().message()).find("regions.csv"), std::string::npos);
  auto bad_mergers =
      ReferenceData::Parse({kRegions, kMunicipalities, kMembership, "date,old,new,primary,kind\n"});
  EXPECT_EQ(bad_mergers.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReferenceParseTest, RejectsTwoPrimarySuccessors) {
  const std::string mergers = std::string(kMergers) + "2020-01-01,GM0001,GM0003,1,splitsing\n";
  auto data = ReferenceData::Parse({kRegions, kMunicipalities, kMembership, mergers});
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(data.status().message()).find("mergers.csv"), std::string::npos);
}

TEST(ReferenceParseTest, RejectsOtherMalformedRows) {
  const std::string extra_column = std::string(kMunicipalities) + "GM0005,Eff,1970-01-01,,x\n";
  EXPECT_FALSE(ReferenceData::Parse({kRegions, extra_column, kMembership, kMergers}).ok());
  const std::string bad_date = std::string(kMunicipalities) + "GM0005,Eff,1970-02-30,\n";
  EXPECT_FALSE(ReferenceData::Parse({kRegions, bad_date, kMembership, kMergers}).ok());
  const std::string dup = std::string(kMunicipalities) + "GM0002,Bee2,1970-01-01,\n";
  EXPECT_FALSE(ReferenceData::Parse({kRegions, dup, kMembership, kMergers}).ok());
  const std::string unknown_region = std::string(kMembership) + "GM0002,7,1970-01-01,\n";
  EXPECT_FALSE(ReferenceData::Parse({kRegions, kMunicipalities, unknown_region, kMergers}).ok());
  const std::string unknown_code = std::string(kMergers) + "2021-01-01,GM0002,GM0099,1,x\n";
  EXPECT_FALSE(ReferenceData::Parse({kRegions, kMunicipalities, kMembership, unknown_code}).ok());
}

}  // namespace
}  // namespace sonar::core
