// ingest::BatchStore on PostgreSQL. A batch is one READ COMMITTED transaction:
//   Begin          BEGIN; take the batch's ingest position from the sequence
//   LockHistories  row-lock the persons that exist (SELECT ... ORDER BY client_ref FOR UPDATE)
//                  and read their histories; nothing is written yet
//   InsertEvents   insert new (source, event_id) keys in sorted order; read back existing ones
//   Store/Add/Quarantine are buffered and written with the batch record in one statement at Commit:
//                  one UPDATE per changed existing person, one INSERT per new one
//   Commit         COMMIT
// so a batch costs six round trips whatever its size, and writes one row version per changed
// person. The optimistic attempt (BeginOptimistic: ReadHistories, WriteHistoriesIfUnchanged,
// InsertNewEvents) reads without locks and copies its new events in (COPY FROM STDIN, one round
// trip more); docs/design.md describes both. Commit returns ABORTED (nothing committed; the caller
// retries the batch) when another transaction created one of the batch's new persons after
// LockHistories. The statements are prepared once per connection, and planned once, by their keys
// (plan_cache_mode = force_generic_plan, enable_seqscan = off; see PrepareBatchSession).
//
// Not thread-safe: one store per worker thread; it owns its connection.
#pragma once

#include <memory>
#include <string>

#include "ingest/batch_store.h"
#include "storage/pg_connection.h"

namespace sonar::storage {

// Sets up a connection for batches: its session settings and prepared statements (named
// sonar_*, e.g. sonar_read_clients). PgBatchStore does this once per connection; exposed for
// tests of the session's plans.
void PrepareBatchSession(pqxx::connection& conn);

class PgBatchStore final : public ingest::BatchStore {
 public:
  explicit PgBatchStore(std::string database_url);

  [[nodiscard]] absl::StatusOr<std::unique_ptr<ingest::BatchTransaction>> Begin() override;
  [[nodiscard]] absl::StatusOr<std::unique_ptr<ingest::BatchTransaction>> BeginOptimistic()
      override;
  [[nodiscard]] bool Healthy() const override { return connection_.IsOpen(); }

 private:
  PgConnection connection_;
  uint64_t prepared_generation_ = 0;  // the connection generation the statements are prepared on
};

}  // namespace sonar::storage
