// Where libpqxx exceptions stop: every storage entry point runs its database work through
// StatusFromCurrentException() so callers only ever see absl::Status codes.
#pragma once

#include "absl/status/status.h"

namespace sonar::storage {

// Call from inside a catch(...) block. Maps:
//   broken connection, unknown outcome of a statement or COMMIT -> UNAVAILABLE
//   serialization failure, deadlock                               -> ABORTED (retry the batch)
//   insufficient privilege                                        -> PERMISSION_DENIED
//   anything else                                                 -> INTERNAL
// The message names the failure class and SQLSTATE, never query text or parameters.
[[nodiscard]] absl::Status StatusFromCurrentException();

}  // namespace sonar::storage
