#include "core/publication.h"

#include <gtest/gtest.h>

#include <climits>
#include <string>
#include <string_view>

#include "core/reference_data.h"

namespace sonar::core {
namespace {

constexpr Quarter kQ3{2022, 3};

// The seed publication with only its totals row fixed (SPEC section 6): the seed has
// "\t<b>TOTAAL AMR</b>\t\t<b>90</b>\t<b>833</b>\t<b>1.239</b>\t<b>509</b>", one column too far
// right and without 2.671. Everything else is the seed byte for byte: real tabs, two leading
// blank lines, no final newline.
constexpr std::string_view kZeelandText = R"seed(

# Transparantie van klantprofielen

## derde kwartaal 2022

## Zeeland

### Transparantie op de arbeidsmarkt

Gemeenten en UWV hebben een gedeelde verantwoordelijkheid om transparantie op de arbeidsmarkt te realiseren. Speciaal voor werkgevers en intermediairs heeft UWV daarom de kandidatenverkenner banenafspraken ontwikkeld: een online databank op werk.nl met de anonieme profielen van mensen die behoren tot de doelgroep van de banenafspraken. De publicatie 'Transparantie van klantprofielen' geeft inzicht in de vorderingen op dit gebied: hoeveel mensen die behoren tot de doelgroep van de banenafspraken worden door UWV en gemeenten (anoniem) voor het voetlicht gebracht?

### Sonar

De profielen in de kandidatenverkenner zijn afkomstig uit het landelijke klantvolgsysteem Sonar. UWV registreert werkzoekenden in Sonar en gebruikt het systeem voor het vastleggen, monitoren en verantwoorden van de dienstverlening en re-integratie. Gemeenten kunnen eveneens werkzoekenden in Sonar registreren en het systeem gebruiken voor het vinden van geschikte kandidaten voor een vacature.

### Klantprofielen

Sonar biedt ook de mogelijkheid om van geregistreerde kandidaten een klantprofiel op te stellen. Deze profielen in Sonar bevatten gegevens van werkzoekenden, waaronder opleiding, vaardigheden, competenties, affiniteiten, beroepssectoren en taaksoorten. Het opstellen van het klantprofiel gebeurt samen met de klant en is een onderdeel van de reguliere dienstverlening van UWV. Ook gemeenten kunnen klantprofielen opstellen voor hun doelgroep.

### Banenafspraken

Door de koppeling tussen de kandidatenverkenner banenafspraken en Sonar zijn de (geanonimiseerde) klantprofielen ook beschikbaar voor werkgevers en intermediairs. Gemeenten en UWV kunnen op die manier hun klantenbestand transparant maken. Het is een van de belangrijke instrumenten om er samen met werkgevers en intermediairs voor te zorgen dat zij de doelstellingen van de banenafspraken bereiken.

Arbeidsmarktregio	Gemeente	Gemeenteklanten in Sonar		UWV-klanten in Sonar		Totaal in Sonar
		Profiel in Sonar	Geen profiel in Sonar	Profiel in Sonar	Geen profiel in Sonar	
29 Zeeland	Borsele	0	45	57	30	132
	Goes	4	165	201	81	451
	Hulst	1	37	77	31	146
	Kapelle	0	18	33	17	68
	Middelburg	4	140	185	66	395
	Noord-Beveland	1	14	24	6	45
	Reimerswaal	4	36	75	26	141
	Schouwen-Duiveland	3	88	90	41	222
	Sluis	2	39	44	24	109
	Terneuzen	65	68	173	80	386
	Tholen	3	41	87	31	162
	Veere	0	21	38	9	68
	Vlissingen	3	121	155	67	346
	<b>TOTAAL AMR</b>	<b>90</b>	<b>833</b>	<b>1.239</b>	<b>509</b>	<b>2.671</b>

*In Sonar zijn niet alle doelgroepers opgenomen, in de arbeidsmarktregio Zeeland bevat het doelgroepregister banenafspraken in totaal 4.125 personen. Hiervan is 65% bekend binnen Sonar.*)seed";

// The four cells of each seed row, in the seed's (name) order.
constexpr int64_t kSeedCells[][4] = {
    {0, 45, 57, 30}, {4, 165, 201, 81}, {1, 37, 77, 31},  {0, 18, 33, 17}, {4, 140, 185, 66},
    {1, 14, 24, 6},  {4, 36, 75, 26},   {3, 88, 90, 41},  {2, 39, 44, 24}, {65, 68, 173, 80},
    {3, 41, 87, 31}, {0, 21, 38, 9},    {3, 121, 155, 67}};

CellCounts Cells(int64_t gwp, int64_t gwop, int64_t uwp, int64_t uwop, int64_t register_only) {
  CellCounts c;
  c.gemeente_with_profile = gwp;
  c.gemeente_without_profile = gwop;
  c.uwv_with_profile = uwp;
  c.uwv_without_profile = uwop;
  c.register_only = register_only;
  return c;
}

// Zeeland at the end of 2022-Q3 as in the seed: 2,671 known in Sonar, 4,125 in the register.
RegionFigures Zeeland() {
  const ReferenceData& reference = ReferenceData::Builtin();
  RegionFigures f;
  f.region = *reference.RegionByNumber(29);
  const auto layout = reference.MunicipalitiesOf(29, *ParseDate("2022-09-30"));
  for (size_t i = 0; i < layout.size() && i < std::size(kSeedCells); ++i) {
    const int64_t* c = kSeedCells[i];
    f.municipalities.push_back(
        {layout[i]->code, layout[i]->name, Cells(c[0], c[1], c[2], c[3], 0)});
    f.total.Add(f.municipalities.back().cells);
  }
  f.total.register_only = 4125 - 2671;
  return f;
}

// Everything of kZeelandText up to and including the two table header lines.
std::string_view ZeelandTextUpToRows() {
  const std::string_view header_end = "Geen profiel in Sonar\t\n";
  return kZeelandText.substr(0, kZeelandText.find(header_end) + header_end.size());
}

TEST(PublicationFormatTest, ParsesTheFourNames) {
  EXPECT_EQ(ParsePublicationFormat("text"), PublicationFormat::kText);
  EXPECT_EQ(ParsePublicationFormat("csv"), PublicationFormat::kCsv);
  EXPECT_EQ(ParsePublicationFormat("json"), PublicationFormat::kJson);
  EXPECT_EQ(ParsePublicationFormat("markdown"), PublicationFormat::kMarkdown);
  EXPECT_EQ(ParsePublicationFormat(""), std::nullopt);
  EXPECT_EQ(ParsePublicationFormat("md"), std::nullopt);
  EXPECT_EQ(ParsePublicationFormat("TEXT"), std::nullopt);
}

TEST(PublicationDutchTest, QuarterTitles) {
  EXPECT_EQ(DutchQuarterTitle({2022, 1}), "eerste kwartaal 2022");
  EXPECT_EQ(DutchQuarterTitle({2022, 2}), "tweede kwartaal 2022");
  EXPECT_EQ(DutchQuarterTitle({2022, 3}), "derde kwartaal 2022");
  EXPECT_EQ(DutchQuarterTitle({2023, 4}), "vierde kwartaal 2023");
}

TEST(PublicationDutchTest, NumbersGroupThousandsWithDots) {
  EXPECT_EQ(DutchNumber(0), "0");
  EXPECT_EQ(DutchNumber(999), "999");
  EXPECT_EQ(DutchNumber(1000), "1.000");
  EXPECT_EQ(DutchNumber(1239), "1.239");
  EXPECT_EQ(DutchNumber(2671), "2.671");
  EXPECT_EQ(DutchNumber(1234567), "1.234.567");
  EXPECT_EQ(DutchNumber(-5), "-5");
  EXPECT_EQ(DutchNumber(-1239), "-1.239");
  EXPECT_EQ(DutchNumber(INT64_MAX), "9.223.372.036.854.775.807");
  EXPECT_EQ(DutchNumber(INT64_MIN), "-9.223.372.036.854.775.808");
}

TEST(PublicationRegionTest, TextIsTheSeedWithItsTotalsRowFixed) {
  const RegionFigures zeeland = Zeeland();
  ASSERT_EQ(zeeland.municipalities.size(), 13u);
  EXPECT_EQ(RenderRegion(zeeland, kQ3, PublicationFormat::kText), kZeelandText);
}

TEST(PublicationRegionTest, TextOfAnEmptyRegionHasZeroCoverage) {
  RegionFigures empty;
  empty.region = *ReferenceData::Builtin().RegionByNumber(29);
  const std::string expected =
      std::string(ZeelandTextUpToRows()) +
      "\t<b>TOTAAL AMR</b>\t<b>0</b>\t<b>0</b>\t<b>0</b>\t<b>0</b>\t<b>0</b>\n\n"
      "*In Sonar zijn niet alle doelgroepers opgenomen, in de arbeidsmarktregio Zeeland bevat het "
      "doelgroepregister banenafspraken in totaal 0 personen. Hiervan is 0% bekend binnen Sonar.*";
  EXPECT_EQ(RenderRegion(empty, kQ3, PublicationFormat::kText), expected);
}

TEST(PublicationRegionTest, Csv) {
  EXPECT_EQ(RenderRegion(Zeeland(), kQ3, PublicationFormat::kCsv),
            "arbeidsmarktregio,gemeente,gemeente_met_profiel,gemeente_zonder_profiel,"
            "uwv_met_profiel,uwv_zonder_profiel,totaal_in_sonar,doelgroepregister\n"
            "29 Zeeland,Borsele,0,45,57,30,132,132\n"
            "29 Zeeland,Goes,4,165,201,81,451,451\n"
            "29 Zeeland,Hulst,1,37,77,31,146,146\n"
            "29 Zeeland,Kapelle,0,18,33,17,68,68\n"
            "29 Zeeland,Middelburg,4,140,185,66,395,395\n"
            "29 Zeeland,Noord-Beveland,1,14,24,6,45,45\n"
            "29 Zeeland,Reimerswaal,4,36,75,26,141,141\n"
            "29 Zeeland,Schouwen-Duiveland,3,88,90,41,222,222\n"
            "29 Zeeland,Sluis,2,39,44,24,109,109\n"
            "29 Zeeland,Terneuzen,65,68,173,80,386,386\n"
            "29 Zeeland,Tholen,3,41,87,31,162,162\n"
            "29 Zeeland,Veere,0,21,38,9,68,68\n"
            "29 Zeeland,Vlissingen,3,121,155,67,346,346\n"
            "29 Zeeland,TOTAAL AMR,90,833,1239,509,2671,4125\n");
}

TEST(PublicationRegionTest, CsvQuotesCommasAndQuotes) {
  const ReferenceData& reference = ReferenceData::Builtin();
  RegionFigures f;
  f.region = *reference.RegionByNumber(33);
  f.municipalities.push_back(
      {"GM0820", reference.FindMunicipality("GM0820")->name, Cells(1, 2, 3, 4, 5)});
  f.municipalities.push_back({"GM9999", "Het \"Dorp\"", Cells(0, 0, 0, 0, 0)});
  f.total = f.municipalities[0].cells;
  const std::string csv = RenderRegion(f, kQ3, PublicationFormat::kCsv);
  EXPECT_NE(csv.find("\n33 Zuidoost-Brabant,\"Nuenen, Gerwen en Nederwetten\",1,2,3,4,10,15\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\n33 Zuidoost-Brabant,\"Het \"\"Dorp\"\"\",0,0,0,0,0,0\n"), std::string::npos)
      << csv;
}

TEST(PublicationRegionTest, Json) {
  const std::string json = RenderRegion(Zeeland(), kQ3, PublicationFormat::kJson);
  EXPECT_EQ(
      json.rfind("{\"quarter\":\"2022-Q3\",\"region\":{\"number\":\"29\",\"cbs_code\":\"AM24\","
                 "\"name\":\"Zeeland\"},\"municipalities\":[{\"code\":\"GM0654\",\"name\":"
                 "\"Borsele\",\"gemeente_with_profile\":0,\"gemeente_without_profile\":45,"
                 "\"uwv_with_profile\":57,\"uwv_without_profile\":30,\"total_in_sonar\":132,"
                 "\"register_total\":132},{",
                 0),
      0u)
      << json;
  const std::string_view tail =
      "}],\"total\":{\"gemeente_with_profile\":90,\"gemeente_without_profile\":833,"
      "\"uwv_with_profile\":1239,\"uwv_without_profile\":509,\"total_in_sonar\":2671,"
      "\"register_total\":4125},\"register_total\":4125,\"known_in_sonar\":2671,"
      "\"coverage_percent\":65}";
  EXPECT_TRUE(json.ends_with(tail)) << json;
  size_t objects = 0;
  for (size_t at = json.find("{\"code\":"); at != std::string::npos;
       at = json.find("{\"code\":", at + 1)) {
    ++objects;
  }
  EXPECT_EQ(objects, 13u);
}

TEST(PublicationRegionTest, JsonEscapesStringsAndPassesUtf8Through) {
  RegionFigures f;
  f.region = {99, "Fryslân \"Noord\"", "AM99"};
  f.municipalities.push_back({"GM1900", "Súdwest-Fryslân", {}});
  f.municipalities.push_back({"GM0000", "a\\b\n\t\x01", {}});
  const std::string json = RenderRegion(f, kQ3, PublicationFormat::kJson);
  EXPECT_NE(json.find("\"name\":\"Fryslân \\\"Noord\\\"\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"name\":\"Súdwest-Fryslân\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"name\":\"a\\\\b\\u000a\\u0009\\u0001\""), std::string::npos) << json;
  EXPECT_TRUE(json.ends_with("\"coverage_percent\":0}")) << json;
}

TEST(PublicationRegionTest, Markdown) {
  const std::string md = RenderRegion(Zeeland(), kQ3, PublicationFormat::kMarkdown);
  EXPECT_EQ(
      md.rfind("# Transparantie van klantprofielen\n\n## derde kwartaal 2022\n\n## Zeeland\n\n"
               "| Arbeidsmarktregio | Gemeente | ",
               0),
      0u)
      << md;
  EXPECT_NE(md.find("\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n"
                    "| 29 Zeeland | Borsele | 0 | 45 | 57 | 30 | 132 |\n"
                    "|  | Goes | 4 | 165 | 201 | 81 | 451 |\n"),
            std::string::npos)
      << md;
  EXPECT_TRUE(md.ends_with(
      "|  | Vlissingen | 3 | 121 | 155 | 67 | 346 |\n"
      "|  | **TOTAAL AMR** | **90** | **833** | **1.239** | **509** | **2.671** |\n\n"
      "*In Sonar zijn niet alle doelgroepers opgenomen, in de arbeidsmarktregio Zeeland bevat het "
      "doelgroepregister banenafspraken in totaal 4.125 personen. Hiervan is 65% bekend binnen "
      "Sonar.*\n"))
      << md;
}

TEST(PublicationRegionTest, MarkdownEscapesPipes) {
  RegionFigures f;
  f.region = {99, "A|B", "AM99"};
  f.municipalities.push_back({"GM0000", "C|D", {}});
  const std::string md = RenderRegion(f, kQ3, PublicationFormat::kMarkdown);
  EXPECT_NE(md.find("| 99 A\\|B | C\\|D | 0 |"), std::string::npos) << md;
}

// Groningen (1,510 in Sonar, 2,010 in the register) and Zeeland (2,671 and 4,125): together 4,181
// of 6,135, 68%.
std::vector<RegionFigures> TwoRegions() {
  RegionFigures groningen;
  groningen.region = *ReferenceData::Builtin().RegionByNumber(1);
  groningen.total = Cells(10, 1000, 200, 300, 500);
  return {groningen, Zeeland()};
}

TEST(PublicationNationalTest, Text) {
  std::string expected(ZeelandTextUpToRows());
  expected.replace(expected.find("## Zeeland"), 10, "## Nederland");
  expected +=
      "1 Groningen\t\t10\t1.000\t200\t300\t1.510\n"
      "29 Zeeland\t\t90\t833\t1.239\t509\t2.671\n"
      "\t<b>TOTAAL NEDERLAND</b>\t<b>100</b>\t<b>1.833</b>\t<b>1.439</b>\t<b>809</b>\t<b>4.181</b>"
      "\n\n*In Sonar zijn niet alle doelgroepers opgenomen, in Nederland bevat het "
      "doelgroepregister "
      "banenafspraken in totaal 6.135 personen. Hiervan is 68% bekend binnen Sonar.*";
  EXPECT_EQ(RenderNational(TwoRegions(), kQ3, PublicationFormat::kText), expected);
}

TEST(PublicationNationalTest, Csv) {
  EXPECT_EQ(RenderNational(TwoRegions(), kQ3, PublicationFormat::kCsv),
            "arbeidsmarktregio,gemeente,gemeente_met_profiel,gemeente_zonder_profiel,"
            "uwv_met_profiel,uwv_zonder_profiel,totaal_in_sonar,doelgroepregister\n"
            "1 Groningen,,10,1000,200,300,1510,2010\n"
            "29 Zeeland,,90,833,1239,509,2671,4125\n"
            ",TOTAAL NEDERLAND,100,1833,1439,809,4181,6135\n");
}

TEST(PublicationNationalTest, JsonAndMarkdown) {
  const std::string json = RenderNational(TwoRegions(), kQ3, PublicationFormat::kJson);
  EXPECT_EQ(json.rfind("{\"quarter\":\"2022-Q3\",\"regions\":[{\"number\":\"1\",\"cbs_code\":"
                       "\"AM01\",\"name\":\"Groningen\",\"gemeente_with_profile\":10,",
                       0),
            0u)
      << json;
  EXPECT_TRUE(
      json.ends_with("\"register_total\":6135},\"register_total\":6135,\"known_in_sonar\":4181,"
                     "\"coverage_percent\":68}"))
      << json;

  const std::string md = RenderNational(TwoRegions(), kQ3, PublicationFormat::kMarkdown);
  EXPECT_NE(md.find("\n## Nederland\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| 1 Groningen |  | 10 | 1.000 | 200 | 300 | 1.510 |\n"
                    "| 29 Zeeland |  | 90 | 833 | 1.239 | 509 | 2.671 |\n"
                    "|  | **TOTAAL NEDERLAND** | **100** | **1.833** | **1.439** | **809** | "
                    "**4.181** |\n\n*In Sonar zijn niet alle doelgroepers opgenomen, in Nederland"),
            std::string::npos)
      << md;
}

TEST(PublicationNationalTest, NoRegionsMeansZeroCoverage) {
  const std::string text = RenderNational({}, kQ3, PublicationFormat::kText);
  EXPECT_TRUE(text.ends_with("in totaal 0 personen. Hiervan is 0% bekend binnen Sonar.*")) << text;
}

}  // namespace
}  // namespace sonar::core
