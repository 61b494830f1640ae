#include "tests/support/test_database.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <pqxx/pqxx>

#include "storage/migrator.h"

namespace sonar::testing {

std::string TestClusterUrl() {
  if (const char* env = std::getenv("SONAR_TEST_PG_URL"); env != nullptr && *env != '\0') {
    return env;
  }
  std::ifstream in(std::string(SONAR_TEST_PG_DIR) + "/url");
  std::string url;
  std::getline(in, url);
  return url;
}

namespace {

// Replaces the database name (the path after the last '/') of a libpq URL.
std::string WithDatabase(const std::string& url, const std::string& db) {
  const size_t slash = url.rfind('/');
  const size_t query = url.find('?', slash);
  return url.substr(0, slash + 1) + db + (query == std::string::npos ? "" : url.substr(query));
}

}  // namespace

TestDatabase::TestDatabase(const std::string& create_options) : admin_url_(TestClusterUrl()) {
  static std::atomic<int> counter{0};
  name_ = "sonar_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  if (admin_url_.empty()) {
    ADD_FAILURE() << "no test cluster: run through ctest (postgres fixture) or set "
                     "SONAR_TEST_PG_URL";
    return;
  }
  url_ = WithDatabase(admin_url_, name_);
  try {
    pqxx::connection admin(admin_url_);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + name_);
    tx.exec("CREATE DATABASE " + name_ + (create_options.empty() ? "" : " " + create_options));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot create test database: " << e.what();
    return;
  }
  auto applied = storage::ApplyMigrations(url_);
  if (!applied.ok()) ADD_FAILURE() << "migrations failed: " << applied.status();
}

TestDatabase::~TestDatabase() {
  if (admin_url_.empty()) return;
  try {
    pqxx::connection admin(admin_url_);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (...) {
    // Best effort: the cluster is thrown away at the end of the run anyway.
  }
}

std::string TestDatabase::Scalar(const std::string& sql) const {
  pqxx::connection conn(url_);
  pqxx::nontransaction tx(conn);
  const pqxx::result r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

}  // namespace sonar::testing
