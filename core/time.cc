#include "core/time.h"

#include <cstdio>

namespace sonar::core {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::Sunday;
using std::chrono::year;
using std::chrono::year_month_day;

// 01:00 UTC on the last Sunday of `month` in `y`.
Instant LastSundayOneUtc(year y, std::chrono::month month) {
  const Date last_sunday{y / month / Sunday[std::chrono::last]};
  return Instant{last_sunday} + hours{1};
}

}  // namespace

hours AmsterdamUtcOffset(Instant t) {
  const year y = year_month_day{std::chrono::floor<days>(t)}.year();
  const bool summer =
      t >= LastSundayOneUtc(y, std::chrono::March) && t < LastSundayOneUtc(y, std::chrono::October);
  return summer ? hours{2} : hours{1};
}

Date AmsterdamDate(Instant t) { return std::chrono::floor<days>(t + AmsterdamUtcOffset(t)); }

Instant AmsterdamMidnight(Date d) {
  // Midnight is never inside a DST transition (they happen at 02:00/03:00 local), so the offset
  // one day-fraction before is the offset at midnight itself.
  const Instant as_if_utc{d};
  return as_if_utc - AmsterdamUtcOffset(as_if_utc - hours{2});
}

std::optional<Date> ParseDate(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int y = 0, m = 0, d = 0;
  for (size_t i = 0; i < 10; ++i) {
    if (i == 4 || i == 7) continue;
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  y = std::stoi(std::string(text.substr(0, 4)));
  m = std::stoi(std::string(text.substr(5, 2)));
  d = std::stoi(std::string(text.substr(8, 2)));
  const year_month_day ymd{year{y}, std::chrono::month{static_cast<unsigned>(m)},
                           std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return Date{ymd};
}

std::string FormatDate(Date d) {
  const year_month_day ymd{d};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::string FormatInstant(Instant t) {
  const Date d = std::chrono::floor<days>(t);
  const auto micros = (t - Instant{d}).count();
  const int64_t secs = micros / 1'000'000;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%sT%02lld:%02lld:%02lld.%06lldZ", FormatDate(d).c_str(),
                static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                static_cast<long long>(secs % 60), static_cast<long long>(micros % 1'000'000));
  return buf;
}

std::string Quarter::ToString() const {
  return std::to_string(year) + "-Q" + std::to_string(quarter);
}

Instant Quarter::Start() const {
  const unsigned first_month = static_cast<unsigned>((quarter - 1) * 3 + 1);
  return AmsterdamMidnight(Date{std::chrono::year{year} / std::chrono::month{first_month} / 1});
}

Quarter QuarterOf(Instant t) {
  const year_month_day ymd{AmsterdamDate(t)};
  return {static_cast<int>(ymd.year()),
          static_cast<int>((static_cast<unsigned>(ymd.month()) - 1) / 3 + 1)};
}

std::optional<Quarter> ParseQuarter(std::string_view text) {
  if (text.size() < 6 || text.size() > 7) return std::nullopt;
  for (size_t i = 0; i < 4; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  std::string_view rest = text.substr(4);
  if (rest.size() == 3) {
    if (rest[0] != '-') return std::nullopt;
    rest.remove_prefix(1);
  }
  if (rest.size() != 2 || (rest[0] != 'Q' && rest[0] != 'q') || rest[1] < '1' || rest[1] > '4') {
    return std::nullopt;
  }
  return Quarter{std::stoi(std::string(text.substr(0, 4))), rest[1] - '0'};
}

}  // namespace sonar::core
