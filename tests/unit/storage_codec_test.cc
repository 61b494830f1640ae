#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/event.h"
#include "storage/history_codec.h"
#include "storage/sql_array.h"

namespace sonar::storage {
namespace {

using core::Event;
using core::EventKind;
using core::Instant;
using core::Registrant;
using std::chrono::microseconds;

Event Make(std::string source, std::string id, int64_t micros, EventKind kind, std::string code,
           Registrant registrant) {
  Event e;
  e.source = std::move(source);
  e.event_id = std::move(id);
  e.occurred_at = Instant{microseconds{micros}};
  e.kind = kind;
  e.municipality_code = std::move(code);
  e.registrant = registrant;
  return e;
}

std::vector<Event> SampleHistory() {
  return {
      Make("doelgroepregister", "r-1", 1'644'494'400'123'456, EventKind::kTargetGroupEntered,
           "GM0654", Registrant::kUnspecified),
      Make("sonar", std::string(128, '~'), 1'652'184'000'000'001, EventKind::kClientRegistered,
           "GM0664", Registrant::kUwv),
      Make("sonar", "s-3", 1'660'564'800'000'000, EventKind::kRegistrantChanged, "",
           Registrant::kGemeente),
      Make(std::string(64, 'x'), "with \"quotes\" and \\ backslash", 1'668'081'600'999'999,
           EventKind::kTargetGroupLeft, "", Registrant::kUnspecified),
  };
}

void ExpectSame(const std::vector<Event>& got, const std::vector<Event>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].source, want[i].source) << i;
    EXPECT_EQ(got[i].event_id, want[i].event_id) << i;
    EXPECT_EQ(got[i].occurred_at, want[i].occurred_at) << i;
    EXPECT_EQ(got[i].kind, want[i].kind) << i;
    EXPECT_EQ(got[i].municipality_code, want[i].municipality_code) << i;
    EXPECT_EQ(got[i].registrant, want[i].registrant) << i;
    EXPECT_TRUE(got[i].client_ref.empty()) << i;  // not stored per event
  }
}

TEST(HistoryCodecTest, RoundTrip) {
  const std::vector<Event> h = SampleHistory();
  const auto decoded = DecodeHistory(EncodeHistory(h));
  ASSERT_TRUE(decoded.has_value());
  ExpectSame(*decoded, h);
}

TEST(HistoryCodecTest, EmptyHistory) {
  const std::string bytes = EncodeHistory({});
  EXPECT_EQ(bytes.size(), 1u);  // just the version
  const auto decoded = DecodeHistory(bytes);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->empty());
  // An empty string (a row never written) is an empty history too.
  ASSERT_TRUE(DecodeHistory("").has_value());
  EXPECT_TRUE(DecodeHistory("")->empty());
}

TEST(HistoryCodecTest, LongestStringsTheFormatHolds) {
  // One length byte per string: 255 bytes is the most it can hold.
  const std::vector<Event> h = {Make(std::string(255, 's'), std::string(255, 'e'), 0,
                                     EventKind::kClientMoved, std::string(255, 'm'),
                                     Registrant::kUnspecified)};
  const auto decoded = DecodeHistory(EncodeHistory(h));
  ASSERT_TRUE(decoded.has_value());
  ExpectSame(*decoded, h);
}

TEST(HistoryCodecTest, ExtremeTimes) {
  const std::vector<Event> h = {
      Make("a", "b", 0, EventKind::kProfileCompleted, "", Registrant::kUnspecified),
      Make("a", "c", INT64_MAX, EventKind::kProfileWithdrawn, "", Registrant::kUnspecified),
      Make("a", "d", 0x0102030405060708, EventKind::kClientDeregistered, "",
           Registrant::kUnspecified),
  };
  const auto decoded = DecodeHistory(EncodeHistory(h));
  ASSERT_TRUE(decoded.has_value());
  ExpectSame(*decoded, h);
}

TEST(HistoryCodecTest, LittleEndianLayout) {
  const std::string bytes = EncodeHistory(
      std::vector<Event>{Make("s", "e", 0x0102030405060708, EventKind::kClientRegistered, "GM0654",
                              Registrant::kGemeente)});
  ASSERT_EQ(bytes.size(), 1u + 8 + 2 + 2 + 2 + 7);
  EXPECT_EQ(bytes[0], 1);
  EXPECT_EQ(bytes[1], 0x08);
  EXPECT_EQ(bytes[8], 0x01);
  EXPECT_EQ(bytes[9], 1);   // kind
  EXPECT_EQ(bytes[10], 1);  // registrant
}

TEST(HistoryCodecTest, RejectsEveryTruncationInsideAnEvent) {
  const std::vector<Event> h = SampleHistory();
  const std::string full = EncodeHistory(h);
  // Boundaries between events (where a shorter, valid history ends).
  std::vector<size_t> boundaries;
  for (size_t n = 0; n <= h.size(); ++n) {
    boundaries.push_back(EncodeHistory(std::span<const Event>(h.data(), n)).size());
  }
  int rejected = 0;
  for (size_t len = 1; len < full.size(); ++len) {
    const auto decoded = DecodeHistory(std::string_view(full).substr(0, len));
    if (std::find(boundaries.begin(), boundaries.end(), len) != boundaries.end()) {
      ASSERT_TRUE(decoded.has_value()) << len;
    } else {
      EXPECT_FALSE(decoded.has_value()) << "prefix of " << len << " bytes decoded";
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 100);
}

TEST(HistoryCodecTest, RejectsWrongVersionAndTrailingGarbage) {
  std::string bytes = EncodeHistory(SampleHistory());
  bytes[0] = 2;
  EXPECT_FALSE(DecodeHistory(bytes).has_value());
  bytes[0] = 0;
  EXPECT_FALSE(DecodeHistory(bytes).has_value());
  EXPECT_FALSE(DecodeHistory(std::string_view("\x02", 1)).has_value());
  std::string trailing = EncodeHistory(SampleHistory());
  trailing.push_back('\x07');
  EXPECT_FALSE(DecodeHistory(trailing).has_value());
}

TEST(SqlArrayTest, TextEscaping) {
  SqlArray a;
  a.Add(std::string_view("a\"b\\c"));
  EXPECT_EQ(a.Literal(), R"({"a\"b\\c"})");
  EXPECT_EQ(a.Literal(), R"({"a\"b\\c"})");  // idempotent
}

TEST(SqlArrayTest, SeveralTextElements) {
  SqlArray a;
  a.Add(std::string_view("x"));
  a.Add(std::string_view(""));
  a.Add(std::string_view("with, comma {}"));
  EXPECT_EQ(a.Literal(), R"({"x","","with, comma {}"})");
  SqlArray empty;
  EXPECT_EQ(empty.Literal(), "{}");
}

TEST(SqlArrayTest, Integers) {
  SqlArray a;
  a.Add(int64_t{1});
  a.Add(int64_t{-42});
  a.Add(int64_t{INT64_MAX});
  EXPECT_EQ(a.Literal(), "{1,-42,9223372036854775807}");
}

TEST(SqlArrayTest, Bytes) {
  SqlArray a;
  a.AddBytes(std::string_view("\x00\xff", 2));
  EXPECT_EQ(a.Literal(), R"({"\\x00ff"})");
  SqlArray b;
  b.AddBytes("");
  b.AddBytes("\x12\xab");
  EXPECT_EQ(b.Literal(), R"({"\\x","\\x12ab"})");
}

TEST(SqlArrayTest, ParseTextArrayRoundTrip) {
  const std::vector<std::string> values = {"plain",    "a\"b\\c", "",           "with, comma",
                                           "{braces}", "NULL",    "  spaces  ", "\\\\"};
  SqlArray a;
  for (const std::string& v : values) a.Add(std::string_view(v));
  EXPECT_EQ(ParseTextArray(a.Literal()), values);
}

TEST(SqlArrayTest, ParseTextArrayServerForms) {
  EXPECT_EQ(ParseTextArray("{a,\"b c\",NULL}"), (std::vector<std::string>{"a", "b c", ""}));
  EXPECT_EQ(ParseTextArray("{}"), std::vector<std::string>{});
  EXPECT_EQ(ParseTextArray("{single}"), std::vector<std::string>{"single"});
  EXPECT_EQ(ParseTextArray("{\"\"}"), std::vector<std::string>{""});
  EXPECT_EQ(ParseTextArray("not an array"), std::vector<std::string>{});
}

}  // namespace
}  // namespace sonar::storage
