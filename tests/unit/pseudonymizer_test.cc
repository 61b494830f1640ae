#include "ingest/pseudonymizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace sonar::ingest {
namespace {

constexpr const char* kKey = "0123456789abcdef0123456789abcdef-key";

TEST(Pseudonymizer, SameRefSameKeyGivesSamePseudonym) {
  const auto p = Pseudonymizer::FromKey(kKey);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->Apply("PersonReference00001"), p->Apply("PersonReference00001"));
  EXPECT_NE(p->Apply("PersonReference00001"), p->Apply("PersonReference00002"));
  const std::string pseudonym = p->Apply("PersonReference00001");
  EXPECT_EQ(pseudonym.find("PersonReference"), std::string::npos);
  // "k" + 8 hex, ".", 43 base64url characters of the 32-byte MAC.
  ASSERT_EQ(pseudonym.size(), 9u + 1u + 43u);
  EXPECT_EQ(pseudonym.substr(0, 10), p->key_id() + ".");
  EXPECT_EQ(pseudonym.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 10),
            std::string::npos);
}

TEST(Pseudonymizer, AnotherKeyGivesAnotherPseudonymAndKeyId) {
  const auto a = Pseudonymizer::FromKey(kKey);
  const auto b = Pseudonymizer::FromKey(std::string(kKey) + "2");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->key_id(), b->key_id());
  EXPECT_NE(a->Apply("PersonReference00001").substr(10),
            b->Apply("PersonReference00001").substr(10));
}

TEST(Pseudonymizer, KnownAnswer) {
  // HMAC-SHA256 with key "0123456789abcdef0123456789abcdef-key" over "abc", base64url without
  // padding, computed independently with `openssl dgst -sha256 -hmac`.
  const auto p = Pseudonymizer::FromKey(kKey);
  ASSERT_TRUE(p.ok());
  const std::string mac = p->Apply("abc").substr(10);
  EXPECT_EQ(mac.size(), 43u);
  EXPECT_EQ(mac, "8_7wbOW2CgRY8_BqnMHxyyiCOCqjqWL1mwPjPGQrQBU");
}

TEST(Pseudonymizer, RejectsShortOrMissingKeys) {
  EXPECT_EQ(Pseudonymizer::FromKey("short").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Pseudonymizer::FromKeyFile("/nonexistent/key").status().code(),
            absl::StatusCode::kNotFound);
  const std::string path = ::testing::TempDir() + "/hmac.key";
  std::ofstream(path) << "  " << kKey << "\n";
  const auto from_file = Pseudonymizer::FromKeyFile(path);
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ(from_file->Apply("x"), Pseudonymizer::FromKey(kKey)->Apply("x"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace sonar::ingest
