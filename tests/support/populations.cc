#include "tests/support/populations.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "service/proto_mapping.h"

namespace sonar::testing {

sim::Population ScaledZeeland(int scale, uint64_t seed) {
  sim::PopulationOptions options;
  options.quarter = {2022, 3};
  for (sim::SeedRow row : sim::ZeelandSeedRows()) {
    row.gemeente_with_profile *= scale;
    row.gemeente_without_profile *= scale;
    row.uwv_with_profile *= scale;
    row.uwv_without_profile *= scale;
    options.rows.push_back(row);
  }
  options.register_only = 1454 * scale;
  options.sonar_only = 37 * scale;
  options.seed = seed;
  options.now = core::Instant{*core::ParseDate("2022-11-20")};
  return sim::GeneratePopulation(options, core::ReferenceData::Builtin());
}

std::vector<v1::Event> ToProtoShuffled(const std::vector<core::Event>& events, uint64_t seed) {
  std::vector<v1::Event> out;
  out.reserve(events.size());
  for (const core::Event& e : events) out.push_back(service::ToProto(e));
  std::shuffle(out.begin(), out.end(), std::mt19937_64(seed));
  return out;
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace sonar::testing
