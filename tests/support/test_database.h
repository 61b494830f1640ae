// A fresh database in the test cluster (started by the `postgres` CTest fixture, or named by
// SONAR_TEST_PG_URL), with the schema applied. Dropped on destruction.
#pragma once

#include <string>

namespace sonar::testing {

class TestDatabase final {
 public:
  // Creates the database and applies the migrations; fails the test (ADD_FAILURE) on error.
  // `create_options` follow CREATE DATABASE <name>, e.g. "TEMPLATE template0 LOCALE_PROVIDER
  // icu ICU_LOCALE 'en-US' LOCALE 'C'" for a default collation other than the cluster's.
  explicit TestDatabase(const std::string& create_options = "");
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  [[nodiscard]] const std::string& url() const { return url_; }
  [[nodiscard]] const std::string& name() const { return name_; }

  // Runs one SQL statement and returns the first column of the first row ("" when none).
  [[nodiscard]] std::string Scalar(const std::string& sql) const;

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

// The admin URL of the test cluster.
[[nodiscard]] std::string TestClusterUrl();

}  // namespace sonar::testing
