// The reference data embedded from reference/*.csv (see reference/CMakeLists.txt).
#include <cstdlib>
#include <string_view>

#include "core/reference_data.h"

namespace sonar::reference {
extern const std::string_view k_regions;
extern const std::string_view k_municipalities;
extern const std::string_view k_region_membership;
extern const std::string_view k_mergers;
}  // namespace sonar::reference

namespace sonar::core {

const ReferenceData& ReferenceData::Builtin() {
  static const ReferenceData* const data = [] {
    auto parsed = Parse({reference::k_regions, reference::k_municipalities,
                         reference::k_region_membership, reference::k_mergers});
    // The embedded data is checked by the unit tests; failing here is a build defect.
    if (!parsed.ok()) std::abort();
    return new ReferenceData(*std::move(parsed));
  }();
  return *data;
}

}  // namespace sonar::core
