// Event validation (SPEC section 2). A failing event is rejected with a reason; the reason never
// contains the rejected value, so it is safe to return to the producer and to log.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/reference_data.h"

namespace sonar::core {

struct Rejection {
  std::string code;    // stable, machine-readable: "invalid_client_ref", "probable_bsn", ...
  std::string reason;  // human-readable, without the offending value
};

// Earliest accepted occurred_at: 2015-01-01 00:00 Amsterdam time.
[[nodiscard]] Instant EarliestEventTime();
// How far in the future occurred_at may lie, against the server clock `now`.
inline constexpr std::chrono::minutes kMaxClockSkew{5};

// True if `client_ref` looks like a BSN: 8 or 9 digits, ignoring separators around them.
[[nodiscard]] bool LooksLikeBsn(std::string_view client_ref);
// True if `client_ref` has a pseudonym's shape: 16-128 characters of [A-Za-z0-9_=+/-] (a BSN-like
// value is refused before this is asked, see RejectBsn).
[[nodiscard]] bool HasPseudonymShape(std::string_view client_ref);
// The rejection of a BSN-like client_ref ("probable_bsn", telling the producer to send the
// pseudonym), nullopt for any other. Checked before everything else about an event, so the
// producer learns of the BSN whatever else is wrong with it.
[[nodiscard]] std::optional<Rejection> RejectBsn(std::string_view client_ref);

// nullopt if `event` is valid at server time `now`.
[[nodiscard]] std::optional<Rejection> ValidateEvent(const Event& event, Instant now,
                                                     const ReferenceData& reference);

}  // namespace sonar::core
