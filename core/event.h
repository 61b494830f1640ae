// The domain event: one fact about one person, as SPEC section 2 defines it.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <tuple>

#include "core/time.h"

namespace sonar::core {

enum class Registrant : uint8_t { kUnspecified = 0, kGemeente = 1, kUwv = 2 };

enum class EventKind : uint8_t {
  kUnspecified = 0,
  kClientRegistered = 1,
  kClientDeregistered = 2,
  kProfileCompleted = 3,
  kProfileWithdrawn = 4,
  kRegistrantChanged = 5,
  kClientMoved = 6,
  kTargetGroupEntered = 7,
  kTargetGroupLeft = 8,
};

[[nodiscard]] const char* EventKindName(EventKind kind);

struct Event {
  std::string source;
  std::string event_id;
  std::string client_ref;  // a pseudonym, never a BSN (see validation.h)
  Instant occurred_at{};
  EventKind kind = EventKind::kUnspecified;
  std::string municipality_code;  // ClientRegistered, ClientMoved, TargetGroupEntered
  Registrant registrant = Registrant::kUnspecified;  // ClientRegistered, RegistrantChanged

  // Same content: what decides between a duplicate and a conflict for one (source, event_id).
  [[nodiscard]] bool SameContent(const Event& other) const {
    return client_ref == other.client_ref && occurred_at == other.occurred_at &&
           kind == other.kind && municipality_code == other.municipality_code &&
           registrant == other.registrant;
  }
};

// Last-writer-wins order: (occurred_at, source, event_id).
[[nodiscard]] inline std::strong_ordering CompareByEventTime(const Event& a, const Event& b) {
  return std::tie(a.occurred_at, a.source, a.event_id) <=>
         std::tie(b.occurred_at, b.source, b.event_id);
}

}  // namespace sonar::core
