#include "bench/national_population.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <tuple>

#include "core/validation.h"

namespace sonar::bench {
namespace {

using K = core::EventKind;
using core::Registrant;

uint64_t Mix(uint64_t x) {  // splitmix64's finalizer: a bijection on 64 bits
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

class Rng final {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return Mix(state_ += 0x9E3779B97F4A7C15ULL); }
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Unit() < p; }

 private:
  uint64_t state_;
};

constexpr int64_t kMicrosPerDay = 86'400LL * 1'000'000;

int64_t Micros(core::Instant t) { return t.time_since_epoch().count(); }

// Which code a resident of a "home" municipality is registered under on a given date: the
// home itself while it exists, its successor after a merger, a predecessor before it was formed.
class Layouts final {
 public:
  Layouts(const core::ReferenceData& reference, core::Date from, core::Date to) {
    std::vector<core::Date> bounds{from};
    for (const core::MunicipalityInfo& m : reference.municipalities()) {
      for (auto d : {std::optional<core::Date>(m.valid_from), m.valid_to}) {
        if (d && *d > from && *d < to) bounds.push_back(*d);
      }
      if (m.valid_from < to && (!m.valid_to || *m.valid_to > from)) {
        homes_.push_back(static_cast<uint16_t>(codes_.size()));
        codes_.push_back(m.code);
      }
    }
    std::sort(bounds.begin(), bounds.end());
    bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
    std::map<std::string, uint16_t, std::less<>> index;
    for (size_t i = 0; i < codes_.size(); ++i) index.emplace(codes_[i], static_cast<uint16_t>(i));
    for (core::Date d : bounds) {
      starts_.push_back(Micros(core::AmsterdamMidnight(d)));
      std::vector<uint16_t> valid;
      for (size_t i = 0; i < codes_.size(); ++i) {
        if (reference.ExistsOn(codes_[i], d)) valid.push_back(static_cast<uint16_t>(i));
      }
      std::vector<uint16_t> resolve(codes_.size());
      for (size_t h = 0; h < codes_.size(); ++h) {
        const std::string& home = codes_[h];
        if (reference.ExistsOn(home, d)) {
          resolve[h] = static_cast<uint16_t>(h);
          continue;
        }
        const std::string successor = reference.SuccessorOn(home, d);
        if (reference.ExistsOn(successor, d) && index.count(successor) != 0) {
          resolve[h] = index.at(successor);
          continue;
        }
        // Formed later: a predecessor valid now that merged into it.
        const core::MunicipalityInfo* info = reference.FindMunicipality(home);
        uint16_t pick = valid[Mix(h) % valid.size()];
        for (uint16_t v : valid) {
          if (info != nullptr && reference.SuccessorOn(codes_[v], info->valid_from) == home) {
            pick = v;
            break;
          }
        }
        resolve[h] = pick;
      }
      resolve_.push_back(std::move(resolve));
    }
  }

  [[nodiscard]] const std::vector<std::string>& codes() const { return codes_; }
  [[nodiscard]] size_t homes() const { return homes_.size(); }

  [[nodiscard]] uint16_t Resolve(uint16_t home, int64_t at_us) const {
    const size_t i = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), at_us) -
                                         starts_.begin());
    return resolve_[i == 0 ? 0 : i - 1][home];
  }

 private:
  std::vector<std::string> codes_;
  std::vector<uint16_t> homes_;
  std::vector<int64_t> starts_;
  std::vector<std::vector<uint16_t>> resolve_;
};

// Municipality sizes differ by orders of magnitude: a log-normal weight per code.
class HomePicker final {
 public:
  HomePicker(size_t homes, uint64_t seed) {
    double sum = 0;
    for (size_t h = 0; h < homes; ++h) {
      Rng rng(Mix(seed ^ (0xA5A5ULL + h)));
      double z = 0;
      for (int i = 0; i < 6; ++i) z += rng.Unit();
      z = (z - 3.0) / std::sqrt(0.5);  // ~N(0, 1)
      sum += std::exp(1.1 * z);
      cumulative_.push_back(sum);
    }
  }
  uint16_t Pick(Rng& rng) const {
    const double u = rng.Unit() * cumulative_.back();
    return static_cast<uint16_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), u) -
                                 cumulative_.begin());
  }

 private:
  std::vector<double> cumulative_;
};

enum class PersonType { kBoth, kRegisterOnly, kSonarOnly };

}  // namespace

std::string ClientRef(uint64_t seed, uint32_t person) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const uint64_t head = Mix(person ^ Mix(seed + 0x9E3779B97F4A7C15ULL));
  const uint64_t tail = Mix(head ^ seed);
  std::string ref(22, 'A');
  for (int i = 0; i < 11; ++i) {
    ref[i] = kAlphabet[(head >> (60 - 6 * i)) & 63];
    ref[11 + i] = kAlphabet[(tail >> (60 - 6 * i)) & 63];
  }
  if (core::LooksLikeBsn(ref)) ref[0] = 'Z';  // never digits only (unreachable in practice)
  return ref;
}

std::string EventId(uint64_t seed, uint32_t serial) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t v = Mix(serial ^ Mix(seed * 3 + 7));
  std::string id = "ev-0000000000000000";
  for (int i = 0; i < 16; ++i) id[3 + i] = kHex[(v >> (60 - 4 * i)) & 15];
  return id;
}

const char* SourceOf(const CompactEvent& e) {
  const auto kind = static_cast<K>(e.kind);
  return kind == K::kTargetGroupEntered || kind == K::kTargetGroupLeft ? "doelgroepregister"
                                                                       : "sonar";
}

core::Event ToCore(const Population& population, const CompactEvent& e) {
  core::Event out;
  out.source = SourceOf(e);
  out.event_id = EventId(population.seed, e.serial);
  out.client_ref = ClientRef(population.seed, e.person);
  out.occurred_at = core::Instant{std::chrono::microseconds{e.occurred_us}};
  out.kind = static_cast<K>(e.kind);
  if (e.municipality != kNoCode) out.municipality_code = population.codes[e.municipality];
  out.registrant = static_cast<Registrant>(e.registrant);
  return out;
}

Population Generate(const PopulationOptions& o, const core::ReferenceData& reference) {
  using namespace std::chrono;
  const core::Date first_day = sys_days{year{2019} / January / 1};
  const core::Date end_day = sys_days{year{2025} / January / 1};
  const int64_t t0 = Micros(core::AmsterdamMidnight(first_day));
  const int64_t t1 = Micros(core::AmsterdamMidnight(end_day));
  if (o.persons == 0 || o.persons > 0xFFFFFFFFULL) throw std::invalid_argument("bad --persons");
  const uint64_t duplicates =
      static_cast<uint64_t>(std::llround(static_cast<double>(o.events) * o.duplicate_share));
  const uint64_t distinct = o.events - duplicates;
  if (distinct < o.persons || distinct > 0xFFFFFFFFULL) {
    throw std::invalid_argument("--events must be at least --persons (and below 4e9)");
  }

  const Layouts layouts(reference, first_day, end_day);
  const HomePicker picker(layouts.homes(), o.seed);

  Population pop;
  pop.seed = o.seed;
  pop.codes = layouts.codes();
  pop.persons = o.persons;
  pop.events.reserve(o.events);

  // Events per person: the same for all, then moved between neighbours (2..8 at mean 5).
  std::vector<uint32_t> counts(o.persons, static_cast<uint32_t>(distinct / o.persons));
  for (uint64_t i = 0; i < distinct % o.persons; ++i) ++counts[i];
  {
    Rng rng(Mix(o.seed ^ 0xC0FFEEULL));
    for (uint64_t i = 0; i + 1 < o.persons; i += 2) {
      const uint32_t room = std::min(counts[i], counts[i + 1]) - 1;
      const uint32_t d = static_cast<uint32_t>(rng.Below(std::min<uint32_t>(room, 3) + 1));
      if (rng.Below(2) == 0) {
        counts[i] += d, counts[i + 1] -= d;
      } else {
        counts[i] -= d, counts[i + 1] += d;
      }
    }
  }

  uint32_t serial = 0;
  std::vector<int64_t> times;
  for (uint32_t p = 0; p < o.persons; ++p) {
    Rng rng(Mix(o.seed * 0x100000001B3ULL) ^ Mix(p + 1));
    const double u = rng.Unit();
    const PersonType type = u < 0.55
                                ? PersonType::kBoth
                                : (u < 0.80 ? PersonType::kRegisterOnly : PersonType::kSonarOnly);
    const uint32_t k = counts[p];
    const int64_t start =
        t0 + static_cast<int64_t>(rng.Unit() * static_cast<double>(t1 - t0 - 30 * kMicrosPerDay));
    times.clear();
    for (uint32_t j = 0; j < k; ++j) {
      times.push_back(start +
                      static_cast<int64_t>(rng.Unit() * static_cast<double>(t1 - 1 - start)));
    }
    std::sort(times.begin(), times.end());
    for (uint32_t j = 1; j < k; ++j) times[j] = std::max(times[j], times[j - 1] + 1);

    uint16_t home = picker.Pick(rng);
    bool in_sonar = false, in_register = false, profile = false;
    Registrant registrant = Registrant::kUnspecified;
    for (uint32_t j = 0; j < k; ++j) {
      K kind;
      if (j == 0) {
        kind = type == PersonType::kSonarOnly ? K::kClientRegistered : K::kTargetGroupEntered;
      } else if (j == 1 && type == PersonType::kBoth && !in_sonar) {
        kind = K::kClientRegistered;
      } else {
        struct Option {
          K kind;
          int weight;
        };
        Option options[8];
        int n = 0, total = 0;
        auto offer = [&](bool ok, K kd, int w) {
          if (ok) options[n++] = {kd, w}, total += w;
        };
        offer(in_sonar && !profile, K::kProfileCompleted, 30);
        offer(profile, K::kProfileWithdrawn, 6);
        offer(in_sonar, K::kRegistrantChanged, 10);
        offer(in_sonar, K::kClientDeregistered, 8);
        offer(!in_sonar && type != PersonType::kRegisterOnly, K::kClientRegistered, 15);
        offer(in_register, K::kTargetGroupLeft, 5);
        offer(!in_register && type != PersonType::kSonarOnly, K::kTargetGroupEntered, 8);
        offer(true, K::kClientMoved, 8);
        int pick = static_cast<int>(rng.Below(static_cast<uint64_t>(total)));
        kind = options[n - 1].kind;
        for (int i = 0; i < n; ++i) {
          if (pick < options[i].weight) {
            kind = options[i].kind;
            break;
          }
          pick -= options[i].weight;
        }
      }
      CompactEvent e;
      e.occurred_us = times[j];
      e.send_us = times[j];
      e.person = p;
      e.serial = serial++;
      e.kind = static_cast<uint8_t>(kind);
      e.municipality = kNoCode;
      switch (kind) {
        case K::kClientRegistered:
          registrant = rng.Chance(0.6) ? Registrant::kGemeente : Registrant::kUwv;
          e.registrant = static_cast<uint8_t>(registrant);
          e.municipality = layouts.Resolve(home, e.occurred_us);
          in_sonar = true;
          break;
        case K::kClientDeregistered:
          in_sonar = false;
          break;
        case K::kProfileCompleted:
          profile = true;
          break;
        case K::kProfileWithdrawn:
          profile = false;
          break;
        case K::kRegistrantChanged:
          registrant =
              registrant == Registrant::kGemeente ? Registrant::kUwv : Registrant::kGemeente;
          e.registrant = static_cast<uint8_t>(registrant);
          break;
        case K::kClientMoved:
          home = picker.Pick(rng);
          e.municipality = layouts.Resolve(home, e.occurred_us);
          break;
        case K::kTargetGroupEntered:
          e.municipality = layouts.Resolve(home, e.occurred_us);
          in_register = true;
          break;
        case K::kTargetGroupLeft:
          in_register = false;
          break;
        case K::kUnspecified:
          break;
      }
      if (rng.Chance(o.late_share)) {
        e.flags |= kLate;
        e.send_us += 3'600'000'000LL +
                     static_cast<int64_t>(rng.Unit() * static_cast<double>(180 * kMicrosPerDay));
        ++pop.late;
      }
      ++pop.by_kind[e.kind];
      pop.events.push_back(e);
    }
  }
  pop.distinct = pop.events.size();

  Rng rng(Mix(o.seed ^ 0xD0D0ULL));
  for (uint64_t i = 0; i < duplicates; ++i) {
    CompactEvent copy = pop.events[rng.Below(pop.distinct)];
    copy.flags |= kDuplicate;
    copy.send_us +=
        60'000'000LL + static_cast<int64_t>(rng.Unit() * static_cast<double>(30 * kMicrosPerDay));
    pop.events.push_back(copy);
  }
  pop.duplicates = duplicates;
  std::sort(pop.events.begin(), pop.events.end(), [](const CompactEvent& a, const CompactEvent& b) {
    return std::tie(a.send_us, a.flags, a.serial) < std::tie(b.send_us, b.flags, b.serial);
  });
  return pop;
}

}  // namespace sonar::bench
