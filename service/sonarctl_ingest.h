// The client side of IngestService.Ingest as sonarctl uses it: reads NDJSON events, streams them
// in batches with a bounded number of unacknowledged requests, and reports what the server said.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "sonar/v1/events.pb.h"

namespace sonar::service {

struct IngestOptions {
  std::string addr;
  std::string file;
  int batch_size = 500;
  int in_flight = 4;
  // Reconnect this many times in a row without progress before giving up (0 = never retry).
  int retries = 20;
};

struct IngestSummary {
  uint64_t sent = 0;
  uint64_t batches = 0;
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  uint64_t unreadable_lines = 0;
  uint64_t reconnects = 0;
};

// Streams `events` to `addr` in batches (batch_id = 1 + index of the batch), at most `in_flight`
// unacknowledged. When the stream fails (server restarted, database down), reconnects with
// backoff and resends every batch not yet acknowledged — safe, because events are idempotent —
// giving up after `retries` consecutive attempts without a new acknowledgement. Returns true when
// every batch was acknowledged. Rejections are written to `errors` with the event's position
// (never its content).
[[nodiscard]] bool StreamEvents(const std::string& addr, const std::vector<v1::Event>& events,
                                int batch_size, int in_flight, IngestSummary& summary,
                                std::ostream& errors, int retries = 0);

// `sonarctl ingest`: exit code 0 on success (rejections included), 1 on a failed stream or file.
int RunIngest(const IngestOptions& options, std::ostream& out, std::ostream& errors);

}  // namespace sonar::service
