// A person's state, the one cell it counts in (SPEC section 3), and how a person's event history
// turns into counter deltas.
//
// A person's history is every accepted event about them. Because each attribute takes the value
// of the latest event setting it by (occurred_at, source, event_id), folding the history in that
// order gives the state at any instant, whatever order the events arrived in. The state only
// changes at event instants, so a history is a step function of (cell, residence); counters are
// kept as the sum of its steps, bucketed by the quarter (Amsterdam time) in which they happen.
// The figures at a quarter's end are then the sum of all buckets up to that quarter.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/event.h"

namespace sonar::core {

enum class Cell : uint8_t {
  kNone = 0,
  kGemeenteWithProfile = 1,
  kGemeenteWithoutProfile = 2,
  kUwvWithProfile = 3,
  kUwvWithoutProfile = 4,
  kRegisterOnly = 5,
  kSonarOnly = 6,
};
inline constexpr int kCellCount = 7;

[[nodiscard]] const char* CellName(Cell cell);

struct ClientState {
  bool in_sonar = false;
  Registrant registrant = Registrant::kUnspecified;
  bool profile = false;
  bool in_register = false;
  std::string residence;  // CBS code as last reported; merger mapping happens when counting

  friend bool operator==(const ClientState&, const ClientState&) = default;
};

// Sets the attributes `event` carries. Callers apply events in CompareByEventTime order.
void ApplyEvent(const Event& event, ClientState& state);

// The one cell a state counts in; kNone when neither in Sonar nor in the register.
[[nodiscard]] Cell CellOf(const ClientState& state);

// Where a person counts: a cell in a municipality (raw residence code).
struct Placement {
  Cell cell = Cell::kNone;
  std::string municipality_code;

  friend bool operator==(const Placement&, const Placement&) = default;
};

[[nodiscard]] Placement PlacementOf(const ClientState& state);

// The state after folding all of `history` (in any order).
[[nodiscard]] ClientState FoldHistory(std::span<const Event> history);

// Sorts a history into CompareByEventTime order.
void SortHistory(std::vector<Event>& history);

// Counter deltas keyed by (quarter index, municipality code, cell). Entries that cancel out
// are removed, so an empty map means "no change". B-tree maps: ordered like std::map, but
// many entries to a node, so a batch's deltas take a few allocations instead of one per key.
struct DeltaKey {
  int quarter_index = 0;
  std::string municipality_code;
  Cell cell = Cell::kNone;

  friend auto operator<=>(const DeltaKey&, const DeltaKey&) = default;
};
using QuarterDeltas = absl::btree_map<DeltaKey, int64_t>;

// Live counter deltas keyed by (municipality code, cell).
using LiveKey = std::pair<std::string, Cell>;
using LiveDeltas = absl::btree_map<LiveKey, int64_t>;

// Adds (sign = +1) or removes (sign = -1) the contribution of a sorted history to `out`:
// +1 for each placement the person enters and -1 for each it leaves, at the quarter it happens.
void AddHistoryContribution(std::span<const Event> sorted_history, int sign, QuarterDeltas& out);

// Adds the change of a person's history from `before` to `after` (both sorted) to the deltas.
void AddHistoryChange(std::span<const Event> before, std::span<const Event> after,
                      QuarterDeltas& quarter_deltas, LiveDeltas& live_deltas);

// The same for histories that differ only from some instant on: before = prefix + before_tail and
// after = prefix + after_tail, the tails sorted, and every event of `prefix` (sorted) earlier than
// every event of both tails. Lets a caller extend a history in place instead of copying it.
void AddHistoryChange(std::span<const Event> prefix, std::span<const Event> before_tail,
                      std::span<const Event> after_tail, QuarterDeltas& quarter_deltas,
                      LiveDeltas& live_deltas);

}  // namespace sonar::core
