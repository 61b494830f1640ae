// gRPC adapter of the read path: QueryService on the callback API. Database reads run on a
// WorkerPool of PgCountsReaders, never on gRPC's callback threads. Thread-safe.
#pragma once

#include <functional>
#include <string>

#include "core/reference_data.h"
#include "service/worker_pool.h"
#include "sonar/v1/query.grpc.pb.h"
#include "storage/pg_counts_reader.h"

namespace sonar::service {

class QueryServiceImpl final : public v1::QueryService::CallbackService {
 public:
  using Clock = std::function<core::Instant()>;

  QueryServiceImpl(WorkerPool<storage::PgCountsReader>& readers,
                   const core::ReferenceData& reference, Clock clock);

  grpc::ServerUnaryReactor* GetLiveCounts(grpc::CallbackServerContext* context,
                                          const v1::GetLiveCountsRequest* request,
                                          v1::LiveCounts* response) override;

 private:
  WorkerPool<storage::PgCountsReader>& readers_;
  const core::ReferenceData& reference_;
  Clock clock_;
};

// The raw residence codes that count in `region` on `on`: its municipalities and every code
// merged into one of them by then.
[[nodiscard]] std::vector<std::string> CodesCountingIn(const core::ReferenceData& reference,
                                                       int region, core::Date on);

}  // namespace sonar::service
