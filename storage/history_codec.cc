#include "storage/history_codec.h"

#include <algorithm>
#include <cstdint>

#include "absl/container/inlined_vector.h"

namespace sonar::storage {
namespace {

constexpr char kVersion1 = 1;
constexpr char kVersion2 = 2;

// Version 2, municipality codes: 0 empty, 1 + n for "GM" followed by the four digits of n, and
// kCodeInline followed by a length-prefixed string for anything else.
constexpr uint64_t kCodeInline = 10'001;

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

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view& in, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    const auto b = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    v |= uint64_t{b & 0x7Fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

// "GM" + 4 digits -> 0..9999, else -1.
int CodeNumber(std::string_view code) {
  if (code.size() != 6 || code[0] != 'G' || code[1] != 'M') return -1;
  int n = 0;
  for (char c : code.substr(2)) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

std::string EncodeV1(std::span<const core::Event> history) {
  std::string out;
  out.reserve(1 + history.size() * 48);
  out.push_back(kVersion1);
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

std::optional<std::vector<core::Event>> DecodeV1(std::string_view in) {
  std::vector<core::Event> history;
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

std::string EncodeV2(std::span<const core::Event> history) {
  std::string out;
  out.reserve(1 + history.size() * 32);
  out.push_back(kVersion2);
  // Distinct, in order of first use; a history has one or two, so they stay inline.
  absl::InlinedVector<std::string_view, 4> sources;
  uint64_t previous = 0;
  for (const core::Event& e : history) {
    const auto it = std::find(sources.begin(), sources.end(), e.source);
    PutVarint(out, it == sources.end() ? 0 : static_cast<uint64_t>(it - sources.begin()) + 1);
    if (it == sources.end()) {
      PutString(out, e.source);
      sources.push_back(e.source);
    }
    // The difference from the previous event's time, modulo 2^64, zigzag-encoded: small for a
    // history in time order, exact for any order and value.
    const auto micros = static_cast<uint64_t>(e.occurred_at.time_since_epoch().count());
    const auto delta = static_cast<int64_t>(micros - previous);
    PutVarint(out, (static_cast<uint64_t>(delta) << 1) ^ static_cast<uint64_t>(delta >> 63));
    previous = micros;
    out.push_back(static_cast<char>(static_cast<uint8_t>(e.kind) |
                                    (static_cast<uint8_t>(e.registrant) << 4)));
    const int number = CodeNumber(e.municipality_code);
    if (e.municipality_code.empty()) {
      PutVarint(out, 0);
    } else if (number >= 0) {
      PutVarint(out, static_cast<uint64_t>(number) + 1);
    } else {
      PutVarint(out, kCodeInline);
      PutString(out, e.municipality_code);
    }
    PutString(out, e.event_id);
  }
  return out;
}

std::optional<std::vector<core::Event>> DecodeV2(std::string_view in) {
  std::vector<core::Event> history;
  absl::InlinedVector<std::string_view, 4> sources;  // views into `in`'s buffer
  uint64_t previous = 0;
  while (!in.empty()) {
    core::Event e;
    uint64_t source = 0, zigzag = 0, code = 0;
    if (!GetVarint(in, source)) return std::nullopt;
    if (source == 0) {
      const std::string_view at = in;
      if (!GetString(in, e.source)) return std::nullopt;
      sources.push_back(at.substr(1, e.source.size()));
    } else if (source <= sources.size()) {
      e.source = sources[source - 1];
    } else {
      return std::nullopt;
    }
    if (!GetVarint(in, zigzag) || in.empty()) return std::nullopt;
    const uint64_t delta = (zigzag >> 1) ^ (~(zigzag & 1) + 1);
    previous += delta;
    e.occurred_at = core::Instant{std::chrono::microseconds{static_cast<int64_t>(previous)}};
    const auto kind_registrant = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    e.kind = static_cast<core::EventKind>(kind_registrant & 0x0F);
    e.registrant = static_cast<core::Registrant>(kind_registrant >> 4);
    if (!GetVarint(in, code)) return std::nullopt;
    if (code == kCodeInline) {
      if (!GetString(in, e.municipality_code)) return std::nullopt;
    } else if (code > kCodeInline) {
      return std::nullopt;
    } else if (code > 0) {
      const auto n = static_cast<int>(code - 1);
      e.municipality_code = {'G',
                             'M',
                             static_cast<char>('0' + n / 1000),
                             static_cast<char>('0' + n / 100 % 10),
                             static_cast<char>('0' + n / 10 % 10),
                             static_cast<char>('0' + n % 10)};
    }
    if (!GetString(in, e.event_id)) return std::nullopt;
    history.push_back(std::move(e));
  }
  return history;
}

}  // namespace

std::string EncodeHistory(std::span<const core::Event> history) {
  // Version 2 packs kind and registrant into one byte; values that do not fit (none of the
  // defined ones) keep the version 1 layout.
  const bool packable = std::all_of(history.begin(), history.end(), [](const core::Event& e) {
    return static_cast<uint8_t>(e.kind) < 16 && static_cast<uint8_t>(e.registrant) < 16;
  });
  return packable ? EncodeV2(history) : EncodeV1(history);
}

std::optional<std::vector<core::Event>> DecodeHistory(std::string_view in) {
  if (in.empty()) return std::vector<core::Event>{};
  const char version = in[0];
  in.remove_prefix(1);
  if (version == kVersion1) return DecodeV1(in);
  if (version == kVersion2) return DecodeV2(in);
  return std::nullopt;
}

}  // namespace sonar::storage
