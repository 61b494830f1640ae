#include "storage/history_codec.h"

#include <cstdint>

namespace sonar::storage {
namespace {

constexpr char kVersion = 1;

void PutString(std::string& out, std::string_view s) {
  out.push_back(static_cast<char>(static_cast<uint8_t>(s.size())));
  out.append(s);
}

bool GetString(std::string_view& in, std::string& out) {
  if (in.empty()) return false;
  const size_t n = static_cast<uint8_t>(in[0]);
  if (in.size() < 1 + n) return false;
  out.assign(in.substr(1, n));
  in.remove_prefix(1 + n);
  return true;
}

}  // namespace

std::string EncodeHistory(std::span<const core::Event> history) {
  std::string out;
  out.reserve(1 + history.size() * 48);
  out.push_back(kVersion);
  for (const core::Event& e : history) {
    const auto micros = static_cast<uint64_t>(e.occurred_at.time_since_epoch().count());
    for (int b = 0; b < 8; ++b) out.push_back(static_cast<char>((micros >> (8 * b)) & 0xFF));
    out.push_back(static_cast<char>(e.kind));
    out.push_back(static_cast<char>(e.registrant));
    // Validation bounds these below 256 bytes: source <= 64, event_id <= 128, code 6.
    PutString(out, e.source);
    PutString(out, e.event_id);
    PutString(out, e.municipality_code);
  }
  return out;
}

std::optional<std::vector<core::Event>> DecodeHistory(std::string_view in) {
  std::vector<core::Event> history;
  if (in.empty()) return history;
  if (in[0] != kVersion) return std::nullopt;
  in.remove_prefix(1);
  while (!in.empty()) {
    if (in.size() < 10) return std::nullopt;
    uint64_t micros = 0;
    for (int b = 0; b < 8; ++b) micros |= uint64_t{static_cast<uint8_t>(in[b])} << (8 * b);
    core::Event e;
    e.occurred_at = core::Instant{std::chrono::microseconds{static_cast<int64_t>(micros)}};
    e.kind = static_cast<core::EventKind>(in[8]);
    e.registrant = static_cast<core::Registrant>(in[9]);
    in.remove_prefix(10);
    if (!GetString(in, e.source) || !GetString(in, e.event_id) ||
        !GetString(in, e.municipality_code)) {
      return std::nullopt;
    }
    history.push_back(std::move(e));
  }
  return history;
}

}  // namespace sonar::storage
