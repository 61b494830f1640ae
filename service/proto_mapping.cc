#include "service/proto_mapping.h"

#include "core/validation.h"
#include "ingest/pseudonymizer.h"

namespace sonar::service {
namespace {

// RFC 3339 range that google.protobuf.Timestamp allows.
constexpr int64_t kMinSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxSeconds = 253402300799;  // 9999-12-31T23:59:59Z

core::Registrant FromProto(v1::Registrant r) {
  switch (r) {
    case v1::REGISTRANT_GEMEENTE:
      return core::Registrant::kGemeente;
    case v1::REGISTRANT_UWV:
      return core::Registrant::kUwv;
    default:
      return core::Registrant::kUnspecified;
  }
}

v1::Registrant ToProto(core::Registrant r) {
  switch (r) {
    case core::Registrant::kGemeente:
      return v1::REGISTRANT_GEMEENTE;
    case core::Registrant::kUwv:
      return v1::REGISTRANT_UWV;
    case core::Registrant::kUnspecified:
      break;
  }
  return v1::REGISTRANT_UNSPECIFIED;
}

// Sets kind, municipality and registrant; false if no kind is set.
bool DecodeKind(const v1::Event& in, core::Event& out) {
  using K = core::EventKind;
  switch (in.kind_case()) {
    case v1::Event::kClientRegistered:
      out.kind = K::kClientRegistered;
      out.municipality_code = in.client_registered().municipality_code();
      out.registrant = FromProto(in.client_registered().registrant());
      // An unknown enum number must not pass as "unspecified but fine": keep it invalid.
      if (in.client_registered().registrant() > v1::REGISTRANT_UWV)
        out.registrant = core::Registrant{99};
      return true;
    case v1::Event::kClientDeregistered:
      out.kind = K::kClientDeregistered;
      return true;
    case v1::Event::kProfileCompleted:
      out.kind = K::kProfileCompleted;
      return true;
    case v1::Event::kProfileWithdrawn:
      out.kind = K::kProfileWithdrawn;
      return true;
    case v1::Event::kRegistrantChanged:
      out.kind = K::kRegistrantChanged;
      out.registrant = FromProto(in.registrant_changed().registrant());
      if (in.registrant_changed().registrant() > v1::REGISTRANT_UWV)
        out.registrant = core::Registrant{99};
      return true;
    case v1::Event::kClientMoved:
      out.kind = K::kClientMoved;
      out.municipality_code = in.client_moved().municipality_code();
      return true;
    case v1::Event::kTargetGroupEntered:
      out.kind = K::kTargetGroupEntered;
      out.municipality_code = in.target_group_entered().municipality_code();
      return true;
    case v1::Event::kTargetGroupLeft:
      out.kind = K::kTargetGroupLeft;
      return true;
    case v1::Event::KIND_NOT_SET:
      break;
  }
  return false;
}

}  // namespace

ingest::IncomingEvent DecodeEvent(const v1::Event& in) {
  ingest::IncomingEvent out;
  // The identifiers as sent are kept apart only for an event that does not decode; a decoded
  // one carries them.
  const auto undecodable = [&](core::Rejection rejection) {
    out.source = in.source();
    out.event_id = in.event_id();
    out.decode_error = std::move(rejection);
    return std::move(out);
  };
  if (auto bsn = core::RejectBsn(in.client_ref())) return undecodable(*std::move(bsn));
  if (!in.has_occurred_at()) {
    return undecodable({"missing_occurred_at", "occurred_at is required"});
  }
  const auto& ts = in.occurred_at();
  if (ts.seconds() < kMinSeconds || ts.seconds() > kMaxSeconds || ts.nanos() < 0 ||
      ts.nanos() > 999'999'999) {
    return undecodable({"invalid_occurred_at", "occurred_at is not a valid timestamp"});
  }
  core::Event e;
  e.source = in.source();
  e.event_id = in.event_id();
  e.client_ref = in.client_ref();
  // Stored with microsecond precision, like PostgreSQL's timestamptz.
  e.occurred_at =
      core::Instant{std::chrono::microseconds{ts.seconds() * 1'000'000 + ts.nanos() / 1000}};
  if (!DecodeKind(in, e)) {
    return undecodable({"missing_kind", "exactly one event kind must be set"});
  }
  out.event = std::move(e);
  return out;
}

std::string QuarantinePayload(const v1::Event& event, const ingest::Pseudonymizer* pseudonymizer) {
  const std::string& ref = event.client_ref();
  const bool pseudonym_shape = !core::LooksLikeBsn(ref) && core::HasPseudonymShape(ref);
  if (pseudonym_shape && pseudonymizer == nullptr) return event.SerializeAsString();
  v1::Event kept = event;
  if (pseudonym_shape) {
    kept.set_client_ref(pseudonymizer->Apply(ref));
  } else {
    kept.clear_client_ref();
  }
  return kept.SerializeAsString();
}

void ToProto(const ingest::BatchResult& result, uint64_t batch_id, v1::IngestResponse* out) {
  out->set_batch_id(batch_id);
  out->set_accepted(result.accepted);
  out->set_duplicates(result.duplicates);
  for (const ingest::EventRejection& r : result.rejections) {
    v1::Rejection* pr = out->add_rejections();
    pr->set_index(r.index);
    pr->set_event_id(r.event_id);
    pr->set_reason(r.reason);
    pr->set_code(r.code);
  }
}

void ToProto(const core::CellCounts& c, v1::Cells* out) {
  out->set_gemeente_with_profile(c.gemeente_with_profile);
  out->set_gemeente_without_profile(c.gemeente_without_profile);
  out->set_uwv_with_profile(c.uwv_with_profile);
  out->set_uwv_without_profile(c.uwv_without_profile);
  out->set_total_in_sonar(c.TotalInSonar());
}

void ToProto(const core::RegionFigures& f, bool with_municipalities, v1::RegionFigures* out) {
  out->set_number(std::to_string(f.region.number));
  out->set_cbs_code(f.region.cbs_code);
  out->set_name(f.region.name);
  if (with_municipalities) {
    for (const core::MunicipalityFigures& m : f.municipalities) {
      v1::MunicipalityFigures* pm = out->add_municipalities();
      pm->set_code(m.code);
      pm->set_name(m.name);
      ToProto(m.cells, pm->mutable_cells());
      pm->set_register_total(m.cells.RegisterTotal());
    }
  }
  ToProto(f.total, out->mutable_total());
  out->set_register_total(f.RegisterTotal());
  out->set_known_in_sonar(f.KnownInSonar());
  out->set_coverage(f.Coverage());
}

google::protobuf::Timestamp ToProto(core::Instant t) {
  google::protobuf::Timestamp ts;
  const int64_t micros = t.time_since_epoch().count();
  int64_t secs = micros / 1'000'000;
  int64_t rem = micros % 1'000'000;
  if (rem < 0) {
    rem += 1'000'000;
    --secs;
  }
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<int32_t>(rem * 1000));
  return ts;
}

v1::Event ToProto(const core::Event& e) {
  v1::Event out;
  out.set_event_id(e.event_id);
  out.set_source(e.source);
  out.set_client_ref(e.client_ref);
  *out.mutable_occurred_at() = ToProto(e.occurred_at);
  using K = core::EventKind;
  switch (e.kind) {
    case K::kClientRegistered:
      out.mutable_client_registered()->set_municipality_code(e.municipality_code);
      out.mutable_client_registered()->set_registrant(ToProto(e.registrant));
      break;
    case K::kClientDeregistered:
      out.mutable_client_deregistered();
      break;
    case K::kProfileCompleted:
      out.mutable_profile_completed();
      break;
    case K::kProfileWithdrawn:
      out.mutable_profile_withdrawn();
      break;
    case K::kRegistrantChanged:
      out.mutable_registrant_changed()->set_registrant(ToProto(e.registrant));
      break;
    case K::kClientMoved:
      out.mutable_client_moved()->set_municipality_code(e.municipality_code);
      break;
    case K::kTargetGroupEntered:
      out.mutable_target_group_entered()->set_municipality_code(e.municipality_code);
      break;
    case K::kTargetGroupLeft:
      out.mutable_target_group_left();
      break;
    case K::kUnspecified:
      break;
  }
  return out;
}

}  // namespace sonar::service
