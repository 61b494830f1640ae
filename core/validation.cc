#include "core/validation.h"

#include <algorithm>

namespace sonar::core {
namespace {

bool IsLowerSourceChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool IsClientRefChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '=' || c == '+' || c == '/' || c == '-';
}

bool IsPrintableAscii(char c) { return c >= 0x20 && c <= 0x7E; }

template <typename Pred>
bool AllOf(std::string_view s, Pred pred) {
  return std::all_of(s.begin(), s.end(), pred);
}

bool KindNeedsMunicipality(EventKind kind) {
  return kind == EventKind::kClientRegistered || kind == EventKind::kClientMoved ||
         kind == EventKind::kTargetGroupEntered;
}

bool KindNeedsRegistrant(EventKind kind) {
  return kind == EventKind::kClientRegistered || kind == EventKind::kRegistrantChanged;
}

}  // namespace

Instant EarliestEventTime() {
  // Computed once: every event is checked against it.
  static const Instant earliest = AmsterdamMidnight(*ParseDate("2015-01-01"));
  return earliest;
}

bool LooksLikeBsn(std::string_view client_ref) {
  int digits = 0;
  for (char c : client_ref) {
    if (c >= '0' && c <= '9') {
      ++digits;
    } else if (c != ' ' && c != '.' && c != '-' && c != '\t') {
      return false;
    }
  }
  return digits == 8 || digits == 9;
}

bool HasPseudonymShape(std::string_view client_ref) {
  return client_ref.size() >= 16 && client_ref.size() <= 128 && AllOf(client_ref, IsClientRefChar);
}

std::optional<Rejection> RejectBsn(std::string_view client_ref) {
  if (!LooksLikeBsn(client_ref)) return std::nullopt;
  return Rejection{"probable_bsn", "client_ref looks like a BSN; send the pseudonym, never a BSN"};
}

std::optional<Rejection> ValidateEvent(const Event& e, Instant now,
                                       const ReferenceData& reference) {
  if (auto bsn = RejectBsn(e.client_ref)) return bsn;
  if (e.event_id.empty() || e.event_id.size() > 128 || !AllOf(e.event_id, IsPrintableAscii)) {
    return Rejection{"invalid_event_id", "event_id must be 1-128 printable ASCII characters"};
  }
  if (e.source.empty() || e.source.size() > 64 || !AllOf(e.source, IsLowerSourceChar)) {
    return Rejection{"invalid_source", "source must be 1-64 characters of [a-z0-9._-]"};
  }
  if (!HasPseudonymShape(e.client_ref)) {
    return Rejection{"invalid_client_ref",
                     "client_ref must be a pseudonym of 16-128 characters of [A-Za-z0-9_=+/-]"};
  }
  if (e.occurred_at < EarliestEventTime()) {
    return Rejection{"occurred_at_too_early", "occurred_at is before 2015-01-01"};
  }
  if (e.occurred_at > now + kMaxClockSkew) {
    return Rejection{"occurred_at_in_future",
                     "occurred_at is more than 5 minutes ahead of the server clock"};
  }
  if (e.kind == EventKind::kUnspecified) {
    return Rejection{"missing_kind", "exactly one event kind must be set"};
  }
  if (KindNeedsMunicipality(e.kind)) {
    if (reference.FindMunicipality(e.municipality_code) == nullptr) {
      return Rejection{"unknown_municipality", "municipality_code is not a known CBS code"};
    }
    if (!reference.ExistsOn(e.municipality_code, AmsterdamDate(e.occurred_at))) {
      return Rejection{"municipality_not_valid", "municipality_code did not exist at occurred_at"};
    }
  } else if (!e.municipality_code.empty()) {
    return Rejection{"unexpected_municipality", "this event kind carries no municipality_code"};
  }
  if (KindNeedsRegistrant(e.kind)) {
    if (e.registrant != Registrant::kGemeente && e.registrant != Registrant::kUwv) {
      return Rejection{"invalid_registrant", "registrant must be GEMEENTE or UWV"};
    }
  } else if (e.registrant != Registrant::kUnspecified) {
    return Rejection{"unexpected_registrant", "this event kind carries no registrant"};
  }
  return std::nullopt;
}

}  // namespace sonar::core
