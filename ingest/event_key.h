// The idempotency key of an event, (source, event_id), as views into the event, for hash maps.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace sonar::ingest {

struct EventKey {
  std::string_view source, event_id;
  bool operator==(const EventKey&) const = default;
};

struct EventKeyHash {
  size_t operator()(const EventKey& k) const {
    const size_t h = std::hash<std::string_view>()(k.source);
    return h ^ (std::hash<std::string_view>()(k.event_id) + 0x9e3779b97f4a7c15ULL + (h << 6) +
                (h >> 2));
  }
};

}  // namespace sonar::ingest
