#include "core/client_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace sonar::core {
namespace {

using std::chrono::hours;

Instant Utc(const char* date, int h = 12) { return Instant{*ParseDate(date)} + hours{h}; }

Event Make(const char* source, const char* id, Instant at, EventKind kind, const char* code = "",
           Registrant registrant = Registrant::kUnspecified) {
  Event e;
  e.source = source;
  e.event_id = id;
  e.client_ref = "person-000000000001";
  e.occurred_at = at;
  e.kind = kind;
  e.municipality_code = code;
  e.registrant = registrant;
  return e;
}

// Placement counts at the end of `q`: the sum of all buckets up to and including it.
LiveDeltas Cumulative(const QuarterDeltas& deltas, Quarter q) {
  LiveDeltas out;
  for (const auto& [key, n] : deltas) {
    if (key.quarter_index > q.Index()) continue;
    out[{key.municipality_code, key.cell}] += n;
  }
  absl::erase_if(out, [](const auto& kv) { return kv.second == 0; });
  return out;
}

LiveDeltas One(const Placement& p) {
  if (p.cell == Cell::kNone) return {};
  return {{{p.municipality_code, p.cell}, 1}};
}

std::vector<Event> Sorted(std::vector<Event> events) {
  SortHistory(events);
  return events;
}

QuarterDeltas Contribution(const std::vector<Event>& sorted) {
  QuarterDeltas out;
  AddHistoryContribution(sorted, +1, out);
  return out;
}

TEST(CellOfTest, EveryCombination) {
  for (bool in_register : {false, true}) {
    for (bool in_sonar : {false, true}) {
      for (Registrant r : {Registrant::kGemeente, Registrant::kUwv}) {
        for (bool profile : {false, true}) {
          ClientState s{in_sonar, r, profile, in_register, "GM0654"};
          Cell want = Cell::kNone;
          if (in_register && in_sonar) {
            if (r == Registrant::kGemeente) {
              want = profile ? Cell::kGemeenteWithProfile : Cell::kGemeenteWithoutProfile;
            } else {
              want = profile ? Cell::kUwvWithProfile : Cell::kUwvWithoutProfile;
            }
          } else if (in_register) {
            want = Cell::kRegisterOnly;
          } else if (in_sonar) {
            want = Cell::kSonarOnly;
          }
          EXPECT_EQ(CellOf(s), want) << in_register << in_sonar << int(r) << profile;
          const Placement p = PlacementOf(s);
          EXPECT_EQ(p.cell, want);
          EXPECT_EQ(p.municipality_code, want == Cell::kNone ? "" : "GM0654");
        }
      }
    }
  }
  EXPECT_EQ(CellOf(ClientState{}), Cell::kNone);
  EXPECT_FALSE(ClientState{}.profile);
  // Without a residence a person is never counted.
  EXPECT_EQ(PlacementOf(ClientState{true, Registrant::kUwv, false, true, ""}), Placement{});
}

// One person's history, with two pairs of events at one instant.
std::vector<Event> PersonHistory() {
  const Instant same = Utc("2022-10-05", 8), later = Utc("2022-11-01", 9);
  return {
      Make("doelgroepregister", "r-1", Utc("2022-02-10"), EventKind::kTargetGroupEntered, "GM0654"),
      Make("sonar", "s-1", Utc("2022-05-10"), EventKind::kClientRegistered, "GM0654",
           Registrant::kUwv),
      Make("sonar", "s-3", Utc("2022-08-15"), EventKind::kRegistrantChanged, "",
           Registrant::kGemeente),
      // Same instant, different sources: "sonar" > "doelgroepregister", so Goes wins over Hulst.
      Make("sonar", "s-4", same, EventKind::kClientMoved, "GM0664"),
      Make("doelgroepregister", "r-2", same, EventKind::kTargetGroupEntered, "GM0677"),
      // Same instant and source: "s-5b" > "s-5a", so the withdrawal wins.
      Make("sonar", "s-5b", later, EventKind::kProfileWithdrawn),
      Make("sonar", "s-5a", later, EventKind::kProfileCompleted),
  };
}

TEST(FoldHistoryTest, LastWriterWinsWithTieBreaks) {
  const ClientState want{true, Registrant::kGemeente, false, true, "GM0664"};
  EXPECT_EQ(FoldHistory(PersonHistory()), want);
  EXPECT_EQ(CellOf(want), Cell::kGemeenteWithoutProfile);
}

TEST(FoldHistoryTest, EveryArrivalOrderGivesTheSameStateAndDeltas) {
  std::vector<Event> events = PersonHistory();
  const ClientState want = FoldHistory(events);
  const QuarterDeltas want_deltas = Contribution(Sorted(events));
  std::vector<int> order(events.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  int permutations = 0;
  do {
    std::vector<Event> arrival;
    for (int i : order) arrival.push_back(events[i]);
    ASSERT_EQ(FoldHistory(arrival), want) << "permutation " << permutations;
    ASSERT_EQ(Contribution(Sorted(arrival)), want_deltas) << "permutation " << permutations;
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(permutations, 5040);
}

TEST(FoldHistoryTest, EventIdTieBreakIsLexicographic) {
  const Instant t = Utc("2022-03-01");
  // "s-10" sorts before "s-9": the ProfileCompleted with id s-9 is the latest.
  std::vector<Event> h = {Make("sonar", "s-9", t, EventKind::kProfileCompleted),
                          Make("sonar", "s-10", t, EventKind::kProfileWithdrawn)};
  EXPECT_TRUE(FoldHistory(h).profile);
  std::swap(h[0], h[1]);
  EXPECT_TRUE(FoldHistory(h).profile);
}

// Enters the register in Q1, registers in Sonar (UWV) in Q2, deregisters in Q4.
std::vector<Event> YearHistory() {
  return Sorted({
      Make("doelgroepregister", "r-1", Utc("2022-02-10"), EventKind::kTargetGroupEntered, "GM0654"),
      Make("sonar", "s-1", Utc("2022-05-10"), EventKind::kClientRegistered, "GM0654",
           Registrant::kUwv),
      Make("sonar", "s-2", Utc("2022-11-10"), EventKind::kClientDeregistered),
  });
}

TEST(AddHistoryContributionTest, CumulativeSumsGiveThePlacementPerQuarter) {
  const QuarterDeltas d = Contribution(YearHistory());
  const LiveDeltas ro{{{"GM0654", Cell::kRegisterOnly}, 1}};
  const LiveDeltas uwv{{{"GM0654", Cell::kUwvWithoutProfile}, 1}};
  EXPECT_EQ(Cumulative(d, {2021, 4}), LiveDeltas{});
  EXPECT_EQ(Cumulative(d, {2022, 1}), ro);
  EXPECT_EQ(Cumulative(d, {2022, 2}), uwv);
  EXPECT_EQ(Cumulative(d, {2022, 3}), uwv);
  EXPECT_EQ(Cumulative(d, {2022, 4}), ro);
  EXPECT_EQ(Cumulative(d, {2023, 1}), ro);
  // Only quarters with a change have buckets.
  for (const auto& [key, n] : d) {
    const Quarter q = Quarter::FromIndex(key.quarter_index);
    EXPECT_TRUE(q == (Quarter{2022, 1}) || q == (Quarter{2022, 2}) || q == (Quarter{2022, 4}))
        << q.ToString();
  }
  // sign -1 undoes sign +1.
  QuarterDeltas both = d;
  AddHistoryContribution(YearHistory(), -1, both);
  EXPECT_TRUE(both.empty());
}

TEST(AddHistoryContributionTest, MatchesFoldAtEveryQuarterEnd) {
  const std::vector<Event> h = Sorted(PersonHistory());
  const QuarterDeltas d = Contribution(h);
  for (Quarter q{2021, 4}; q <= Quarter{2023, 2}; q = q.Next()) {
    std::vector<Event> known;
    for (const Event& e : h) {
      if (e.occurred_at < q.End()) known.push_back(e);
    }
    EXPECT_EQ(Cumulative(d, q), One(PlacementOf(FoldHistory(known)))) << q.ToString();
  }
}

TEST(AddHistoryChangeTest, LateEventInTheMiddle) {
  const std::vector<Event> before = YearHistory();
  std::vector<Event> after = before;
  after.push_back(Make("sonar", "s-late", Utc("2022-08-01"), EventKind::kProfileCompleted));
  SortHistory(after);

  QuarterDeltas qd;
  LiveDeltas live;
  AddHistoryChange(before, after, qd, live);

  // Q3: without -> with profile; Q4: the deregistration now leaves "with profile".
  const QuarterDeltas want{
      {{Quarter{2022, 3}.Index(), "GM0654", Cell::kUwvWithoutProfile}, -1},
      {{Quarter{2022, 3}.Index(), "GM0654", Cell::kUwvWithProfile}, +1},
      {{Quarter{2022, 4}.Index(), "GM0654", Cell::kUwvWithProfile}, -1},
      {{Quarter{2022, 4}.Index(), "GM0654", Cell::kUwvWithoutProfile}, +1},
  };
  EXPECT_EQ(qd, want);

  // Equals contribution(after) - contribution(before), computed separately.
  QuarterDeltas diff = Contribution(after);
  for (const auto& [key, n] : Contribution(before)) {
    if ((diff[key] -= n) == 0) diff.erase(key);
  }
  EXPECT_EQ(qd, diff);
  // The final placement (register only in Borsele) did not change.
  EXPECT_TRUE(live.empty());
}

// AddHistoryChange replays only the instants where the histories differ; it must equal the full
// definition (contribution after - contribution before; placement after all events) for any
// histories, including new events at, before and after existing instants; so must the form that
// takes the shared prefix and the two tails apart.
TEST(AddHistoryChangeTest, EqualsTheFullDefinitionOnRandomHistories) {
  std::mt19937 rng(12345);
  const char* codes[] = {"GM0654", "GM0664", "GM0677"};
  const EventKind kinds[] = {EventKind::kClientRegistered,   EventKind::kClientDeregistered,
                             EventKind::kProfileCompleted,   EventKind::kProfileWithdrawn,
                             EventKind::kRegistrantChanged,  EventKind::kClientMoved,
                             EventKind::kTargetGroupEntered, EventKind::kTargetGroupLeft};
  std::vector<std::string> ids;
  for (int i = 0; i < 64; ++i) ids.push_back("e-" + std::to_string(i));
  auto random_event = [&](int id) {
    const Instant at = Utc("2021-01-01") + hours{24 * static_cast<int>(rng() % 12) * 30};
    return Make(rng() % 2 ? "sonar" : "doelgroepregister", ids[id].c_str(), at, kinds[rng() % 8],
                codes[rng() % 3], rng() % 2 ? Registrant::kUwv : Registrant::kGemeente);
  };
  for (int round = 0; round < 2000; ++round) {
    std::vector<Event> before;
    const int n_before = static_cast<int>(rng() % 8);
    for (int i = 0; i < n_before; ++i) before.push_back(random_event(i));
    SortHistory(before);
    std::vector<Event> added;
    const int n_added = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < n_added; ++i) added.push_back(random_event(32 + i));
    SortHistory(added);
    std::vector<Event> after = before;
    after.insert(after.end(), added.begin(), added.end());
    SortHistory(after);

    QuarterDeltas qd;
    LiveDeltas live;
    AddHistoryChange(before, after, qd, live);

    // The in-place form, split as BatchProcessor splits: the prefix ends before the earliest
    // added event's instant; the after tail is the rest of `before` with the added events.
    const auto split = std::find_if(before.begin(), before.end(), [&](const Event& e) {
      return e.occurred_at >= added.front().occurred_at;
    });
    std::vector<Event> after_tail(split, before.end());
    after_tail.insert(after_tail.end(), added.begin(), added.end());
    SortHistory(after_tail);
    const auto k = static_cast<size_t>(split - before.begin());
    QuarterDeltas qd_tails;
    LiveDeltas live_tails;
    AddHistoryChange(std::span<const Event>(before).first(k),
                     std::span<const Event>(before).subspan(k), after_tail, qd_tails, live_tails);
    ASSERT_EQ(qd_tails, qd) << "round " << round;
    ASSERT_EQ(live_tails, live) << "round " << round;

    QuarterDeltas want = Contribution(after);
    for (const auto& [key, n] : Contribution(before)) {
      if ((want[key] -= n) == 0) want.erase(key);
    }
    ASSERT_EQ(qd, want) << "round " << round;
    LiveDeltas want_live;
    const Placement old_place = PlacementOf(FoldHistory(before));
    const Placement new_place = PlacementOf(FoldHistory(after));
    if (!(old_place == new_place)) {
      if (old_place.cell != Cell::kNone)
        want_live[{old_place.municipality_code, old_place.cell}] -= 1;
      if (new_place.cell != Cell::kNone)
        want_live[{new_place.municipality_code, new_place.cell}] += 1;
      absl::erase_if(want_live, [](const auto& kv) { return kv.second == 0; });
    }
    ASSERT_EQ(live, want_live) << "round " << round;
  }
}

TEST(AddHistoryChangeTest, LiveDeltasFollowTheFinalPlacement) {
  const std::vector<Event> before = YearHistory();
  std::vector<Event> after = before;
  after.push_back(Make("sonar", "s-move", Utc("2022-12-01"), EventKind::kClientMoved, "GM0664"));
  SortHistory(after);
  QuarterDeltas qd;
  LiveDeltas live;
  AddHistoryChange(before, after, qd, live);
  const LiveDeltas want_live{{{"GM0654", Cell::kRegisterOnly}, -1},
                             {{"GM0664", Cell::kRegisterOnly}, +1}};
  EXPECT_EQ(live, want_live);
  const int q4 = Quarter{2022, 4}.Index();
  const QuarterDeltas want{{{q4, "GM0654", Cell::kRegisterOnly}, -1},
                           {{q4, "GM0664", Cell::kRegisterOnly}, +1}};
  EXPECT_EQ(qd, want);
}

TEST(AddHistoryChangeTest, NewPersonLiveDeltaIsTheirPlacement) {
  QuarterDeltas qd;
  LiveDeltas live;
  const std::vector<Event> after = YearHistory();
  AddHistoryChange({}, after, qd, live);
  EXPECT_EQ(live, One(PlacementOf(FoldHistory(after))));
  EXPECT_EQ(qd, Contribution(after));
}

TEST(AddHistoryChangeTest, ChangeWithoutEffectOnPlacementsIsEmpty) {
  const std::vector<Event> before = YearHistory();
  std::vector<Event> after = before;
  // Profile already false; registrant already UWV.
  after.push_back(Make("sonar", "s-x", Utc("2022-03-01"), EventKind::kProfileWithdrawn));
  after.push_back(
      Make("sonar", "s-y", Utc("2022-07-01"), EventKind::kRegistrantChanged, "", Registrant::kUwv));
  SortHistory(after);
  QuarterDeltas qd;
  LiveDeltas live;
  AddHistoryChange(before, after, qd, live);
  EXPECT_TRUE(qd.empty());
  EXPECT_TRUE(live.empty());
}

}  // namespace
}  // namespace sonar::core
