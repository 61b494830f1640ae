#include "storage/migrator.h"

#include <algorithm>
#include <pqxx/nontransaction>
#include <pqxx/pqxx>
#include <pqxx/transaction>
#include <set>

#include "storage/pg_connection.h"
#include "storage/pg_status.h"

namespace sonar::storage {

namespace embedded {
struct RawMigration {
  const char* file;
  const char* sql;
};
extern const RawMigration kMigrations[];
extern const int kMigrationCount;
}  // namespace embedded

const std::vector<Migration>& BuiltinMigrations() {
  static const std::vector<Migration> migrations = [] {
    std::vector<Migration> out;
    for (int i = 0; i < embedded::kMigrationCount; ++i) {
      const std::string file = embedded::kMigrations[i].file;  // "0001_initial.sql"
      out.push_back({std::stoi(file.substr(0, 4)), file.substr(5, file.size() - 9),
                     embedded::kMigrations[i].sql});
    }
    std::sort(out.begin(), out.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    return out;
  }();
  return migrations;
}

absl::StatusOr<std::vector<int>> ApplyMigrations(const std::string& database_url) {
  constexpr const char* kLockKey = "hashtext('sonar.schema_migrations')";
  try {
    pqxx::connection conn(WithClientTimeouts(database_url));
    pqxx::nontransaction session(conn);
    session.exec(std::string("SELECT pg_advisory_lock(") + kLockKey + ")");
    // A service role without CREATE may start against an up-to-date schema: only create the
    // bookkeeping table when it is missing.
    if (session.exec1("SELECT to_regclass('schema_migrations') IS NULL")[0].as<bool>()) {
      session.exec(
          "CREATE TABLE schema_migrations ("
          " version integer PRIMARY KEY, name text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
    }
    std::set<int> applied;
    for (const auto& row : session.exec("SELECT version FROM schema_migrations")) {
      applied.insert(row[0].as<int>());
    }
    session.commit();
    std::vector<int> done;
    for (const Migration& m : BuiltinMigrations()) {
      if (applied.count(m.version) != 0) continue;
      pqxx::work tx(conn);
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                     m.name);
      tx.commit();
      done.push_back(m.version);
    }
    pqxx::nontransaction unlock(conn);
    unlock.exec(std::string("SELECT pg_advisory_unlock(") + kLockKey + ")");
    return done;
  } catch (...) {
    return StatusFromCurrentException();
  }
}

}  // namespace sonar::storage
