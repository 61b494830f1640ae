// The invariant check: the counters equal a recomputation from the stored events, and every
// accepted event is stored exactly once. Reads the whole event log (with a cursor, so memory
// stays bounded by one person's history); meant for operators (`sonarctl verify`) and tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sonar::storage {

struct VerifyReport {
  int64_t events = 0;                 // rows in events
  int64_t persons = 0;                // distinct client refs in events
  int64_t accepted_in_batches = 0;    // sum of ingest_batches.accepted
  int64_t live_mismatches = 0;        // (code, cell) pairs where live_counts differ
  int64_t quarter_mismatches = 0;     // (quarter, code, cell) where quarter_deltas differ
  int64_t history_mismatches = 0;     // persons whose stored history is not their events
  std::vector<std::string> examples;  // a few mismatches, described without personal data

  [[nodiscard]] bool ok() const {
    return live_mismatches == 0 && quarter_mismatches == 0 && history_mismatches == 0 &&
           events == accepted_in_batches;
  }
};

[[nodiscard]] absl::StatusOr<VerifyReport> VerifyCounters(const std::string& database_url);

}  // namespace sonar::storage
