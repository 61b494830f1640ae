// gRPC adapter of the read path: QueryService on the callback API.
// Live counts and provisional reports come from the in-memory read model (storage::PgCountsFeed)
// when it is ready, on gRPC's callback thread; published revisions from an in-memory cache of
// frozen figures. Everything else (a cache miss, `fresh` requests, publishing, a feed without
// connection) runs on a WorkerPool of QueryBackends (one connection each), never on gRPC's
// callback threads. Live-count watchers are woken by the feed after every applied change and
// coalesce: at most one read and one pending message per watcher. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>

#include "core/reference_data.h"
#include "service/security.h"
#include "service/worker_pool.h"
#include "sonar/v1/query.grpc.pb.h"
#include "storage/pg_counts_feed.h"
#include "storage/pg_counts_reader.h"
#include "storage/pg_publication_store.h"

namespace sonar::service {

// What one query worker owns: connections and the stores that use them. Counter reads go to
// `read_url` (a streaming replica, or the primary); publications, read or written, and the
// read model's sync markers to the primary (see PgPublicationStore), whose connection is opened
// when a worker first needs it.
struct QueryBackend {
  QueryBackend(std::string primary_url, std::string read_url)
      : primary(std::move(primary_url)),
        replica(std::move(read_url)),
        counts(replica),
        publications(primary) {}
  explicit QueryBackend(const std::string& url) : QueryBackend(url, url) {}
  storage::PgConnection primary;
  storage::PgConnection replica;
  storage::PgCountsReader counts;
  storage::PgPublicationStore publications;
};

class LiveWatchReactor;
struct Report;

class QueryServiceImpl final : public v1::QueryService::CallbackService {
 public:
  using Clock = std::function<core::Instant()>;

  // `authorizer` (default: everyone allowed): reads need the query role, publishing admin.
  // `feed` (may be null: every read goes to the database) must outlive the service.
  // `max_watchers`: open WatchLiveCounts streams at most (more: RESOURCE_EXHAUSTED); each one
  // may have a read queued beyond the workers' queue (WorkerPool::SubmitAlways).
  QueryServiceImpl(WorkerPool<QueryBackend>& backends, const core::ReferenceData& reference,
                   Clock clock, std::shared_ptr<const Authorizer> authorizer = nullptr,
                   storage::PgCountsFeed* feed = nullptr, size_t max_watchers = 1024);
  ~QueryServiceImpl() override;

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

  // The live counts from the read model; nullopt when it is not ready.
  [[nodiscard]] std::optional<v1::LiveCounts> LiveFromMemory(int region);
  // From the read model if ready (and `memory_ok`), else from the database.
  [[nodiscard]] absl::StatusOr<v1::LiveCounts> ReadLive(QueryBackend& backend, int region,
                                                        bool memory_ok = true);
  // A report from memory (read model, caches); nullopt when the database is needed.
  [[nodiscard]] std::optional<absl::StatusOr<std::shared_ptr<const Report>>> ReportFromMemory(
      core::Quarter quarter, std::optional<int> region, bool provisional, int revision);
  // A report from memory if possible (and `memory_ok`), else from the database (filling the
  // caches).
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const Report>> ReadReport(
      QueryBackend& backend, core::Quarter quarter, std::optional<int> region, bool provisional,
      int revision, bool memory_ok = true);
  // Waits for the read model to include every commit made before now (`fresh` requests); false
  // when it could not (then read the database).
  [[nodiscard]] bool SyncFeed(QueryBackend& backend);
  // The figures builder (municipality layout) of a date, built once.
  [[nodiscard]] std::shared_ptr<const core::FiguresBuilder> Builder(core::Date on);

  WorkerPool<QueryBackend>& backends_;
  // Finishes the RPC and returns false when the caller lacks `role`.
  [[nodiscard]] bool Allowed(grpc::CallbackServerContext* context,
                             grpc::ServerUnaryReactor* reactor, Role role, const char* rpc) const;

  const core::ReferenceData& reference_;
  Clock clock_;
  std::shared_ptr<const Authorizer> authorizer_;
  storage::PgCountsFeed* feed_;

  // Caches. Published revisions never change: (quarter, revision, region or -1) -> report.
  // The latest revision of a quarter (0: never published) is valid while the feed is ready and
  // its publication epoch is the one recorded.
  std::mutex cache_mu_;
  std::map<std::tuple<int, int, int>, std::shared_ptr<const Report>> published_;
  std::map<int, std::pair<int, uint64_t>> latest_revision_;  // quarter -> (revision, epoch)
  std::map<core::Date, std::shared_ptr<const core::FiguresBuilder>> builders_;
  std::mutex watchers_mu_;
  std::set<LiveWatchReactor*> watchers_;
  const size_t max_watchers_;
  bool watches_stopped_ = false;
};

// The raw residence codes that count in `region` on `on`: its municipalities and every code
// merged into one of them by then.
[[nodiscard]] std::vector<std::string> CodesCountingIn(const core::ReferenceData& reference,
                                                       int region, core::Date on);

}  // namespace sonar::service
