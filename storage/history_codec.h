// The binary form of a person's history in clients.history: a version byte, then per event
// occurred_at (int64 µs, little-endian), kind, registrant, and length-prefixed source,
// event_id and municipality_code. client_ref is not repeated (the row's key is the person).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"

namespace sonar::storage {

[[nodiscard]] std::string EncodeHistory(std::span<const core::Event> history);
// nullopt if `bytes` is not a history this version wrote. An empty string is an empty history.
[[nodiscard]] std::optional<std::vector<core::Event>> DecodeHistory(std::string_view bytes);

}  // namespace sonar::storage
