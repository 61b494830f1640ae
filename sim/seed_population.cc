#include "sim/seed_population.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <string_view>
#include <utility>

#include "core/client_state.h"
#include "core/validation.h"

namespace sonar::sim {
namespace {

using core::Cell;
using core::Event;
using core::Instant;
using core::Registrant;
using std::chrono::seconds;
using K = core::EventKind;

uint64_t Mix(uint64_t x) {  // splitmix64's finalizer: a bijection on 64 bits
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// splitmix64: the same sequence on every platform, which the std distributions do not promise.
class Rng final {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return Mix(state_ += 0x9E3779B97F4A7C15ULL); }
  // The modulo bias is far too small to matter for synthetic data.
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  bool Percent(int p) { return Below(100) < static_cast<uint64_t>(p); }

 private:
  uint64_t state_;
};

void AppendBase64Url(uint64_t v, std::string& out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int shift = 60; shift >= 0; shift -= 6) out.push_back(kAlphabet[(v >> shift) & 63]);
}

// 22 characters. The first half is a bijection of the index for a given seed, so references
// never collide within a population.
std::string ClientRef(uint64_t seed, uint64_t index) {
  const uint64_t head = Mix(index ^ Mix(seed + 0x9E3779B97F4A7C15ULL));
  std::string ref;
  AppendBase64Url(head, ref);
  AppendBase64Url(Mix(head ^ seed), ref);
  // Digits and dashes only would read as a BSN; a 23rd letter keeps it unique and valid.
  if (core::LooksLikeBsn(ref)) ref.push_back('A');
  return ref;
}

bool IsRegisterKind(K kind) {
  return kind == K::kTargetGroupEntered || kind == K::kTargetGroupLeft;
}
Registrant Other(Registrant r) {
  return r == Registrant::kGemeente ? Registrant::kUwv : Registrant::kGemeente;
}

// Where a step's municipality code comes from; resolved once the step's instant is known.
enum class Place : uint8_t { kNone, kTarget, kEarlier, kOutside };

struct Step {
  K kind = K::kUnspecified;
  Place place = Place::kNone;
  Registrant registrant = Registrant::kUnspecified;
  bool same_instant = false;  // shares the previous step's occurred_at (tie-break cases)
  bool after_end = false;     // after the quarter's end: changes the live state only
};

// One person's history as steps in the order they take effect; Emit() times and codes them.
struct Plan {
  explicit Plan(std::string end_residence) : target(std::move(end_residence)) {}

  std::string target;  // raw code of the residence at the quarter's end
  std::vector<Step> steps;
  bool after_end = false;        // steps added from now on lie after the end
  size_t residence_tie = 0;      // if > 0: this step and the one before tie on residence
  bool last_at_horizon = false;  // the last in-quarter step 1 us before the cut-off

  void Add(K kind, Place place = Place::kNone, Registrant r = Registrant::kUnspecified,
           bool same_instant = false) {
    steps.push_back({kind, place, r, same_instant, after_end});
  }
};

// Builds persons one by one; every random choice comes from one Rng, so the output is a function
// of the options alone.
class Generator final {
 public:
  Generator(const PopulationOptions& o, const core::ReferenceData& ref)
      : o_(o), ref_(ref), rng_(Mix(o.seed)), end_(o.quarter.End()) {
    const Instant now = o.now.value_or(
        std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now()));
    horizon_ = std::min(end_, now);
    after_end_limit_ = std::min(end_ + std::chrono::days{30}, now);
    // 2019 on, as the publication's history would be; a year at least for early quarters.
    start_ = std::max(std::min(core::AmsterdamMidnight(*core::ParseDate("2019-01-01")),
                               horizon_ - std::chrono::days{365}),
                      core::EarliestEventTime());
    int64_t sum = 0;
    for (const SeedRow& r : o.rows) {
      row_codes_.insert(r.municipality_code);
      sum += r.gemeente_with_profile + r.gemeente_without_profile + r.uwv_with_profile +
             r.uwv_without_profile;
      row_weights_.push_back(sum);
    }
  }

  Population Run() {
    for (const SeedRow& row : o_.rows) {
      const std::pair<Cell, int64_t> cells[] = {
          {Cell::kGemeenteWithProfile, row.gemeente_with_profile},
          {Cell::kGemeenteWithoutProfile, row.gemeente_without_profile},
          {Cell::kUwvWithProfile, row.uwv_with_profile},
          {Cell::kUwvWithoutProfile, row.uwv_without_profile}};
      for (const auto& [cell, n] : cells) {
        for (int64_t i = 0; i < n; ++i) AddSonarCell(row.municipality_code, cell);
      }
    }
    if (!o_.rows.empty()) {
      for (int64_t i = 0; i < o_.register_only; ++i) AddRegisterOnly(PickRow());
      for (int64_t i = 0; i < o_.sonar_only; ++i) AddSonarOnly(PickRow());
      const uint64_t extra = o_.noise ? persons_ / 20 + 1 : 0;
      for (uint64_t i = 0; i < extra; ++i) AddFormerMember(PickRow());
      for (uint64_t i = 0; i < extra / 2; ++i) AddLateEntrant(PickRow());
    }
    core::SortHistory(out_.events);
    return std::move(out_);
  }

 private:
  void AddSonarCell(const std::string& muni, Cell cell) {
    const bool gemeente =
        cell == Cell::kGemeenteWithProfile || cell == Cell::kGemeenteWithoutProfile;
    const Registrant r = gemeente ? Registrant::kGemeente : Registrant::kUwv;
    const bool profile = cell == Cell::kGemeenteWithProfile || cell == Cell::kUwvWithProfile;
    // The first noisy persons carry the edge cases: 1 a same-source tie, 2 a cross-source tie,
    // 3 an event 1 us before the cut-off.
    const uint64_t special = o_.noise ? ++sonar_cell_persons_ : 0;
    const bool move = special == 2 || Noise(15), other_first = Noise(20);
    const bool reregister = Noise(10), flap = Noise(15), register_first = rng_.Percent(50);
    const Place home = move ? Place::kEarlier : Place::kTarget;
    const Registrant first = other_first ? Other(r) : r;
    Plan plan(muni);
    if (register_first) plan.Add(K::kTargetGroupEntered, home);
    plan.Add(K::kClientRegistered, home, first);
    if (!register_first) plan.Add(K::kTargetGroupEntered, home);
    if (reregister) {
      plan.Add(K::kClientDeregistered);
      plan.Add(K::kClientRegistered, home, first);
    }
    if (other_first) plan.Add(K::kRegistrantChanged, Place::kNone, r);
    if (flap) {
      plan.Add(K::kProfileCompleted);
      plan.Add(K::kProfileWithdrawn);
    }
    if (special == 1) {  // one source, one instant: the later event_id (added second) decides
      plan.Add(profile ? K::kProfileWithdrawn : K::kProfileCompleted);
      plan.Add(profile ? K::kProfileCompleted : K::kProfileWithdrawn, Place::kNone,
               Registrant::kUnspecified, true);
    } else if (profile) {
      plan.Add(K::kProfileCompleted);
    }
    if (move) plan.Add(K::kClientMoved, Place::kTarget);
    if (special == 2) {
      plan.Add(K::kTargetGroupEntered, Place::kTarget, Registrant::kUnspecified, true);
      plan.residence_tie = plan.steps.size() - 1;
    }
    plan.last_at_horizon = special == 3;
    AddAfterEndChange(plan, true, true, profile);
    Emit(std::move(plan), cell);
  }

  void AddRegisterOnly(const std::string& muni) {
    Plan plan(muni);
    const bool earlier_spell = Noise(10);
    if (earlier_spell) {  // in the register before, elsewhere, then re-entered here
      plan.Add(K::kTargetGroupEntered, Place::kEarlier);
      plan.Add(K::kTargetGroupLeft);
    }
    if (Noise(15)) {  // known in Sonar once
      plan.Add(K::kClientRegistered, earlier_spell ? Place::kEarlier : Place::kTarget,
               RandomRegistrant());
      plan.Add(K::kClientDeregistered);
    }
    plan.Add(K::kTargetGroupEntered, Place::kTarget);
    AddAfterEndChange(plan, false, true, false);
    Emit(std::move(plan), Cell::kRegisterOnly);
  }

  void AddSonarOnly(const std::string& muni) {
    Plan plan(muni);
    if (Noise(20)) {  // left the register, stayed in Sonar
      plan.Add(K::kTargetGroupEntered, Place::kTarget);
      plan.Add(K::kTargetGroupLeft);
    }
    plan.Add(K::kClientRegistered, Place::kTarget, RandomRegistrant());
    const bool profile = rng_.Percent(40);
    if (profile) plan.Add(K::kProfileCompleted);
    AddAfterEndChange(plan, true, false, profile);
    Emit(std::move(plan), Cell::kSonarOnly);
  }

  // In the register (and perhaps Sonar) once, out of both by the end: counts nowhere.
  void AddFormerMember(const std::string& muni) {
    Plan plan(muni);
    plan.Add(K::kTargetGroupEntered, Place::kTarget);
    if (rng_.Percent(50)) {
      plan.Add(K::kClientRegistered, Place::kTarget, RandomRegistrant());
      plan.Add(K::kClientDeregistered);
    }
    plan.Add(K::kTargetGroupLeft);
    Emit(std::move(plan), Cell::kNone);
  }

  // Enters only after the end: absent from the quarter's figures, present in the live ones.
  void AddLateEntrant(const std::string& muni) {
    Plan plan(muni);
    plan.after_end = true;
    plan.Add(K::kTargetGroupEntered, Place::kTarget);
    if (rng_.Percent(40)) plan.Add(K::kClientRegistered, Place::kTarget, RandomRegistrant());
    Emit(std::move(plan), Cell::kNone);
  }

  // Deregistered, left the register, moved out of the rows' municipalities or profile toggled.
  void AddAfterEndChange(Plan& plan, bool in_sonar, bool in_register, bool profile) {
    if (!Noise(12)) return;
    plan.after_end = true;
    for (int i = rng_.Percent(30) ? 2 : 1; i > 0; --i) {
      const uint64_t pick = rng_.Below(4);
      if (pick == 0 && in_sonar) {
        plan.Add(K::kClientDeregistered);
      } else if (pick <= 1 && in_register) {
        plan.Add(K::kTargetGroupLeft);
      } else if (pick <= 2) {
        plan.Add(in_sonar ? K::kClientMoved : K::kTargetGroupEntered, Place::kOutside);
      } else {
        plan.Add(profile ? K::kProfileWithdrawn : K::kProfileCompleted);
      }
    }
  }

  void Emit(Plan plan, Cell end_cell) {
    if (after_end_limit_ <= end_ + std::chrono::hours{1}) {  // no room after the end (yet)
      std::erase_if(plan.steps, [](const Step& s) { return s.after_end; });
    }
    if (plan.steps.empty()) return;
    const std::vector<Instant> at = Schedule(plan);
    const std::string earlier = EarlierResidence(plan, at);
    const std::string client = ClientRef(o_.seed, persons_++);
    const size_t first_event = out_.events.size();
    char id[48];
    for (size_t i = 0; i < plan.steps.size(); ++i) {
      const Step& s = plan.steps[i];
      std::snprintf(id, sizeof id, "s%llu-%010llu", static_cast<unsigned long long>(o_.seed),
                    static_cast<unsigned long long>(events_++));
      out_.events.push_back({IsRegisterKind(s.kind) ? o_.source_register : o_.source_sonar, id,
                             client, at[i], s.kind, Resolve(s, at[i], plan.target, earlier),
                             s.registrant});
    }
    if (plan.residence_tie > 0) {
      // Which tied residence event wins depends on the source names and event_ids; the winner
      // must carry the target.
      Event& a = out_.events[first_event + plan.residence_tie - 1];
      Event& b = out_.events[first_event + plan.residence_tie];
      const bool b_wins = core::CompareByEventTime(a, b) < 0;
      (b_wins ? b : a).municipality_code = plan.target;
      (b_wins ? a : b).municipality_code = earlier;
    }
    if (end_cell != Cell::kNone) out_.expected_at_end[plan.target].Add(end_cell, 1);
  }

  // One instant per step, strictly increasing except for deliberate ties.
  std::vector<Instant> Schedule(const Plan& plan) {
    size_t before = 0, after = 0;
    for (const Step& s : plan.steps) {
      if (!s.same_instant) ++(s.after_end ? after : before);
    }
    const core::MunicipalityInfo* m = ref_.FindMunicipality(plan.target);
    const Instant from = m ? std::max(start_, core::AmsterdamMidnight(m->valid_from)) : start_;
    std::vector<Instant> slots = DrawInstants(before, from, horizon_);
    const Instant last = horizon_ - std::chrono::microseconds{1};
    if (plan.last_at_horizon && !slots.empty() && (slots.size() < 2 || slots.end()[-2] < last)) {
      slots.back() = last;
    }
    std::vector<Instant> late = DrawInstants(after, end_ + seconds{1}, after_end_limit_);
    if (!late.empty() && !end_instant_used_) {  // at the cut-off itself: the next quarter's
      late.front() = end_;
      end_instant_used_ = true;
    }
    slots.insert(slots.end(), late.begin(), late.end());
    std::vector<Instant> at;
    size_t next = 0;
    for (const Step& s : plan.steps) at.push_back(s.same_instant ? at.back() : slots[next++]);
    return at;
  }

  // Distinct whole seconds in [from, to), sorted, so one person's events never tie by accident.
  std::vector<Instant> DrawInstants(size_t n, Instant from, Instant to) {
    const auto span =
        std::max<int64_t>(std::chrono::floor<seconds>(to - from).count(), static_cast<int64_t>(n));
    std::set<uint64_t> picked;
    while (picked.size() < n) picked.insert(rng_.Below(static_cast<uint64_t>(span)));
    std::vector<Instant> out;
    for (uint64_t s : picked) out.push_back(from + seconds{s});
    return out;
  }

  // Where the person lived before the target: valid through all of their in-quarter events.
  std::string EarlierResidence(const Plan& plan, const std::vector<Instant>& at) {
    if (std::none_of(plan.steps.begin(), plan.steps.end(),
                     [](const Step& s) { return s.place == Place::kEarlier; })) {
      return {};
    }
    Instant last = at.front();
    for (size_t i = 0; i < at.size(); ++i) {
      if (!plan.steps[i].after_end) last = at[i];
    }
    return Pick(core::AmsterdamDate(at.front()), core::AmsterdamDate(last), plan.target, false);
  }

  std::string Resolve(const Step& step, Instant at, const std::string& target,
                      const std::string& earlier) {
    if (step.place == Place::kNone) return {};
    if (step.place == Place::kEarlier) return earlier;
    const core::Date date = core::AmsterdamDate(at);
    // Before the end the target exists (precondition); after it, it may have merged away.
    if (step.place == Place::kTarget && (!step.after_end || ref_.ExistsOn(target, date))) {
      return target;
    }
    return Pick(date, date, target, true);
  }

  // A municipality valid from `a` through `b` other than `target` (and, if `outside_rows`, none
  // of the rows'); any other one when the rows cover the whole country.
  std::string Pick(core::Date a, core::Date b, const std::string& target, bool outside_rows) {
    std::vector<const std::string*> codes;
    for (int pass = 0; pass < 2 && codes.empty(); ++pass) {
      for (const core::MunicipalityInfo& m : ref_.municipalities()) {
        const bool excluded = pass == 0 && outside_rows && row_codes_.contains(m.code);
        if (m.ValidOn(a) && m.ValidOn(b) && m.code != target && !excluded) {
          codes.push_back(&m.code);
        }
      }
    }
    return codes.empty() ? target : *codes[rng_.Below(codes.size())];
  }

  // A row's municipality, in proportion to its Sonar total (uniform if all are zero).
  const std::string& PickRow() {
    const int64_t total = row_weights_.back();
    if (total == 0) return o_.rows[rng_.Below(o_.rows.size())].municipality_code;
    const auto r = static_cast<int64_t>(rng_.Below(static_cast<uint64_t>(total)));
    const auto it = std::upper_bound(row_weights_.begin(), row_weights_.end(), r);
    return o_.rows[static_cast<size_t>(it - row_weights_.begin())].municipality_code;
  }

  bool Noise(int percent) { return o_.noise && rng_.Percent(percent); }
  Registrant RandomRegistrant() {
    return rng_.Percent(50) ? Registrant::kGemeente : Registrant::kUwv;
  }

  const PopulationOptions& o_;
  const core::ReferenceData& ref_;
  Rng rng_;
  Instant start_, end_, horizon_, after_end_limit_;
  std::set<std::string, std::less<>> row_codes_;
  std::vector<int64_t> row_weights_;  // cumulative Sonar totals
  uint64_t persons_ = 0, events_ = 0, sonar_cell_persons_ = 0;
  bool end_instant_used_ = false;
  Population out_;
};

}  // namespace

std::vector<SeedRow> ZeelandSeedRows() {
  return {{"GM0654", 0, 45, 57, 30},   {"GM0664", 4, 165, 201, 81}, {"GM0677", 1, 37, 77, 31},
          {"GM0678", 0, 18, 33, 17},   {"GM0687", 4, 140, 185, 66}, {"GM1695", 1, 14, 24, 6},
          {"GM0703", 4, 36, 75, 26},   {"GM1676", 3, 88, 90, 41},   {"GM1714", 2, 39, 44, 24},
          {"GM0715", 65, 68, 173, 80}, {"GM0716", 3, 41, 87, 31},   {"GM0717", 0, 21, 38, 9},
          {"GM0718", 3, 121, 155, 67}};
}

Population GeneratePopulation(const PopulationOptions& options,
                              const core::ReferenceData& reference) {
  return Generator(options, reference).Run();
}

std::map<std::string, core::CellCounts> FoldAt(std::span<const Event> events, Instant at) {
  std::map<std::string_view, std::vector<Event>> histories;
  for (const Event& e : events) {
    if (e.occurred_at < at) histories[e.client_ref].push_back(e);
  }
  std::map<std::string, core::CellCounts> counts;
  for (const auto& [client, history] : histories) {
    const core::Placement p = core::PlacementOf(core::FoldHistory(history));
    if (p.cell != Cell::kNone) counts[p.municipality_code].Add(p.cell, 1);
  }
  return counts;
}

}  // namespace sonar::sim
