// BinaryArray against a real server: every element type the write path sends is read back by
// array_recv as the values it was given (shown here in the server's text output).
#include "storage/binary_array.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "storage/sql_array.h"
#include "tests/support/test_database.h"

namespace sonar::storage {
namespace {

// The server's text output of the array sent as a `type[]` parameter (no table involved: one
// database and connection serve a whole test).
std::string AsServerText(pqxx::connection& conn, BinaryArray& a, const std::string& type) {
  pqxx::nontransaction tx(conn);
  return tx.exec_params1("SELECT ($1::" + type + "[])::text", a.Param())[0].as<std::string>();
}

TEST(BinaryArray, TheServerReadsEveryElementTypeAsSent) {
  testing::TestDatabase db;
  pqxx::connection conn(db.url());
  BinaryArray text(PgElement::kText);
  text.Add(std::string_view("ab"));
  text.Add(std::string_view("a\"b\\c,{}"));
  text.Add(std::string_view(""));
  text.Add(
      std::string_view("S\xC3\xBA"
                       "dwest-Frysl\xC3\xA2n"));
  EXPECT_EQ(AsServerText(conn, text, "text"), R"({ab,"a\"b\\c,{}","",Súdwest-Fryslân})");

  BinaryArray bytes(PgElement::kBytea);
  bytes.Add(std::string_view("\x00\xff", 2));
  bytes.Add(std::string_view(""));
  EXPECT_EQ(AsServerText(conn, bytes, "bytea"), R"({"\\x00ff","\\x"})");

  BinaryArray i2(PgElement::kInt2), i4(PgElement::kInt4), i8(PgElement::kInt8);
  for (int64_t v : {int64_t{-2}, int64_t{32767}}) i2.Add(v);
  for (int64_t v : {int64_t{-2}, int64_t{2147483647}}) i4.Add(v);
  for (int64_t v : {int64_t{-1}, INT64_MAX}) i8.Add(v);
  EXPECT_EQ(AsServerText(conn, i2, "int2"), "{-2,32767}");
  EXPECT_EQ(AsServerText(conn, i4, "int4"), "{-2,2147483647}");
  EXPECT_EQ(AsServerText(conn, i8, "int8"), "{-1,9223372036854775807}");

  BinaryArray xid(PgElement::kXid), tid(PgElement::kTid);
  xid.Add(int64_t{4000000000});
  tid.AddTid(16909060, 1286);
  tid.AddTid(0, 1);
  EXPECT_EQ(AsServerText(conn, xid, "xid"), "{4000000000}");
  EXPECT_EQ(AsServerText(conn, tid, "tid"), R"x({"(16909060,1286)","(0,1)"})x");

  BinaryArray empty(PgElement::kText);
  EXPECT_EQ(AsServerText(conn, empty, "text"), "{}");
}

// Values sent in the binary format and read back in the server's text output (as count_changes'
// arrays are read) are the values sent.
TEST(BinaryArray, RoundTripsThroughTheServersTextOutput) {
  testing::TestDatabase db;
  pqxx::connection conn(db.url());
  const std::vector<std::string> values = {"plain",    "a\"b\\c", "",           "with, comma",
                                           "{braces}", "NULL",    "  spaces  ", "\\\\"};
  BinaryArray a(PgElement::kText);
  for (const std::string& v : values) a.Add(v);
  EXPECT_EQ(ParseTextArray(AsServerText(conn, a, "text")), values);
  BinaryArray n(PgElement::kInt8);
  for (int64_t v : {int64_t{-5}, int64_t{42}}) n.Add(v);
  std::vector<int64_t> parsed;
  ASSERT_TRUE(ParseIntArray(AsServerText(conn, n, "int8"), parsed));
  EXPECT_EQ(parsed, (std::vector<int64_t>{-5, 42}));
}

TEST(BinaryArray, AnotherElementTypeThanTheStatementsIsRefused) {
  testing::TestDatabase db;
  pqxx::connection conn(db.url());
  pqxx::nontransaction tx(conn);
  BinaryArray i8(PgElement::kInt8);
  i8.Add(int64_t{1});
  try {
    tx.exec_params("SELECT $1::int4[]", i8.Param());
    FAIL() << "accepted an int8 array for int4[]";
  } catch (const pqxx::sql_error& e) {
    EXPECT_NE(std::string(e.what()).find("array element type 20 (bigint) instead of expected 23"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sonar::storage
