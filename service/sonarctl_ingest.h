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
};

struct IngestSummary {
  uint64_t sent = 0;
  uint64_t batches = 0;
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  uint64_t unreadable_lines = 0;
};

// Streams `events` to `addr`; returns the gRPC status and fills `summary`. Rejections are written
// to `errors` with the event's position (never its content).
[[nodiscard]] bool StreamEvents(const std::string& addr, const std::vector<v1::Event>& events,
                                int batch_size, int in_flight, IngestSummary& summary,
                                std::ostream& errors);

// `sonarctl ingest`: exit code 0 on success (rejections included), 1 on a failed stream or file.
int RunIngest(const IngestOptions& options, std::ostream& out, std::ostream& errors);

}  // namespace sonar::service
