// Deterministic synthetic populations: event streams whose end-of-quarter figures are known in
// advance, so tests, the demo and the benchmark can check the whole path from events to the
// published table (the seed publication, Zeeland 2022-Q3, is the reference case).
//
// Pure functions of their arguments (plus the system clock when PopulationOptions::now is
// unset); safe to call from several threads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/figures.h"
#include "core/reference_data.h"
#include "core/time.h"

namespace sonar::sim {

// One municipality's four published cells.
struct SeedRow {
  std::string municipality_code;  // raw CBS code, e.g. "GM0654"
  int64_t gemeente_with_profile = 0;
  int64_t gemeente_without_profile = 0;
  int64_t uwv_with_profile = 0;
  int64_t uwv_without_profile = 0;
};

// The 13 rows of the seed publication (Zeeland 2022-Q3), in publication order.
[[nodiscard]] std::vector<SeedRow> ZeelandSeedRows();

struct PopulationOptions {
  core::Quarter quarter;      // the quarter whose end the figures must match
  std::vector<SeedRow> rows;  // persons in the four Sonar cells at the quarter's end
  // Extra persons at the end only in the register / only in Sonar, spread over the rows'
  // municipalities in proportion to their Sonar totals.
  int64_t register_only = 0;
  int64_t sonar_only = 0;
  std::string source_sonar = "sonar";
  std::string source_register = "doelgroepregister";
  // Same options -> same events. Event keys embed the seed, so populations with different
  // seeds never share a key (and share a client_ref only with negligible probability).
  uint64_t seed = 1;
  // Adds history that leaves the end figures unchanged: earlier registrations with the other
  // registrant, withdrawn profiles, earlier residences elsewhere, re-registrations, persons who
  // left the register before the end, and events up to 30 days after the end (live state only).
  bool noise = true;
  // No event lies after this instant (events after the end are cut off by it); nullopt = the
  // system clock at the call. Set it for full determinism with a recent quarter.
  std::optional<core::Instant> now;
};

struct Population {
  std::vector<core::Event> events;  // sorted by (occurred_at, source, event_id)
  // The cells every person is in at the quarter's end, by raw residence code; only codes with
  // at least one counted person appear. Known by construction, not by folding the events.
  std::map<std::string, core::CellCounts> expected_at_end;
};

// Events from 2019-01-01 (earlier only for quarters ending before 2020) to the quarter's end,
// plus, with noise, events after it. Each person has a 22-character base64url client_ref.
// Preconditions: the rows' municipalities exist throughout the quarter; the quarter ends after
// 2015-01-01. Violations show up as events that fail core::ValidateEvent.
[[nodiscard]] Population GeneratePopulation(const PopulationOptions& options,
                                            const core::ReferenceData& reference);

// The independent oracle: groups `events` by client_ref, folds those with occurred_at < `at`
// (core::FoldHistory) and counts each person's placement under its raw residence code.
[[nodiscard]] std::map<std::string, core::CellCounts> FoldAt(std::span<const core::Event> events,
                                                             core::Instant at);

}  // namespace sonar::sim
