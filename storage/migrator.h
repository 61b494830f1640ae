// Applies the schema migrations (storage/migrations/NNNN_name.sql, embedded at build time) that a
// database has not had yet, each in its own transaction, recorded in schema_migrations. Runs under
// a session advisory lock, so replicas starting at once apply each migration exactly once.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sonar::storage {

struct Migration {
  int version = 0;
  std::string name;
  std::string sql;
};

// The migrations built into this binary, by version.
[[nodiscard]] const std::vector<Migration>& BuiltinMigrations();

// Returns the versions applied by this call (empty when the schema was up to date).
[[nodiscard]] absl::StatusOr<std::vector<int>> ApplyMigrations(const std::string& database_url);

}  // namespace sonar::storage
