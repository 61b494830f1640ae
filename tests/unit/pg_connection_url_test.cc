#include <gtest/gtest.h>

#include "storage/pg_connection.h"

namespace sonar::storage {
namespace {

const char* kLimits =
    "keepalives_idle=30&keepalives_interval=10&keepalives_count=3&"
    "tcp_user_timeout=60000";

TEST(WithClientTimeouts, AddsKeepalivesAndAUserTimeoutToUris) {
  EXPECT_EQ(WithClientTimeouts("postgresql://u@db:5432/sonar"),
            std::string("postgresql://u@db:5432/sonar?") + kLimits);
  EXPECT_EQ(WithClientTimeouts("postgres://db/sonar?sslmode=require"),
            std::string("postgres://db/sonar?sslmode=require&") + kLimits);
}

TEST(WithClientTimeouts, AddsThemToKeywordValueStrings) {
  EXPECT_EQ(WithClientTimeouts("host=db dbname=sonar"),
            "host=db dbname=sonar keepalives_idle=30 keepalives_interval=10 keepalives_count=3 "
            "tcp_user_timeout=60000");
  EXPECT_EQ(WithClientTimeouts(""),
            "keepalives_idle=30 keepalives_interval=10 keepalives_count=3 tcp_user_timeout=60000");
}

TEST(WithClientTimeouts, KeepsWhatTheUrlSets) {
  EXPECT_EQ(WithClientTimeouts("postgresql://db/sonar?tcp_user_timeout=5000&keepalives_idle=5"),
            "postgresql://db/sonar?tcp_user_timeout=5000&keepalives_idle=5&"
            "keepalives_interval=10&keepalives_count=3");
  EXPECT_EQ(WithClientTimeouts("host=db keepalives_idle = 7 keepalives_interval=1 "
                               "keepalives_count=9 tcp_user_timeout=0"),
            "host=db keepalives_idle = 7 keepalives_interval=1 keepalives_count=9 "
            "tcp_user_timeout=0");
  // A key inside another value is not the key.
  EXPECT_EQ(WithClientTimeouts("postgresql://db/x_keepalives_idle=1"),
            std::string("postgresql://db/x_keepalives_idle=1?") + kLimits);
}

}  // namespace
}  // namespace sonar::storage
