// ingest::BatchStore on PostgreSQL. A batch is one READ COMMITTED transaction:
//   Begin          BEGIN; take the batch's ingest position from the sequence
//   LockHistories  upsert the persons' rows in sorted order (row locks) and read their histories
//   InsertEvents   insert new (source, event_id) keys in sorted order; read back existing ones
//   Store/Add/Quarantine are buffered and written with the batch record in one statement at Commit
//   Commit         COMMIT
// so a batch costs six round trips whatever its size.
//
// Not thread-safe: one store per worker thread; it owns its connection.
#pragma once

#include <memory>
#include <string>

#include "ingest/batch_store.h"
#include "storage/pg_connection.h"

namespace sonar::storage {

class PgBatchStore final : public ingest::BatchStore {
 public:
  explicit PgBatchStore(std::string database_url);

  [[nodiscard]] absl::StatusOr<std::unique_ptr<ingest::BatchTransaction>> Begin() override;
  [[nodiscard]] bool Healthy() const override { return connection_.IsOpen(); }

 private:
  PgConnection connection_;
};

}  // namespace sonar::storage
