#include "core/client_state.h"

#include <algorithm>

namespace sonar::core {

const char* CellName(Cell cell) {
  switch (cell) {
    case Cell::kGemeenteWithProfile:
      return "gemeente_with_profile";
    case Cell::kGemeenteWithoutProfile:
      return "gemeente_without_profile";
    case Cell::kUwvWithProfile:
      return "uwv_with_profile";
    case Cell::kUwvWithoutProfile:
      return "uwv_without_profile";
    case Cell::kRegisterOnly:
      return "register_only";
    case Cell::kSonarOnly:
      return "sonar_only";
    case Cell::kNone:
      break;
  }
  return "none";
}

void ApplyEvent(const Event& event, ClientState& state) {
  switch (event.kind) {
    case EventKind::kClientRegistered:
      state.in_sonar = true;
      state.registrant = event.registrant;
      state.residence = event.municipality_code;
      break;
    case EventKind::kClientDeregistered:
      state.in_sonar = false;
      break;
    case EventKind::kProfileCompleted:
      state.profile = true;
      break;
    case EventKind::kProfileWithdrawn:
      state.profile = false;
      break;
    case EventKind::kRegistrantChanged:
      state.registrant = event.registrant;
      break;
    case EventKind::kClientMoved:
      state.residence = event.municipality_code;
      break;
    case EventKind::kTargetGroupEntered:
      state.in_register = true;
      state.residence = event.municipality_code;
      break;
    case EventKind::kTargetGroupLeft:
      state.in_register = false;
      break;
    case EventKind::kUnspecified:
      break;
  }
}

Cell CellOf(const ClientState& state) {
  if (state.in_register && state.in_sonar) {
    const bool gemeente = state.registrant == Registrant::kGemeente;
    if (gemeente) return state.profile ? Cell::kGemeenteWithProfile : Cell::kGemeenteWithoutProfile;
    return state.profile ? Cell::kUwvWithProfile : Cell::kUwvWithoutProfile;
  }
  if (state.in_register) return Cell::kRegisterOnly;
  if (state.in_sonar) return Cell::kSonarOnly;
  return Cell::kNone;
}

Placement PlacementOf(const ClientState& state) {
  const Cell cell = CellOf(state);
  // A counted person always has a residence (every event that enters a cell sets one); the
  // guard keeps a malformed history from counting under an empty code.
  if (cell == Cell::kNone || state.residence.empty()) return {};
  return {cell, state.residence};
}

void SortHistory(std::vector<Event>& history) {
  std::sort(history.begin(), history.end(),
            [](const Event& a, const Event& b) { return CompareByEventTime(a, b) < 0; });
}

ClientState FoldHistory(std::span<const Event> history) {
  std::vector<Event> sorted(history.begin(), history.end());
  SortHistory(sorted);
  ClientState state;
  for (const Event& e : sorted) ApplyEvent(e, state);
  return state;
}

namespace {

// Continues a contribution (see AddHistoryContribution) from the person's `state` and placement
// `current` over `events`, which start at an instant after every event already applied.
void AddContributionFrom(std::span<const Event> events, int sign, ClientState& state,
                         Placement& current, QuarterDeltas& out) {
  auto add = [&out](int quarter, const Placement& p, int64_t n) {
    if (p.cell == Cell::kNone) return;
    auto [it, inserted] = out.try_emplace(DeltaKey{quarter, p.municipality_code, p.cell}, 0);
    it->second += n;
    if (it->second == 0) out.erase(it);
  };
  size_t i = 0;
  while (i < events.size()) {
    // Events at one instant take effect together; only the placement after all of them counts.
    const Instant at = events[i].occurred_at;
    for (; i < events.size() && events[i].occurred_at == at; ++i) ApplyEvent(events[i], state);
    Placement next = PlacementOf(state);
    if (next == current) continue;
    const int quarter = QuarterOf(at).Index();
    add(quarter, current, -sign);
    add(quarter, next, sign);
    current = std::move(next);
  }
}

bool SameEvent(const Event& a, const Event& b) {
  return a.occurred_at == b.occurred_at && a.kind == b.kind && a.registrant == b.registrant &&
         a.event_id == b.event_id && a.source == b.source &&
         a.municipality_code == b.municipality_code;
}

}  // namespace

void AddHistoryContribution(std::span<const Event> sorted_history, int sign, QuarterDeltas& out) {
  ClientState state;
  Placement current;
  AddContributionFrom(sorted_history, sign, state, current, out);
}

void AddHistoryChange(std::span<const Event> before, std::span<const Event> after,
                      QuarterDeltas& quarter_deltas, LiveDeltas& live_deltas) {
  // Both histories step identically through the instants they share in full (a new event is
  // usually recent, so that is most of them): those steps cancel and are only replayed here.
  size_t common = 0;
  const size_t shorter = std::min(before.size(), after.size());
  while (common < shorter && SameEvent(before[common], after[common])) ++common;
  if (common == before.size() && common == after.size()) return;  // no change
  Instant first_difference;
  if (common == before.size()) {
    first_difference = after[common].occurred_at;
  } else if (common == after.size()) {
    first_difference = before[common].occurred_at;
  } else {
    first_difference = std::min(before[common].occurred_at, after[common].occurred_at);
  }
  while (common > 0 && before[common - 1].occurred_at >= first_difference) --common;
  AddHistoryChange(before.first(common), before.subspan(common), after.subspan(common),
                   quarter_deltas, live_deltas);
}

void AddHistoryChange(std::span<const Event> prefix, std::span<const Event> before_tail,
                      std::span<const Event> after_tail, QuarterDeltas& quarter_deltas,
                      LiveDeltas& live_deltas) {
  ClientState shared_state;
  for (const Event& e : prefix) ApplyEvent(e, shared_state);
  const Placement shared_place = PlacementOf(shared_state);

  ClientState before_state = shared_state, after_state = shared_state;
  Placement old_place = shared_place, new_place = shared_place;
  AddContributionFrom(before_tail, -1, before_state, old_place, quarter_deltas);
  AddContributionFrom(after_tail, +1, after_state, new_place, quarter_deltas);
  // old_place/new_place are now the placements after all of each history's events.
  if (old_place == new_place) return;
  auto add = [&live_deltas](const Placement& p, int64_t n) {
    if (p.cell == Cell::kNone) return;
    auto [it, inserted] = live_deltas.try_emplace(LiveKey{p.municipality_code, p.cell}, 0);
    it->second += n;
    if (it->second == 0) live_deltas.erase(it);
  };
  add(old_place, -1);
  add(new_place, +1);
}

}  // namespace sonar::core
