#include "ingest/batch_store.h"

namespace sonar::ingest {
namespace {

absl::Status NoOptimisticTransactions() {
  return absl::UnimplementedError(kNoOptimisticTransactions);
}

}  // namespace

absl::StatusOr<std::vector<std::vector<core::Event>>> BatchTransaction::ReadHistories(
    std::span<const std::string_view> /*sorted_client_refs*/) {
  return NoOptimisticTransactions();
}

absl::Status BatchTransaction::WriteHistoriesIfUnchanged(
    std::span<const std::string_view> /*client_refs*/,
    std::span<const std::vector<core::Event>> /*histories*/) {
  return NoOptimisticTransactions();
}

absl::Status BatchTransaction::InsertNewEvents(std::span<const core::Event* const> /*events*/,
                                               std::span<const uint32_t> /*parts*/) {
  return NoOptimisticTransactions();
}

absl::Status BatchTransaction::SetParts(size_t parts) {
  if (parts <= 1) return absl::OkStatus();
  return absl::UnimplementedError(kNoGroups);
}

absl::StatusOr<int64_t> BatchTransaction::CommitGroup(std::span<const PartOutcome> parts) {
  if (parts.size() != 1) {
    return absl::UnimplementedError(kNoGroups);
  }
  return Commit(parts[0].meta, parts[0].accepted, parts[0].duplicates, parts[0].rejected);
}

absl::StatusOr<std::unique_ptr<BatchTransaction>> BatchStore::BeginOptimistic() {
  return NoOptimisticTransactions();
}

}  // namespace sonar::ingest
