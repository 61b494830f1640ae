// Municipalities, labour-market regions and mergers, with their validity dates.
//
// Dates are Amsterdam calendar dates; intervals are [valid_from, valid_to). The data is parsed from
// the project's versioned CSV files in reference/ (embedded at build time, see Builtin()), so a
// correction is a data change. Immutable after construction; safe to share between threads.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/time.h"

namespace sonar::core {

struct RegionInfo {
  int number = 0;        // UWV numbering used by the publication, 1..35 ("29")
  std::string name;      // "Zeeland"
  std::string cbs_code;  // "AM24"
};

struct MunicipalityInfo {
  std::string code;  // "GM0654"
  std::string name;  // "Borsele"
  Date valid_from{};
  std::optional<Date> valid_to;  // exclusive; nullopt = still exists

  [[nodiscard]] bool ValidOn(Date d) const {
    return d >= valid_from && (!valid_to || d < *valid_to);
  }
};

struct ReferenceCsv {
  std::string_view regions;            // number,name,cbs_code
  std::string_view municipalities;     // code,name,valid_from,valid_to
  std::string_view region_membership;  // code,region,valid_from,valid_to
  std::string_view mergers;            // effective_date,old_code,new_code,primary,kind
};

class ReferenceData final {
 public:
  // Parses and cross-checks the four tables; INVALID_ARGUMENT names the file and line at fault.
  [[nodiscard]] static absl::StatusOr<ReferenceData> Parse(const ReferenceCsv& csv);

  // The data embedded in the binary from reference/*.csv. Parsed once, on first use.
  [[nodiscard]] static const ReferenceData& Builtin();

  [[nodiscard]] const MunicipalityInfo* FindMunicipality(std::string_view code) const;
  [[nodiscard]] bool ExistsOn(std::string_view code, Date d) const;

  // The municipality a resident of `code` counts in on `d`: `code` itself, or the successor it
  // was merged into by then (chains followed; a split maps to its largest part).
  [[nodiscard]] std::string SuccessorOn(std::string_view code, Date d) const;

  // The region `code` belonged to on `d`.
  [[nodiscard]] std::optional<int> RegionOn(std::string_view code, Date d) const;

  // By publication number ("29") or CBS code ("AM24", case-insensitive).
  [[nodiscard]] const RegionInfo* FindRegion(std::string_view number_or_cbs_code) const;
  [[nodiscard]] const RegionInfo* RegionByNumber(int number) const;
  [[nodiscard]] const std::vector<RegionInfo>& regions() const { return regions_; }

  // Municipalities that exist on `d` and belong to `region` then, ordered by name as in the
  // publication.
  [[nodiscard]] std::vector<const MunicipalityInfo*> MunicipalitiesOf(int region, Date d) const;

  [[nodiscard]] const std::vector<MunicipalityInfo>& municipalities() const {
    return municipalities_;
  }

 private:
  struct Membership {
    int region = 0;
    Date valid_from{};
    std::optional<Date> valid_to;
  };
  struct Merger {
    Date effective{};
    std::string new_code;
  };

  std::vector<RegionInfo> regions_;               // by number
  std::vector<MunicipalityInfo> municipalities_;  // by code
  std::map<std::string, size_t, std::less<>> municipality_index_;
  std::map<std::string, std::vector<Membership>, std::less<>> membership_;
  std::map<std::string, Merger, std::less<>> primary_merger_;  // old code -> where residents go
};

// Publication order of municipality names: case- and accent-insensitive, punctuation ignored
// ("'s-Hertogenbosch" sorts under H, "Súdwest-Fryslân" under S).
[[nodiscard]] bool NameLess(std::string_view a, std::string_view b);

}  // namespace sonar::core
