// libFuzzer target over what sonar-ingest does with a request body before the database:
// parse sonar.v1.IngestRequest, decode every event (service::DecodeEvent), validate it
// (core::ValidateEvent on the built-in reference data) and build its quarantine payload
// (service::QuarantinePayload). Must never crash, and checks the promises those functions make:
//   - a rejection's reason never depends on the event (one fixed text per code), so it cannot
//     echo a value of it;
//   - a quarantine payload parses back, and never keeps a BSN-like or otherwise invalid client_ref;
//   - a valid event survives the round trip domain -> proto -> domain unchanged.
// Build and run with fuzz/run.sh.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "core/reference_data.h"
#include "core/validation.h"
#include "google/protobuf/stubs/logging.h"
#include "ingest/pseudonymizer.h"
#include "service/proto_mapping.h"
#include "sonar/v1/ingest.pb.h"

namespace {

using sonar::core::Instant;

// A fixed server clock (2023-01-01T00:00:00Z), so runs are reproducible.
constexpr Instant kNow{std::chrono::microseconds{int64_t{1672531200} * 1'000'000}};

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "decode_fuzzer: %s\n", what);
  std::abort();
}

// A rejection's text must not depend on the event (so it cannot echo a value of it): every code
// always comes with the same reason.
void CheckRejection(const sonar::core::Rejection& r) {
  static std::map<std::string, std::string>* reasons = new std::map<std::string, std::string>();
  if (r.code.empty() || r.reason.empty()) Fail("rejection without code or reason");
  const auto [it, inserted] = reasons->try_emplace(r.code, r.reason);
  if (!inserted && it->second != r.reason) Fail("a rejection reason varies with the event");
}

void CheckQuarantine(const sonar::v1::Event& in) {
  const std::string payload = sonar::service::QuarantinePayload(in);
  sonar::v1::Event back;
  if (!back.ParseFromString(payload)) Fail("quarantine payload does not parse");
  const std::string& ref = back.client_ref();
  if (!ref.empty()) {
    if (sonar::core::LooksLikeBsn(ref)) Fail("quarantine payload keeps a BSN-like client_ref");
    if (ref != in.client_ref()) Fail("quarantine payload changed the client_ref");
    if (ref.size() < 16 || ref.size() > 128) Fail("quarantine payload keeps an invalid client_ref");
  }
  // With a pseudonymizer, what is kept is the pseudonym of what was kept without one.
  static const auto* pseudonymizer = new sonar::ingest::Pseudonymizer(
      *sonar::ingest::Pseudonymizer::FromKey(std::string(32, 'k')));
  sonar::v1::Event keyed;
  if (!keyed.ParseFromString(sonar::service::QuarantinePayload(in, pseudonymizer))) {
    Fail("pseudonymised quarantine payload does not parse");
  }
  if (keyed.client_ref() != (ref.empty() ? std::string() : pseudonymizer->Apply(ref))) {
    Fail("pseudonymised quarantine payload keeps something else than the pseudonym");
  }
}

void CheckRoundTrip(const sonar::core::Event& e) {
  const sonar::v1::Event proto = sonar::service::ToProto(e);
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) Fail("a valid event does not serialize");
  sonar::v1::Event parsed;
  if (!parsed.ParseFromString(bytes)) Fail("a valid event does not parse back");
  const sonar::ingest::IncomingEvent again = sonar::service::DecodeEvent(parsed);
  if (!again.event) Fail("a valid event does not decode back");
  if (!again.event->SameContent(e) || again.event->source != e.source ||
      again.event->event_id != e.event_id) {
    Fail("a valid event changed in the round trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Invalid UTF-8 makes protobuf log an error per input; that is expected, not news.
  google::protobuf::SetLogHandler(nullptr);
  (void)sonar::core::ReferenceData::Builtin();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sonar::v1::IngestRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  const sonar::core::ReferenceData& reference = sonar::core::ReferenceData::Builtin();
  for (const sonar::v1::Event& in : request.events()) {
    const sonar::ingest::IncomingEvent decoded = sonar::service::DecodeEvent(in);
    if (decoded.event.has_value() == decoded.decode_error.has_value()) {
      Fail("an event is neither decoded nor rejected, or both");
    }
    if (decoded.sent_source() != in.source() || decoded.sent_event_id() != in.event_id()) {
      Fail("decoding changed source or event_id");
    }
    CheckQuarantine(in);
    if (decoded.decode_error) {
      CheckRejection(*decoded.decode_error);
      continue;
    }
    const auto rejection = sonar::core::ValidateEvent(*decoded.event, kNow, reference);
    if (rejection) {
      CheckRejection(*rejection);
    } else {
      if (sonar::core::LooksLikeBsn(decoded.event->client_ref)) Fail("a BSN-like ref passed");
      CheckRoundTrip(*decoded.event);
    }
  }
  return 0;
}
