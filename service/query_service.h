// gRPC adapter of the read path: QueryService on the callback API. Database work runs on a
// WorkerPool of QueryBackends (one connection each), never on gRPC's callback threads.
// Live-count watchers are woken by NOTIFYs of committed batches from any ingest process
// (storage::PgChangeListener) and coalesce: at most one read and one pending message per watcher.
// Thread-safe.
#pragma once

#include <functional>
#include <mutex>
#include <set>
#include <string>

#include "core/reference_data.h"
#include "service/security.h"
#include "service/worker_pool.h"
#include "sonar/v1/query.grpc.pb.h"
#include "storage/pg_counts_reader.h"
#include "storage/pg_publication_store.h"

namespace sonar::service {

// What one query worker owns: connections and the stores that use them. Reads go to
// `read_url` (a streaming replica, or the primary); publishing writes to the primary, whose
// connection is opened only when a worker first publishes.
struct QueryBackend {
  QueryBackend(std::string primary_url, std::string read_url)
      : primary(std::move(primary_url)),
        replica(std::move(read_url)),
        counts(replica),
        publications(replica, primary) {}
  explicit QueryBackend(const std::string& url) : QueryBackend(url, url) {}
  storage::PgConnection primary;
  storage::PgConnection replica;
  storage::PgCountsReader counts;
  storage::PgPublicationStore publications;
};

class LiveWatchReactor;

class QueryServiceImpl final : public v1::QueryService::CallbackService {
 public:
  using Clock = std::function<core::Instant()>;

  // `authorizer` (default: everyone allowed): reads need the query role, publishing admin.
  QueryServiceImpl(WorkerPool<QueryBackend>& backends, const core::ReferenceData& reference,
                   Clock clock, std::shared_ptr<const Authorizer> authorizer = nullptr);

  grpc::ServerUnaryReactor* GetLiveCounts(grpc::CallbackServerContext* context,
                                          const v1::GetLiveCountsRequest* request,
                                          v1::LiveCounts* response) override;
  grpc::ServerUnaryReactor* GetQuarterReport(grpc::CallbackServerContext* context,
                                             const v1::GetQuarterReportRequest* request,
                                             v1::QuarterReport* response) override;
  grpc::ServerUnaryReactor* RenderQuarterReport(grpc::CallbackServerContext* context,
                                                const v1::RenderQuarterReportRequest* request,
                                                v1::RenderedReport* response) override;
  grpc::ServerUnaryReactor* PublishQuarter(grpc::CallbackServerContext* context,
                                           const v1::PublishQuarterRequest* request,
                                           v1::Publication* response) override;
  grpc::ServerUnaryReactor* GetRevisionDiff(grpc::CallbackServerContext* context,
                                            const v1::GetRevisionDiffRequest* request,
                                            v1::RevisionDiff* response) override;
  grpc::ServerWriteReactor<v1::LiveCounts>* WatchLiveCounts(
      grpc::CallbackServerContext* context, const v1::WatchLiveCountsRequest* request) override;

  // Wakes every watcher: counts may have changed (called by the change listener).
  void NotifyChanged();
  // Ends every watch stream (on shutdown) and refuses new ones.
  void StopWatches();

 private:
  friend class LiveWatchReactor;
  // Runs `work` on a backend; finishes the RPC with RESOURCE_EXHAUSTED if the queue is full.
  void Run(grpc::ServerUnaryReactor* reactor, std::function<grpc::Status(QueryBackend&)> work);
  [[nodiscard]] absl::StatusOr<v1::LiveCounts> ReadLive(QueryBackend& backend, int region);
  [[nodiscard]] grpc::Status BuildReport(QueryBackend& backend,
                                         const v1::GetQuarterReportRequest& request,
                                         v1::QuarterReport* report);

  WorkerPool<QueryBackend>& backends_;
  // Finishes the RPC and returns false when the caller lacks `role`.
  [[nodiscard]] bool Allowed(grpc::CallbackServerContext* context,
                             grpc::ServerUnaryReactor* reactor, Role role, const char* rpc) const;

  const core::ReferenceData& reference_;
  Clock clock_;
  std::shared_ptr<const Authorizer> authorizer_;
  std::mutex watchers_mu_;
  std::set<LiveWatchReactor*> watchers_;
  bool watches_stopped_ = false;
};

// The raw residence codes that count in `region` on `on`: its municipalities and every code
// merged into one of them by then.
[[nodiscard]] std::vector<std::string> CodesCountingIn(const core::ReferenceData& reference,
                                                       int region, core::Date on);

}  // namespace sonar::service
