// proto <-> domain mapping for the gRPC adapters.
#pragma once

#include <string>

#include "core/figures.h"
#include "core/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "ingest/batch_processor.h"
#include "sonar/v1/events.pb.h"
#include "sonar/v1/ingest.pb.h"
#include "sonar/v1/query.pb.h"

namespace sonar::service {

// Decodes one event. Shape errors (no kind, no or invalid timestamp) become a decode rejection;
// the domain rules are checked later by core::ValidateEvent.
[[nodiscard]] ingest::IncomingEvent DecodeEvent(const v1::Event& event);

// The event as kept in quarantine: serialized, with client_ref removed unless it is a valid
// pseudonym (so a BSN or other personal value sent by mistake is never stored). With a
// `pseudonymizer` the client_ref kept is its pseudonym, as in the rest of the database (so the
// quarantine cannot link a pseudonym back to what the producer sent).
[[nodiscard]] std::string QuarantinePayload(const v1::Event& event,
                                            const ingest::Pseudonymizer* pseudonymizer = nullptr);

void ToProto(const ingest::BatchResult& result, uint64_t batch_id, v1::IngestResponse* out);
void ToProto(const core::RegionFigures& figures, bool with_municipalities, v1::RegionFigures* out);
void ToProto(const core::CellCounts& counts, v1::Cells* out);
[[nodiscard]] google::protobuf::Timestamp ToProto(core::Instant t);

// Domain event -> proto (used by tools that generate events).
[[nodiscard]] v1::Event ToProto(const core::Event& event);

}  // namespace sonar::service
