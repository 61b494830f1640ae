// Event sets for the heavier tests, as proto messages ready to stream.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/seed_population.h"
#include "sonar/v1/events.pb.h"

namespace sonar::testing {

// The Zeeland population with every seed row multiplied by `scale` (about 2,900 events per unit
// of scale), all events before 2022-11-20, shuffled deterministically.
[[nodiscard]] sim::Population ScaledZeeland(int scale, uint64_t seed);
[[nodiscard]] std::vector<v1::Event> ToProtoShuffled(const std::vector<core::Event>& events,
                                                     uint64_t seed);

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
[[nodiscard]] int FreePort();

}  // namespace sonar::testing
