#include "ingest/batch_store.h"

namespace sonar::ingest {
namespace {

absl::Status NoOptimisticTransactions() {
  return absl::UnimplementedError("this store has no optimistic transactions");
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

absl::Status BatchTransaction::InsertNewEvents(std::span<const core::Event* const> /*events*/) {
  return NoOptimisticTransactions();
}

absl::StatusOr<std::unique_ptr<BatchTransaction>> BatchStore::BeginOptimistic() {
  return NoOptimisticTransactions();
}

}  // namespace sonar::ingest
