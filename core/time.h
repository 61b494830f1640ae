// Instants, calendar dates and quarters in Europe/Amsterdam time.
//
// All instants are UTC microseconds. Local (Amsterdam) time follows the EU rule in force since
// 1996: CEST (UTC+2) from the last Sunday of March 01:00 UTC to the last Sunday of October
// 01:00 UTC, CET (UTC+1) otherwise. Reference data dates (validity, mergers) are Amsterdam
// calendar dates: a date D starts at local midnight of D.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sonar::core {

using Instant = std::chrono::sys_time<std::chrono::microseconds>;
using Date = std::chrono::sys_days;  // a civil (Amsterdam) calendar date

// Offset of Amsterdam local time from UTC at `t`: one or two hours.
[[nodiscard]] std::chrono::hours AmsterdamUtcOffset(Instant t);

// The Amsterdam calendar date that `t` falls on.
[[nodiscard]] Date AmsterdamDate(Instant t);

// The instant at which Amsterdam local midnight starting `d` occurs.
[[nodiscard]] Instant AmsterdamMidnight(Date d);

// Parses "YYYY-MM-DD"; nullopt if malformed or not a real date.
[[nodiscard]] std::optional<Date> ParseDate(std::string_view text);
[[nodiscard]] std::string FormatDate(Date d);

// RFC 3339 UTC rendering with microseconds, e.g. "2022-09-30T22:00:00.000000Z".
[[nodiscard]] std::string FormatInstant(Instant t);

// A calendar quarter. `index` orders quarters: year * 4 + (quarter - 1).
struct Quarter {
  int year = 0;
  int quarter = 0;  // 1..4

  [[nodiscard]] int Index() const { return year * 4 + (quarter - 1); }
  [[nodiscard]] static Quarter FromIndex(int index) { return {index / 4, index % 4 + 1}; }
  [[nodiscard]] Quarter Next() const { return FromIndex(Index() + 1); }
  // "2022-Q3".
  [[nodiscard]] std::string ToString() const;
  // Amsterdam local midnight at the quarter's first day.
  [[nodiscard]] Instant Start() const;
  // The cut-off: the first instant after the quarter (start of the next one).
  [[nodiscard]] Instant End() const { return Next().Start(); }

  friend bool operator==(const Quarter&, const Quarter&) = default;
  friend auto operator<=>(const Quarter& a, const Quarter& b) { return a.Index() <=> b.Index(); }
};

// The quarter (Amsterdam time) containing `t`.
[[nodiscard]] Quarter QuarterOf(Instant t);

// Parses "2022-Q3" or "2022Q3" (case-insensitive q); nullopt otherwise.
[[nodiscard]] std::optional<Quarter> ParseQuarter(std::string_view text);

}  // namespace sonar::core
