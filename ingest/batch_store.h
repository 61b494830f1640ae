// What the write path needs from storage: one transaction per batch part (or group of parts), in
// a fixed order of steps.
// Implemented by storage::PgBatchStore; tests of BatchProcessor may use a fake.
//
// Errors: UNAVAILABLE when the database cannot be reached or the outcome of a COMMIT is unknown
// (the batch must then not be acknowledged; a resend is safe because events are idempotent),
// ABORTED for a serialization failure or deadlock (the caller retries the whole batch),
// INTERNAL for anything else.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/client_state.h"
#include "core/event.h"

namespace sonar::ingest {

// A rejected event, kept for inspection. `payload` is the event as received, with any value that
// must never be stored (a BSN-like client_ref) already removed by the caller.
struct QuarantinedEvent {
  uint32_t part = 0;  // of the transaction's group (BatchTransaction::SetParts)
  uint32_t index = 0;
  std::string source;    // empty when not valid to store
  std::string event_id;  // empty when not valid to store
  std::string code;
  std::string reason;
  std::string payload;
};

struct BatchMeta {
  std::string stream_id;  // which stream or call the batch came on, for inspection
  uint64_t batch_id = 0;  // the producer's batch id
  // A request may be committed as several transactions, one per ingest worker, each holding the
  // events of a disjoint set of persons (see IngestPipeline): this transaction is part `part`
  // (0-based) of `parts`.
  uint32_t part = 0;
  uint32_t parts = 1;
};

// The messages of the UNIMPLEMENTED statuses of a store without optimistic transactions
// (BatchStore::BeginOptimistic) and of one that commits one part per transaction
// (BatchTransaction::SetParts).
inline constexpr char kNoOptimisticTransactions[] = "this store has no optimistic transactions";
inline constexpr char kNoGroups[] = "this store commits one part per transaction";

// One part's figures, for its ingest_batches row (BatchTransaction::CommitGroup).
struct PartOutcome {
  BatchMeta meta;
  uint32_t accepted = 0;
  uint32_t duplicates = 0;
  uint32_t rejected = 0;
};

// The message of the ABORTED status Commit returns when another transaction created one of the
// batch's new persons first. A retry is certain to progress (that person is then locked as an
// existing one), so BatchProcessor retries this once per distinct person of the batch at most,
// besides its max_attempts for serialization failures and deadlocks.
inline constexpr char kNewPersonCreatedConcurrently[] =
    "a new person was created concurrently; batch to be retried";

// The message of the ABORTED status of an optimistic transaction (BatchStore::BeginOptimistic)
// that found its assumptions broken: a person's history changed since it was read, or an event
// key it took for new is stored already (for another person, or by a concurrent transaction).
// BatchProcessor then retries the batch once with the locking transaction.
inline constexpr char kOptimisticAssumptionBroken[] =
    "a history or event key changed concurrently; batch to be retried with locks";

// A batch's transaction. Two ways to use one:
//  * locking (BatchStore::Begin): LockHistories, InsertEvents, StoreHistories, then AddDeltas,
//    Quarantine, Commit. Persons are row-locked first; the database says which keys are new.
//  * optimistic (BatchStore::BeginOptimistic): ReadHistories, WriteHistoriesIfUnchanged,
//    InsertNewEvents, then AddDeltas, Quarantine, Commit. Nothing is locked while reading; the
//    histories (which hold every stored event of their person) say which keys are new; the
//    writes fail with ABORTED kOptimisticAssumptionBroken if that no longer holds. Both kinds
//    take existing persons, then event keys, then new persons (at Commit), so they do not
//    deadlock each other.
// Either kind may commit a group of parts (of different requests) together: SetParts first,
// then the same steps with each event's part, then CommitGroup.
class BatchTransaction {
 public:
  virtual ~BatchTransaction() = default;

  // This transaction commits `parts` parts together, each with its own ingest_batches row and
  // position (IngestPipeline groups the parts queued for a worker). Called first, and only for
  // more than one part; UNIMPLEMENTED (the default) when the store commits one part at a time.
  [[nodiscard]] virtual absl::Status SetParts(size_t parts);

  // Optimistic: each person's stored history (empty for a new person), in the order of the
  // sorted, distinct refs, without locking; the transaction remembers which version it read.
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::vector<core::Event>>> ReadHistories(
      std::span<const std::string_view> sorted_client_refs);

  // Optimistic: writes the changed histories of existing persons now, each only if their row is
  // still the version ReadHistories saw (ABORTED kOptimisticAssumptionBroken otherwise); new
  // persons are created by Commit, which fails with ABORTED kNewPersonCreatedConcurrently if
  // someone created one of them meanwhile.
  [[nodiscard]] virtual absl::Status WriteHistoriesIfUnchanged(
      std::span<const std::string_view> client_refs,
      std::span<const std::vector<core::Event>> histories);

  // Optimistic: stores events whose keys the histories showed as new; ABORTED
  // (kOptimisticAssumptionBroken) if any key is stored already. `parts`: each event's part of
  // the group (empty: all of part 0).
  [[nodiscard]] virtual absl::Status InsertNewEvents(std::span<const core::Event* const> events,
                                                     std::span<const uint32_t> parts);

  // Locks the persons (sorted, distinct client refs) that already exist for the rest of the
  // transaction and returns each one's stored history (empty for a new person), in the same
  // order. A new person is created by Commit; if another transaction creates them first, Commit
  // fails with ABORTED and the retry sees their history.
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::vector<core::Event>>> LockHistories(
      std::span<const std::string_view> sorted_client_refs) = 0;

  // Stores the events whose (source, event_id) is new. For every event returns nullopt if it was
  // inserted, or the event already stored under its key. `parts`: each event's part of the group
  // (empty: all of part 0).
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::optional<core::Event>>> InsertEvents(
      std::span<const core::Event> events, std::span<const uint32_t> parts) = 0;

  // Replaces the histories of persons locked by LockHistories.
  [[nodiscard]] virtual absl::Status StoreHistories(
      std::span<const std::string_view> client_refs,
      std::span<const std::vector<core::Event>> histories) = 0;

  [[nodiscard]] virtual absl::Status AddDeltas(const core::QuarterDeltas& quarter_deltas,
                                               const core::LiveDeltas& live_deltas) = 0;

  [[nodiscard]] virtual absl::Status Quarantine(std::span<const QuarantinedEvent> events) = 0;

  // Durable on OK. Returns the batch's ingest position (monotonic per database). ABORTED (nothing
  // stored) when the batch must be retried.
  [[nodiscard]] virtual absl::StatusOr<int64_t> Commit(const BatchMeta& meta, uint32_t accepted,
                                                       uint32_t duplicates, uint32_t rejected) = 0;

  // Commit for a group (SetParts): one outcome per part, in part order; every part gets the
  // same position. The default commits a single part with Commit.
  [[nodiscard]] virtual absl::StatusOr<int64_t> CommitGroup(std::span<const PartOutcome> parts);
};

class BatchStore {
 public:
  virtual ~BatchStore() = default;
  // A locking transaction (see BatchTransaction).
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<BatchTransaction>> Begin() = 0;
  // An optimistic transaction; UNIMPLEMENTED when the store has none (the default).
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<BatchTransaction>> BeginOptimistic();
  // True once the store has a working connection (for health checks).
  [[nodiscard]] virtual bool Healthy() const = 0;
};

}  // namespace sonar::ingest
