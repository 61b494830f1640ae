#include "core/time.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace sonar::core {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// A UTC instant from a date and a time of day.
Instant Utc(const char* date, int h = 0, int m = 0, int s = 0, int64_t us = 0) {
  const auto d = ParseDate(date);
  EXPECT_TRUE(d.has_value()) << date;
  return Instant{d.value_or(Date{})} + hours{h} + minutes{m} + seconds{s} + microseconds{us};
}

TEST(AmsterdamUtcOffsetTest, SpringForwardAtOneUtcOnLastSundayOfMarch) {
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2022-03-27", 0, 59, 59, 999'999)), hours{1});
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2022-03-27", 1)), hours{2});
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2022-03-26", 12)), hours{1});
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2022-03-28", 0)), hours{2});
}

TEST(AmsterdamUtcOffsetTest, FallBackAtOneUtcOnLastSundayOfOctober) {
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2022-10-30", 0, 59, 59, 999'999)), hours{2});
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2022-10-30", 1)), hours{1});
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2022-07-01", 12)), hours{2});
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2022-12-31", 23, 30)), hours{1});
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2022-01-15", 12)), hours{1});
}

TEST(AmsterdamUtcOffsetTest, OtherYearsUseTheirOwnLastSundays) {
  // 2023: 26 March and 29 October.
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2023-03-26", 0, 59)), hours{1});
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2023-03-26", 1)), hours{2});
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2023-10-29", 0, 59)), hours{2});
  EXPECT_EQ(AmsterdamUtcOffset(Utc("2023-10-29", 1)), hours{1});
}

TEST(AmsterdamDateTest, LocalDateChangesAtLocalMidnight) {
  EXPECT_EQ(FormatDate(AmsterdamDate(Utc("2022-09-30", 21, 59, 59))), "2022-09-30");
  EXPECT_EQ(FormatDate(AmsterdamDate(Utc("2022-09-30", 22))), "2022-10-01");
  EXPECT_EQ(FormatDate(AmsterdamDate(Utc("2022-12-31", 22, 59, 59))), "2022-12-31");
  EXPECT_EQ(FormatDate(AmsterdamDate(Utc("2022-12-31", 23))), "2023-01-01");
}

TEST(AmsterdamMidnightTest, WinterAndSummer) {
  EXPECT_EQ(AmsterdamMidnight(*ParseDate("2022-01-01")), Utc("2021-12-31", 23));
  EXPECT_EQ(AmsterdamMidnight(*ParseDate("2022-07-01")), Utc("2022-06-30", 22));
  // The days of the transitions themselves: midnight is before the switch.
  EXPECT_EQ(AmsterdamMidnight(*ParseDate("2022-03-27")), Utc("2022-03-26", 23));
  EXPECT_EQ(AmsterdamMidnight(*ParseDate("2022-03-28")), Utc("2022-03-27", 22));
  EXPECT_EQ(AmsterdamMidnight(*ParseDate("2022-10-30")), Utc("2022-10-29", 22));
  EXPECT_EQ(AmsterdamMidnight(*ParseDate("2022-10-31")), Utc("2022-10-30", 23));
}

TEST(QuarterOfTest, SpecBoundaryBetweenQ3AndQ4) {
  EXPECT_EQ(QuarterOf(Utc("2022-09-30", 21, 59, 59, 999'999)), (Quarter{2022, 3}));
  EXPECT_EQ(QuarterOf(Utc("2022-09-30", 22)), (Quarter{2022, 4}));
  EXPECT_EQ(QuarterOf(Utc("2022-09-30", 22, 30)), (Quarter{2022, 4}));  // SPEC section 4
}

TEST(QuarterOfTest, YearBoundaryInWinterTime) {
  EXPECT_EQ(QuarterOf(Utc("2022-12-31", 22, 59, 59, 999'999)), (Quarter{2022, 4}));
  EXPECT_EQ(QuarterOf(Utc("2022-12-31", 23)), (Quarter{2023, 1}));
  EXPECT_EQ(QuarterOf(Utc("2022-01-01", 0)), (Quarter{2022, 1}));
  EXPECT_EQ(QuarterOf(Utc("2021-12-31", 22, 59)), (Quarter{2021, 4}));
}

TEST(QuarterTest, StartAndEndOfEveryQuarterOf2022) {
  const Quarter q1{2022, 1}, q2{2022, 2}, q3{2022, 3}, q4{2022, 4};
  EXPECT_EQ(q1.Start(), Utc("2021-12-31", 23));
  EXPECT_EQ(q2.Start(), Utc("2022-03-31", 22));
  EXPECT_EQ(q3.Start(), Utc("2022-06-30", 22));
  EXPECT_EQ(q4.Start(), Utc("2022-09-30", 22));
  EXPECT_EQ(q1.End(), q2.Start());
  EXPECT_EQ(q2.End(), q3.Start());
  EXPECT_EQ(q3.End(), q4.Start());
  EXPECT_EQ(q4.End(), Utc("2022-12-31", 23));
  for (const Quarter& q : {q1, q2, q3, q4}) {
    EXPECT_EQ(QuarterOf(q.Start()), q) << q.ToString();
    EXPECT_EQ(QuarterOf(q.End() - microseconds{1}), q) << q.ToString();
    EXPECT_EQ(QuarterOf(q.End()), q.Next()) << q.ToString();
  }
}

TEST(QuarterTest, IndexOrderingAndNext) {
  const Quarter q4{2022, 4};
  EXPECT_EQ(q4.Next(), (Quarter{2023, 1}));
  EXPECT_EQ(Quarter::FromIndex(q4.Index()), q4);
  EXPECT_EQ(Quarter::FromIndex((Quarter{2023, 1}).Index()), (Quarter{2023, 1}));
  EXPECT_LT((Quarter{2022, 4}), (Quarter{2023, 1}));
  EXPECT_LT((Quarter{2022, 2}), (Quarter{2022, 3}));
  EXPECT_EQ((Quarter{2022, 3}).ToString(), "2022-Q3");
}

TEST(ParseQuarterTest, AcceptedForms) {
  for (const char* text : {"2022-Q3", "2022Q3", "2022q3", "2022-q3"}) {
    const auto q = ParseQuarter(text);
    ASSERT_TRUE(q.has_value()) << text;
    EXPECT_EQ(*q, (Quarter{2022, 3})) << text;
  }
  EXPECT_EQ(ParseQuarter("2023-Q1"), (Quarter{2023, 1}));
  EXPECT_EQ(ParseQuarter("2015Q4"), (Quarter{2015, 4}));
}

TEST(ParseQuarterTest, RejectedForms) {
  for (const char* text : {"2022-Q5", "2022-Q0", "22-Q3", "", "2022", "2022-3", "2022_Q3",
                           "2022-Q3 ", " 2022-Q3", "2022--Q3", "20x2-Q3", "2022-QQ"}) {
    EXPECT_FALSE(ParseQuarter(text).has_value()) << '"' << text << '"';
  }
}

TEST(ParseDateTest, ValidAndInvalid) {
  ASSERT_TRUE(ParseDate("2022-02-28").has_value());
  EXPECT_EQ(FormatDate(*ParseDate("2022-02-28")), "2022-02-28");
  EXPECT_TRUE(ParseDate("2024-02-29").has_value());
  EXPECT_FALSE(ParseDate("2022-02-30").has_value());
  EXPECT_FALSE(ParseDate("2023-02-29").has_value());
  EXPECT_FALSE(ParseDate("2022-13-01").has_value());
  EXPECT_FALSE(ParseDate("2022-00-10").has_value());
  EXPECT_FALSE(ParseDate("2022-04-31").has_value());
  EXPECT_FALSE(ParseDate("2022-1-01").has_value());
  EXPECT_FALSE(ParseDate("2022/01/01").has_value());
  EXPECT_FALSE(ParseDate("2022-01-0a").has_value());
  EXPECT_FALSE(ParseDate("+022-01-01").has_value());
  EXPECT_FALSE(ParseDate("").has_value());
}

TEST(FormatInstantTest, RendersUtcWithMicroseconds) {
  EXPECT_EQ(FormatInstant(Utc("2022-09-30", 22)), "2022-09-30T22:00:00.000000Z");
  EXPECT_EQ(FormatInstant(Utc("2022-09-30", 21, 59, 59, 999'999)), "2022-09-30T21:59:59.999999Z");
  EXPECT_EQ(FormatInstant(Utc("2015-01-01", 0, 0, 0, 42)), "2015-01-01T00:00:00.000042Z");
  EXPECT_EQ(FormatInstant(Utc("1970-01-01")), "1970-01-01T00:00:00.000000Z");
  // Before the epoch: the time of day is still non-negative.
  EXPECT_EQ(FormatInstant(Utc("1970-01-01") - microseconds{1}), "1969-12-31T23:59:59.999999Z");
}

}  // namespace
}  // namespace sonar::core
