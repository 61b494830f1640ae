#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <map>
#include <string>

#include "storage/pg_connection.h"

namespace sonar::storage {
namespace {

// What libpq makes of a connection string: keyword -> value, for the keywords it sets.
std::map<std::string, std::string> Parsed(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  EXPECT_NE(options, nullptr) << conninfo << ": " << (error ? error : "");
  if (error != nullptr) PQfreemem(error);
  std::map<std::string, std::string> out;
  if (options == nullptr) return out;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) out[o->keyword] = o->val;
  }
  PQconninfoFree(options);
  return out;
}

const std::map<std::string, std::string> kLimits = {{"keepalives_idle", "30"},
                                                    {"keepalives_interval", "10"},
                                                    {"keepalives_count", "3"},
                                                    {"tcp_user_timeout", "60000"}};

std::map<std::string, std::string> With(std::map<std::string, std::string> a,
                                        const std::map<std::string, std::string>& b) {
  for (const auto& [k, v] : b) a.emplace(k, v);
  return a;
}

TEST(WithClientTimeouts, AddsKeepalivesAndAUserTimeoutToUris) {
  EXPECT_EQ(Parsed(WithClientTimeouts("postgresql://u@db:5432/sonar")),
            With({{"user", "u"}, {"host", "db"}, {"port", "5432"}, {"dbname", "sonar"}}, kLimits));
  EXPECT_EQ(
      Parsed(WithClientTimeouts("postgres://db/sonar?sslmode=require&connect_timeout=5")),
      With({{"host", "db"}, {"dbname", "sonar"}, {"sslmode", "require"}, {"connect_timeout", "5"}},
           kLimits));
}

TEST(WithClientTimeouts, AddsThemToKeywordValueStrings) {
  EXPECT_EQ(Parsed(WithClientTimeouts("host=db dbname=sonar")),
            With({{"host", "db"}, {"dbname", "sonar"}}, kLimits));
  EXPECT_EQ(Parsed(WithClientTimeouts("")), kLimits);
}

TEST(WithClientTimeouts, KeepsWhatTheUrlSets) {
  EXPECT_EQ(
      Parsed(WithClientTimeouts("postgresql://db/sonar?tcp_user_timeout=5000&keepalives_idle=5")),
      With({{"host", "db"},
            {"dbname", "sonar"},
            {"tcp_user_timeout", "5000"},
            {"keepalives_idle", "5"}},
           kLimits));
  // Tabs between pairs, spaces around '='.
  EXPECT_EQ(Parsed(WithClientTimeouts("host=db\tkeepalives_idle = 7\tkeepalives_interval=1 "
                                      "keepalives_count=9 tcp_user_timeout=0")),
            (std::map<std::string, std::string>{{"host", "db"},
                                                {"keepalives_idle", "7"},
                                                {"keepalives_interval", "1"},
                                                {"keepalives_count", "9"},
                                                {"tcp_user_timeout", "0"}}));
}

// What libpq decodes and unquotes comes back the same: percent-encoding, a '?' in a password,
// quotes and backslashes, a key's name inside another value.
TEST(WithClientTimeouts, KeepsEveryValueAsLibpqReadsIt) {
  EXPECT_EQ(Parsed(WithClientTimeouts("postgresql://u:pa%3Fs%27s%5C@db/my%20db?sslmode=require")),
            With({{"user", "u"},
                  {"password", "pa?s's\\"},
                  {"host", "db"},
                  {"dbname", "my db"},
                  {"sslmode", "require"}},
                 kLimits));
  EXPECT_EQ(Parsed(WithClientTimeouts("host=db application_name='a keepalives_idle=1'")),
            With({{"host", "db"}, {"application_name", "a keepalives_idle=1"}}, kLimits));
}

TEST(WithClientTimeouts, LeavesWhatLibpqCannotParse) {
  EXPECT_EQ(WithClientTimeouts("host='unterminated"), "host='unterminated");
  EXPECT_EQ(WithClientTimeouts("postgresql://db/x?nosuchkey=1"), "postgresql://db/x?nosuchkey=1");
}

}  // namespace
}  // namespace sonar::storage
