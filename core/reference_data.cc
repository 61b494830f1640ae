#include "core/reference_data.h"

#include <algorithm>
#include <cctype>

#include "absl/status/status.h"

namespace sonar::core {
namespace {

using Row = std::vector<std::string>;

// Splits one CSV line; fields may be double-quoted ("Nuenen, Gerwen en Nederwetten"), with ""
// for a quote inside.
Row SplitCsvLine(std::string_view line) {
  Row row(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        row.back().push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        row.back().push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.emplace_back();
    } else {
      row.back().push_back(c);
    }
  }
  return row;
}

// Splits a small CSV; the header row is checked and dropped.
absl::StatusOr<std::vector<Row>> ParseCsv(std::string_view name, std::string_view text,
                                          std::string_view header) {
  std::vector<Row> rows;
  size_t line_no = 0;
  const size_t columns = std::count(header.begin(), header.end(), ',') + 1;
  // absl's string_view is not std's in Debian's build, so no absl string helpers here.
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line_no == 1) {
      if (line != header) return absl::InvalidArgumentError(std::string(name) + ": bad header");
      continue;
    }
    Row row = SplitCsvLine(line);
    if (row.size() != columns) {
      return absl::InvalidArgumentError(std::string(name) + ":" + std::to_string(line_no) +
                                        ": expected " + std::to_string(columns) + " columns");
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<Date> RequireDate(std::string_view name, std::string_view text) {
  if (auto d = ParseDate(text)) return *d;
  return absl::InvalidArgumentError(std::string(name) + ": bad date");
}

absl::StatusOr<std::optional<Date>> OptionalDate(std::string_view name, std::string_view text) {
  if (text.empty()) return std::optional<Date>{};
  auto d = RequireDate(name, text);
  if (!d.ok()) return d.status();
  return std::optional<Date>{*d};
}

absl::StatusOr<int> RequireInt(std::string_view name, std::string_view text) {
  if (text.empty() || text.size() > 6 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return absl::InvalidArgumentError(std::string(name) + ": bad number");
  }
  return std::stoi(std::string(text));
}

// Folds a name to its sort key: ASCII letters and digits, lower-cased, accents dropped for the
// two-byte UTF-8 Latin-1 letters that occur in Dutch and Frisian names.
std::string SortKey(std::string_view name) {
  // A leading elided article is not part of the sort name: "'s-Hertogenbosch" sorts under H.
  if (name.size() > 3 && name[0] == '\'' && (name[1] == 's' || name[1] == 't') &&
      (name[2] == '-' || name[2] == ' ')) {
    name.remove_prefix(3);
  }
  std::string key;
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (std::isalnum(c)) {
      key.push_back(static_cast<char>(std::tolower(c)));
    } else if (c == 0xC3 && i + 1 < name.size()) {
      // U+00C0..U+00FF: map to the base letter.
      static constexpr char kBase[] = "aaaaaaaceeeeiiiidnooooo/ouuuuyts";
      const auto low = static_cast<unsigned char>(name[++i]) & 0x1F;
      const char base = kBase[low];
      if (std::isalpha(static_cast<unsigned char>(base))) key.push_back(base);
    }
  }
  return key;
}

}  // namespace

bool NameLess(std::string_view a, std::string_view b) {
  const std::string ka = SortKey(a), kb = SortKey(b);
  return ka != kb ? ka < kb : a < b;
}

absl::StatusOr<ReferenceData> ReferenceData::Parse(const ReferenceCsv& csv) {
  ReferenceData data;
  auto regions = ParseCsv("regions.csv", csv.regions, "number,name,cbs_code");
  if (!regions.ok()) return regions.status();
  for (const Row& r : *regions) {
    auto number = RequireInt("regions.csv", r[0]);
    if (!number.ok()) return number.status();
    data.regions_.push_back({*number, std::string(r[1]), std::string(r[2])});
  }
  std::sort(data.regions_.begin(), data.regions_.end(),
            [](const RegionInfo& a, const RegionInfo& b) { return a.number < b.number; });

  auto munis = ParseCsv("municipalities.csv", csv.municipalities, "code,name,valid_from,valid_to");
  if (!munis.ok()) return munis.status();
  for (const Row& r : *munis) {
    auto from = RequireDate("municipalities.csv", r[2]);
    if (!from.ok()) return from.status();
    auto to = OptionalDate("municipalities.csv", r[3]);
    if (!to.ok()) return to.status();
    data.municipalities_.push_back({std::string(r[0]), std::string(r[1]), *from, *to});
  }
  std::sort(data.municipalities_.begin(), data.municipalities_.end(),
            [](const MunicipalityInfo& a, const MunicipalityInfo& b) { return a.code < b.code; });
  for (size_t i = 0; i < data.municipalities_.size(); ++i) {
    if (!data.municipality_index_.emplace(data.municipalities_[i].code, i).second) {
      return absl::InvalidArgumentError("municipalities.csv: duplicate code");
    }
  }

  auto members =
      ParseCsv("region_membership.csv", csv.region_membership, "code,region,valid_from,valid_to");
  if (!members.ok()) return members.status();
  for (const Row& r : *members) {
    auto region = RequireInt("region_membership.csv", r[1]);
    if (!region.ok()) return region.status();
    auto from = RequireDate("region_membership.csv", r[2]);
    if (!from.ok()) return from.status();
    auto to = OptionalDate("region_membership.csv", r[3]);
    if (!to.ok()) return to.status();
    if (data.RegionByNumber(*region) == nullptr || data.FindMunicipality(r[0]) == nullptr) {
      return absl::InvalidArgumentError("region_membership.csv: unknown region or code");
    }
    data.membership_[std::string(r[0])].push_back({*region, *from, *to});
  }

  auto mergers =
      ParseCsv("mergers.csv", csv.mergers, "effective_date,old_code,new_code,primary,kind");
  if (!mergers.ok()) return mergers.status();
  for (const Row& r : *mergers) {
    if (r[3] != "1") continue;
    auto effective = RequireDate("mergers.csv", r[0]);
    if (!effective.ok()) return effective.status();
    if (data.FindMunicipality(r[1]) == nullptr || data.FindMunicipality(r[2]) == nullptr) {
      return absl::InvalidArgumentError("mergers.csv: unknown code");
    }
    if (!data.primary_merger_.emplace(std::string(r[1]), Merger{*effective, std::string(r[2])})
             .second) {
      return absl::InvalidArgumentError("mergers.csv: two primary successors for one code");
    }
  }
  return data;
}

const MunicipalityInfo* ReferenceData::FindMunicipality(std::string_view code) const {
  auto it = municipality_index_.find(code);
  return it == municipality_index_.end() ? nullptr : &municipalities_[it->second];
}

bool ReferenceData::ExistsOn(std::string_view code, Date d) const {
  const MunicipalityInfo* m = FindMunicipality(code);
  return m != nullptr && m->ValidOn(d);
}

std::string ReferenceData::SuccessorOn(std::string_view code, Date d) const {
  std::string current(code);
  // Chains are short (at most a few hops); the bound guards against a cycle in bad data.
  for (int hops = 0; hops < 16; ++hops) {
    auto it = primary_merger_.find(current);
    if (it == primary_merger_.end() || it->second.effective > d) break;
    current = it->second.new_code;
  }
  return current;
}

std::optional<int> ReferenceData::RegionOn(std::string_view code, Date d) const {
  auto it = membership_.find(code);
  if (it == membership_.end()) return std::nullopt;
  for (const Membership& m : it->second) {
    if (d >= m.valid_from && (!m.valid_to || d < *m.valid_to)) return m.region;
  }
  return std::nullopt;
}

const RegionInfo* ReferenceData::RegionByNumber(int number) const {
  auto it = std::lower_bound(regions_.begin(), regions_.end(), number,
                             [](const RegionInfo& r, int n) { return r.number < n; });
  return it != regions_.end() && it->number == number ? &*it : nullptr;
}

const RegionInfo* ReferenceData::FindRegion(std::string_view key) const {
  if (!key.empty() && key.size() <= 3 &&
      std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return RegionByNumber(std::stoi(std::string(key)));
  }
  for (const RegionInfo& r : regions_) {
    if (r.cbs_code.size() == key.size() &&
        std::equal(key.begin(), key.end(), r.cbs_code.begin(), [](char a, char b) {
          return std::toupper(static_cast<unsigned char>(a)) ==
                 std::toupper(static_cast<unsigned char>(b));
        })) {
      return &r;
    }
  }
  return nullptr;
}

std::vector<const MunicipalityInfo*> ReferenceData::MunicipalitiesOf(int region, Date d) const {
  std::vector<const MunicipalityInfo*> out;
  for (const MunicipalityInfo& m : municipalities_) {
    if (m.ValidOn(d) && RegionOn(m.code, d) == region) out.push_back(&m);
  }
  std::sort(out.begin(), out.end(), [](const MunicipalityInfo* a, const MunicipalityInfo* b) {
    return NameLess(a->name, b->name);
  });
  return out;
}

}  // namespace sonar::core
