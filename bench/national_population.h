// A national synthetic population for the benchmark: persons spread over every municipality
// valid on the event dates (reference data), the eight event kinds mixed over 2019-2024, some
// events sent late (after events with a later occurred_at) and some sent twice.
//
// Events are kept compact (32 bytes each) so that 10M fit easily in memory; the client turns
// them into protobuf or COPY rows as it sends them. Deterministic: same options, same events.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/reference_data.h"
#include "core/time.h"

namespace sonar::bench {

struct PopulationOptions {
  uint64_t persons = 20'000;
  uint64_t events = 100'000;      // sent, duplicates included
  double late_share = 0.03;       // sent up to 180 days after their occurred_at
  double duplicate_share = 0.02;  // of the events sent: a resend of an earlier one
  uint64_t seed = 1;
};

struct CompactEvent {
  int64_t occurred_us = 0;  // occurred_at, UTC microseconds since the epoch
  int64_t send_us = 0;      // position in the stream: occurred_at, or later for late events
  uint32_t person = 0;
  uint32_t serial = 0;        // unique per distinct event; event_id derives from it
  uint16_t municipality = 0;  // index into Population::codes; kNoCode when the kind has none
  uint8_t kind = 0;           // core::EventKind
  uint8_t registrant = 0;     // core::Registrant
  uint8_t flags = 0;          // kLate | kDuplicate
};
static_assert(sizeof(CompactEvent) == 32);

inline constexpr uint16_t kNoCode = 0xFFFF;
inline constexpr uint8_t kLate = 1;
inline constexpr uint8_t kDuplicate = 2;

struct Population {
  std::vector<CompactEvent> events;  // in sending order (by send_us)
  std::vector<std::string> codes;    // municipality codes used
  uint64_t persons = 0;
  uint64_t distinct = 0;  // events that are not resends
  uint64_t late = 0;
  uint64_t duplicates = 0;            // resends
  std::array<uint64_t, 9> by_kind{};  // distinct events per core::EventKind
  uint64_t seed = 0;
};

[[nodiscard]] Population Generate(const PopulationOptions& options,
                                  const core::ReferenceData& reference);

// 22-character base64url pseudonym of a person (never digits only).
[[nodiscard]] std::string ClientRef(uint64_t seed, uint32_t person);
// Printable, unique per serial: "ev-" + 16 hex digits.
[[nodiscard]] std::string EventId(uint64_t seed, uint32_t serial);
[[nodiscard]] const char* SourceOf(const CompactEvent& e);  // "doelgroepregister" or "sonar"

// The domain event (for the oracle and the COPY rows).
[[nodiscard]] core::Event ToCore(const Population& population, const CompactEvent& e);

}  // namespace sonar::bench
