// The binary form of a person's history in clients.history: a version byte, then per event
// (client_ref is not repeated: the row's key is the person):
//   version 1: occurred_at (int64 µs, little-endian), kind, registrant, and length-prefixed
//              source, event_id and municipality_code;
//   version 2 (written since; about 30% smaller, so less WAL per history update): the source as
//              a varint index into the sources seen earlier in the history (0: a new one, a
//              length-prefixed string follows), occurred_at as a zigzag varint of the difference
//              from the previous event's, kind | registrant << 4 in one byte, the municipality
//              code as a varint (0 empty, 1 + n for "GM" + 4 digits of n, 10001: a
//              length-prefixed string follows), and the length-prefixed event_id.
// Both versions decode, so rows written before version 2 stay readable; a row is rewritten in
// version 2 when its person next changes.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"

namespace sonar::storage {

[[nodiscard]] std::string EncodeHistory(std::span<const core::Event> history);
// nullopt if `bytes` is not a history of either version. An empty string is an empty history.
[[nodiscard]] std::optional<std::vector<core::Event>> DecodeHistory(std::string_view bytes);

}  // namespace sonar::storage
