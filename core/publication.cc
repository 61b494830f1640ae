#include "core/publication.h"

#include <array>
#include <cstdio>
#include <string_view>

namespace sonar::core {
namespace {

// The seed's fixed text between the place heading and the table, byte for byte.
constexpr std::string_view kIntroText =
    "### Transparantie op de arbeidsmarkt\n"
    "\n"
    "Gemeenten en UWV hebben een gedeelde verantwoordelijkheid om transparantie op de "
    "arbeidsmarkt te realiseren. Speciaal voor werkgevers en intermediairs heeft UWV daarom "
    "de kandidatenverkenner banenafspraken ontwikkeld: een online databank op werk.nl met de "
    "anonieme profielen van mensen die behoren tot de doelgroep van de banenafspraken. De "
    "publicatie 'Transparantie van klantprofielen' geeft inzicht in de vorderingen op dit "
    "gebied: hoeveel mensen die behoren tot de doelgroep van de banenafspraken worden door "
    "UWV en gemeenten (anoniem) voor het voetlicht gebracht?\n"
    "\n"
    "### Sonar\n"
    "\n"
    "De profielen in de kandidatenverkenner zijn afkomstig uit het landelijke "
    "klantvolgsysteem Sonar. UWV registreert werkzoekenden in Sonar en gebruikt het systeem "
    "voor het vastleggen, monitoren en verantwoorden van de dienstverlening en re-integratie. "
    "Gemeenten kunnen eveneens werkzoekenden in Sonar registreren en het systeem gebruiken "
    "voor het vinden van geschikte kandidaten voor een vacature.\n"
    "\n"
    "### Klantprofielen\n"
    "\n"
    "Sonar biedt ook de mogelijkheid om van geregistreerde kandidaten een klantprofiel op te "
    "stellen. Deze profielen in Sonar bevatten gegevens van werkzoekenden, waaronder "
    "opleiding, vaardigheden, competenties, affiniteiten, beroepssectoren en taaksoorten. Het "
    "opstellen van het klantprofiel gebeurt samen met de klant en is een onderdeel van de "
    "reguliere dienstverlening van UWV. Ook gemeenten kunnen klantprofielen opstellen voor "
    "hun doelgroep.\n"
    "\n"
    "### Banenafspraken\n"
    "\n"
    "Door de koppeling tussen de kandidatenverkenner banenafspraken en Sonar zijn de "
    "(geanonimiseerde) klantprofielen ook beschikbaar voor werkgevers en intermediairs. "
    "Gemeenten en UWV kunnen op die manier hun klantenbestand transparant maken. Het is een "
    "van de belangrijke instrumenten om er samen met werkgevers en intermediairs voor te "
    "zorgen dat zij de doelstellingen van de banenafspraken bereiken.\n"
    "\n";

// Two header lines: the cell groups span two columns each, so the first line leaves the second
// column of each group empty, and the second line ends with an empty "Totaal in Sonar" cell.
constexpr std::string_view kTextHeader =
    "Arbeidsmarktregio\tGemeente\tGemeenteklanten in Sonar\t\tUWV-klanten in Sonar\t\t"
    "Totaal in Sonar\n"
    "\t\tProfiel in Sonar\tGeen profiel in Sonar\tProfiel in Sonar\tGeen profiel in Sonar\t\n";

constexpr std::string_view kMarkdownHeader =
    "| Arbeidsmarktregio | Gemeente | Gemeenteklanten: profiel in Sonar | "
    "Gemeenteklanten: geen profiel in Sonar | UWV-klanten: profiel in Sonar | "
    "UWV-klanten: geen profiel in Sonar | Totaal in Sonar |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |\n";

constexpr std::string_view kCsvHeader =
    "arbeidsmarktregio,gemeente,gemeente_met_profiel,gemeente_zonder_profiel,uwv_met_profiel,"
    "uwv_zonder_profiel,totaal_in_sonar,doelgroepregister\n";

// One table row: a municipality of a region, or a region of the country.
struct Row {
  std::string region;   // "29 Zeeland", on every row (text and Markdown show it once)
  std::string name;     // the municipality; empty on national rows
  std::string json_id;  // the identifying JSON members of the row's object
  const CellCounts* cells = nullptr;
};

// What the four formats need, the same for a region and for the country.
struct Table {
  std::string place;         // heading: "Zeeland", "Nederland"
  std::string where;         // footnote: "in de arbeidsmarktregio Zeeland", "in Nederland"
  std::string total_region;  // CSV region column of the totals row
  std::string total_label;   // "TOTAAL AMR"
  std::string json_head;     // JSON members before the rows, ending in the rows' key
  std::vector<Row> rows;
  CellCounts total;
};

// The five published columns, in table order.
std::array<int64_t, 5> Columns(const CellCounts& c) {
  return {c.gemeente_with_profile, c.gemeente_without_profile, c.uwv_with_profile,
          c.uwv_without_profile, c.TotalInSonar()};
}

std::string RegionLabel(const RegionInfo& region) {
  return std::to_string(region.number) + " " + region.name;
}

std::string Footnote(const Table& t) {
  return "In Sonar zijn niet alle doelgroepers opgenomen, " + t.where +
         " bevat het doelgroepregister banenafspraken in totaal " +
         DutchNumber(t.total.RegisterTotal()) + " personen. Hiervan is " +
         std::to_string(RoundedPercent(t.total.TotalInSonar(), t.total.RegisterTotal())) +
         "% bekend binnen Sonar.";
}

std::string Headings(const Table& t, Quarter q) {
  return "# Transparantie van klantprofielen\n\n## " + DutchQuarterTitle(q) + "\n\n## " + t.place +
         "\n\n";
}

std::string RenderText(const Table& t, Quarter q) {
  std::string out = "\n\n" + Headings(t, q);
  out += kIntroText;
  out += kTextHeader;
  const std::string* shown_region = nullptr;
  for (const Row& row : t.rows) {
    // As in the seed, a region is named only on its first row.
    if (shown_region == nullptr || *shown_region != row.region) out += row.region;
    shown_region = &row.region;
    out += "\t" + row.name;
    for (int64_t v : Columns(*row.cells)) out += "\t" + DutchNumber(v);
    out += "\n";
  }
  out += "\t<b>" + t.total_label + "</b>";
  for (int64_t v : Columns(t.total)) out += "\t<b>" + DutchNumber(v) + "</b>";
  return out + "\n\n*" + Footnote(t) + "*";  // the seed has no final newline
}

std::string MarkdownEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (std::string_view("\\|*_`[]<>").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string RenderMarkdown(const Table& t, Quarter q) {
  std::string out = Headings(t, q);
  out += kMarkdownHeader;
  const std::string* shown_region = nullptr;
  for (const Row& row : t.rows) {
    const bool show = shown_region == nullptr || *shown_region != row.region;
    shown_region = &row.region;
    out += "| " + (show ? MarkdownEscape(row.region) : "") + " | " + MarkdownEscape(row.name);
    for (int64_t v : Columns(*row.cells)) out += " | " + DutchNumber(v);
    out += " |\n";
  }
  out += "|  | **" + MarkdownEscape(t.total_label) + "**";
  for (int64_t v : Columns(t.total)) out += " | **" + DutchNumber(v) + "**";
  return out + " |\n\n*" + Footnote(t) + "*\n";
}

// RFC 4180: quote a field holding a separator, quote or line break; double inner quotes.
std::string CsvField(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string CsvRow(std::string_view region, std::string_view name, const CellCounts& cells) {
  std::string out = CsvField(region) + "," + CsvField(name);
  for (int64_t v : Columns(cells)) out += "," + std::to_string(v);
  return out + "," + std::to_string(cells.RegisterTotal()) + "\n";
}

std::string RenderCsv(const Table& t) {
  std::string out(kCsvHeader);
  for (const Row& row : t.rows) out += CsvRow(row.region, row.name, *row.cells);
  return out + CsvRow(t.total_region, t.total_label, t.total);
}

// A JSON string literal. Control characters become \u escapes (valid JSON, one rule for all);
// bytes from 0x80 up (UTF-8) pass through unchanged.
std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(byte));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonCells(const CellCounts& c) {
  return "\"gemeente_with_profile\":" + std::to_string(c.gemeente_with_profile) +
         ",\"gemeente_without_profile\":" + std::to_string(c.gemeente_without_profile) +
         ",\"uwv_with_profile\":" + std::to_string(c.uwv_with_profile) +
         ",\"uwv_without_profile\":" + std::to_string(c.uwv_without_profile) +
         ",\"total_in_sonar\":" + std::to_string(c.TotalInSonar()) +
         ",\"register_total\":" + std::to_string(c.RegisterTotal());
}

std::string JsonRegionId(const RegionInfo& region) {
  return "\"number\":" + JsonString(std::to_string(region.number)) +
         ",\"cbs_code\":" + JsonString(region.cbs_code) + ",\"name\":" + JsonString(region.name);
}

std::string RenderJson(const Table& t, Quarter q) {
  std::string out = "{\"quarter\":" + JsonString(q.ToString()) + "," + t.json_head + ":[";
  for (size_t i = 0; i < t.rows.size(); ++i) {
    if (i > 0) out += ",";
    out += "{" + t.rows[i].json_id + "," + JsonCells(*t.rows[i].cells) + "}";
  }
  const int64_t known = t.total.TotalInSonar();
  const int64_t register_total = t.total.RegisterTotal();
  return out + "],\"total\":{" + JsonCells(t.total) +
         "},\"register_total\":" + std::to_string(register_total) +
         ",\"known_in_sonar\":" + std::to_string(known) +
         ",\"coverage_percent\":" + std::to_string(RoundedPercent(known, register_total)) + "}";
}

std::string Render(const Table& t, Quarter q, PublicationFormat format) {
  switch (format) {
    case PublicationFormat::kText:
      return RenderText(t, q);
    case PublicationFormat::kCsv:
      return RenderCsv(t);
    case PublicationFormat::kJson:
      return RenderJson(t, q);
    case PublicationFormat::kMarkdown:
      return RenderMarkdown(t, q);
  }
  return {};
}

}  // namespace

std::optional<PublicationFormat> ParsePublicationFormat(std::string_view name) {
  if (name == "text") return PublicationFormat::kText;
  if (name == "csv") return PublicationFormat::kCsv;
  if (name == "json") return PublicationFormat::kJson;
  if (name == "markdown") return PublicationFormat::kMarkdown;
  return std::nullopt;
}

std::string DutchQuarterTitle(Quarter q) {
  static constexpr std::array<const char*, 4> kOrdinals = {"eerste", "tweede", "derde", "vierde"};
  if (q.quarter < 1 || q.quarter > 4) return q.ToString();
  return std::string(kOrdinals[q.quarter - 1]) + " kwartaal " + std::to_string(q.year);
}

std::string DutchNumber(int64_t n) {
  // Unsigned magnitude, so that INT64_MIN does not overflow on negation.
  const uint64_t magnitude = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  const std::string digits = std::to_string(magnitude);
  std::string out = n < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += '.';
    out += digits[i];
  }
  return out;
}

std::string RenderRegion(const RegionFigures& figures, Quarter quarter, PublicationFormat format) {
  Table t{.place = figures.region.name,
          .where = "in de arbeidsmarktregio " + figures.region.name,
          .total_region = RegionLabel(figures.region),
          .total_label = "TOTAAL AMR",
          .json_head = "\"region\":{" + JsonRegionId(figures.region) + "},\"municipalities\"",
          .rows = {},
          .total = figures.total};
  for (const MunicipalityFigures& m : figures.municipalities) {
    t.rows.push_back({t.total_region, m.name,
                      "\"code\":" + JsonString(m.code) + ",\"name\":" + JsonString(m.name),
                      &m.cells});
  }
  return Render(t, quarter, format);
}

std::string RenderNational(const std::vector<RegionFigures>& regions, Quarter quarter,
                           PublicationFormat format) {
  Table t{.place = "Nederland",
          .where = "in Nederland",
          .total_region = "",
          .total_label = "TOTAAL NEDERLAND",
          .json_head = "\"regions\"",
          .rows = {},
          .total = {}};
  for (const RegionFigures& r : regions) {
    t.rows.push_back({RegionLabel(r.region), "", JsonRegionId(r.region), &r.total});
    t.total.Add(r.total);
  }
  return Render(t, quarter, format);
}

}  // namespace sonar::core
