#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/event.h"
#include "storage/binary_array.h"
#include "storage/copy_text.h"
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

TEST(HistoryCodecTest, Version1RowsStillDecode) {
  // Written by the first version of the codec: occurred_at little-endian, kind, registrant,
  // then length-prefixed source, event_id and municipality code.
  std::string v1 = {1, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 1, 1};
  v1 += std::string(
      "\x01s\x01"
      "e\x06GM0654",
      11);
  v1 += std::string("\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00", 10);
  v1 += std::string(
      "\x01s\x02"
      "e2\x00",
      6);
  const auto decoded = DecodeHistory(v1);
  ASSERT_TRUE(decoded.has_value());
  ExpectSame(*decoded,
             {Make("s", "e", 0x0102030405060708, EventKind::kClientRegistered, "GM0654",
                   Registrant::kGemeente),
              Make("s", "e2", 0, EventKind::kTargetGroupLeft, "", Registrant::kUnspecified)});
  // Re-encoded in the current version, same content.
  const auto again = DecodeHistory(EncodeHistory(*decoded));
  ASSERT_TRUE(again.has_value());
  ExpectSame(*again, *decoded);
}

TEST(HistoryCodecTest, Version2Layout) {
  const std::string bytes = EncodeHistory(std::vector<Event>{
      Make("sonar", "e", 1, EventKind::kClientRegistered, "GM0654", Registrant::kUwv),
      Make("sonar", "f", 3, EventKind::kClientMoved, "XX1", Registrant::kUnspecified)});
  const std::string want = std::string("\x02", 1) +
                           // new source "sonar", +1 µs (zigzag 2), kind 1 | UWV << 4, 655, "e"
                           std::string(
                               "\x00\x05sonar\x02\x21\x8f\x05\x01"
                               "e",
                               13) +
                           // source #1, +2 µs (zigzag 4), kind 6, inline code "XX1", "f"
                           std::string(
                               "\x01\x04\x06\x91\x4e\x03XX1\x01"
                               "f",
                               11);
  EXPECT_EQ(bytes, want);
}

TEST(HistoryCodecTest, Version2IsSmallerForTypicalHistories) {
  std::vector<Event> h;
  for (int i = 0; i < 5; ++i) {
    h.push_back(Make("sonar", "ev-0123456789abcde" + std::to_string(i),
                     1'644'494'400'000'000 + i * 86'400'000'000LL, EventKind::kClientMoved,
                     "GM0654", Registrant::kUnspecified));
  }
  const std::string v2 = EncodeHistory(h);
  EXPECT_EQ(v2[0], 2);
  EXPECT_LT(v2.size(), 1 + 5 * 44 * 3 / 4);  // version 1: 44 bytes per event here
}

TEST(HistoryCodecTest, NegativeAndUnorderedTimes) {
  const std::vector<Event> h = {
      Make("a", "b", -5, EventKind::kProfileCompleted, "", Registrant::kUnspecified),
      Make("a", "c", INT64_MIN, EventKind::kProfileWithdrawn, "GM9999", Registrant::kGemeente),
      Make("z", "d", INT64_MAX, EventKind::kClientDeregistered, "GM0000", Registrant::kUwv),
      Make("a", "e", 7, EventKind::kClientMoved, "gm0654", Registrant::kUnspecified),
  };
  const auto decoded = DecodeHistory(EncodeHistory(h));
  ASSERT_TRUE(decoded.has_value());
  ExpectSame(*decoded, h);
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
  bytes[0] = 3;
  EXPECT_FALSE(DecodeHistory(bytes).has_value());
  bytes[0] = 0;
  EXPECT_FALSE(DecodeHistory(bytes).has_value());
  EXPECT_FALSE(DecodeHistory(std::string_view("\x03", 1)).has_value());
  std::string trailing = EncodeHistory(SampleHistory());
  trailing.push_back('\x07');
  EXPECT_FALSE(DecodeHistory(trailing).has_value());
}

TEST(CopyTextTest, RowsAreTabSeparatedAndNewlineEnded) {
  CopyText rows;
  EXPECT_EQ(rows.rows(), 0u);
  rows.Add(std::string_view("src"));
  rows.Add(int64_t{-42});
  rows.Add(std::string_view(""));
  rows.EndRow();
  rows.Add(int64_t{INT64_MAX});
  rows.EndRow();
  EXPECT_EQ(rows.Text(), "src\t-42\t\n9223372036854775807\n");
  EXPECT_EQ(rows.rows(), 2u);
}

TEST(CopyTextTest, EscapesWhatCopyTextFormatReads) {
  CopyText rows;
  rows.Add(std::string_view("a\\b\tc\nd\re\"N"));
  rows.EndRow();
  // A backslash, tab, newline and CR become two characters each; the rest, quotes and a
  // would-be \N included (its backslash is doubled), stays as it is.
  EXPECT_EQ(rows.Text(), "a\\\\b\\tc\\nd\\re\"N\n");
  // Escapes first, last and next to each other; a field of nothing but text.
  CopyText more;
  more.Add(std::string_view("\t\nx\\"));
  more.Add(std::string_view("\r"));
  more.Add(std::string_view("plain"));
  more.EndRow();
  EXPECT_EQ(more.Text(), "\\t\\nx\\\\\t\\r\tplain\n");
}

TEST(CopyTextTest, TimestampsInUtcWithMicroseconds) {
  using std::chrono::microseconds;
  CopyText rows;
  rows.Add(Instant{microseconds{0}});
  rows.Add(Instant{microseconds{1'664'575'199'999'999}});  // 2022-09-30 21:59:59.999999 UTC
  rows.Add(Instant{microseconds{951'782'400'000'001}});    // 2000-02-29 00:00:00.000001 UTC
  rows.Add(Instant{microseconds{-1}});                     // before the epoch
  rows.EndRow();
  EXPECT_EQ(rows.Text(),
            "1970-01-01 00:00:00.000000+00\t2022-09-30 21:59:59.999999+00\t"
            "2000-02-29 00:00:00.000001+00\t1969-12-31 23:59:59.999999+00\n");
}

// array_recv's layout: ndim, has-nulls flag, element OID, (length, lower bound) per dimension,
// then each element as an int32 length and its bytes; all integers big-endian.
TEST(BinaryArrayTest, TextElementsAfterTheHeader) {
  BinaryArray a(PgElement::kText);
  a.Add(std::string_view("ab"));
  a.Add(std::string_view("a\"b\\c,{}"));  // no quoting in the binary format
  a.Add(std::string_view(""));
  EXPECT_EQ(a.size(), 3U);
  const std::string expected = std::string("\0\0\0\1\0\0\0\0\0\0\0\x19\0\0\0\3\0\0\0\1", 20) +
                               std::string("\0\0\0\2ab", 6) +
                               std::string(
                                   "\0\0\0\x08"
                                   "a\"b\\c,{}",
                                   12) +
                               std::string("\0\0\0\0", 4);
  EXPECT_EQ(a.Bytes(), expected);
  EXPECT_EQ(a.Bytes(), expected);  // idempotent
  const pqxx::binarystring param = a.Param();
  EXPECT_EQ(param.str(), expected);
}

TEST(BinaryArrayTest, AnEmptyArrayHasNoDimensions) {
  BinaryArray a(PgElement::kBytea);
  EXPECT_EQ(a.Bytes(), std::string("\0\0\0\0\0\0\0\0\0\0\0\x11", 12));
}

TEST(BinaryArrayTest, IntegersTakeTheElementsWidth) {
  BinaryArray i2(PgElement::kInt2), i4(PgElement::kInt4), i8(PgElement::kInt8);
  i2.Add(int64_t{-2});
  i4.Add(int64_t{0x01020304});
  i8.Add(int64_t{-1});
  const std::string header = std::string("\0\0\0\1\0\0\0\0\0\0\0", 11);
  const std::string dims = std::string("\0\0\0\1\0\0\0\1", 8);
  EXPECT_EQ(i2.Bytes(), header + "\x15" + dims + std::string("\0\0\0\2\xff\xfe", 6));
  EXPECT_EQ(i4.Bytes(), header + "\x17" + dims + std::string("\0\0\0\4\1\2\3\4", 8));
  EXPECT_EQ(i8.Bytes(),
            header + "\x14" + dims + std::string("\0\0\0\x08", 4) + std::string(8, '\xff'));
}

TEST(BinaryArrayTest, TransactionIdsAndRowPlaces) {
  BinaryArray x(PgElement::kXid), t(PgElement::kTid);
  x.Add(int64_t{4000000000});  // above INT32_MAX: an unsigned 32-bit id
  t.AddTid(0x01020304, 0x0506);
  const std::string header = std::string("\0\0\0\1\0\0\0\0\0\0\0", 11);
  const std::string dims = std::string("\0\0\0\1\0\0\0\1", 8);
  EXPECT_EQ(x.Bytes(), header + "\x1c" + dims + std::string("\0\0\0\4\xee\x6b\x28\x00", 8));
  EXPECT_EQ(t.Bytes(), header + "\x1b" + dims + std::string("\0\0\0\6\1\2\3\4\5\6", 10));
}

TEST(ArrayTextTest, ParseTextArrayServerForms) {
  EXPECT_EQ(ParseTextArray("{a,\"b c\",NULL}"), (std::vector<std::string>{"a", "b c", ""}));
  EXPECT_EQ(ParseTextArray("{}"), std::vector<std::string>{});
  EXPECT_EQ(ParseTextArray("{single}"), std::vector<std::string>{"single"});
  EXPECT_EQ(ParseTextArray("{\"\"}"), std::vector<std::string>{""});
  EXPECT_EQ(ParseTextArray("not an array"), std::vector<std::string>{});
  EXPECT_EQ(ParseTextArray(R"({"a\"b\\c","with, comma","{braces}","NULL"})"),
            (std::vector<std::string>{"a\"b\\c", "with, comma", "{braces}", "NULL"}));
}

TEST(ArrayTextTest, ParseIntArray) {
  std::vector<int64_t> v{7};
  ASSERT_TRUE(ParseIntArray("{}", v));
  EXPECT_TRUE(v.empty());
  ASSERT_TRUE(ParseIntArray("{1,-2,9223372036854775807}", v));
  EXPECT_EQ(v, (std::vector<int64_t>{1, -2, 9223372036854775807}));
  for (const char* bad : {"", "{", "{1,}", "{,1}", "{1,NULL}", "{a}", "{1 ,2}", "[1]", "{1}x",
                          "{99999999999999999999}"}) {
    EXPECT_FALSE(ParseIntArray(bad, v)) << bad;
  }
}

}  // namespace
}  // namespace sonar::storage
