// IngestService and QueryService in this process, on 127.0.0.1:<free port>, backed by a real
// database: the `grpc` test label's fixture.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "ingest/ingest_pipeline.h"
#include "ingest/pseudonymizer.h"
#include "service/ingest_service.h"
#include "service/query_service.h"
#include "service/worker_pool.h"
#include "sonar/v1/ingest.grpc.pb.h"
#include "sonar/v1/query.grpc.pb.h"
#include "storage/pg_counts_feed.h"

namespace sonar::testing {

struct TestServerOptions {
  int ingest_workers = 2;
  int max_in_flight_per_stream = 4;
  int max_streams = 256;
  uint64_t max_inflight_bytes = uint64_t{256} << 20;
  // The query service's clock (publishing checks that a quarter has ended); default: now.
  std::function<core::Instant()> query_clock;
  // Pseudonymise client refs with this key (empty: store them as sent).
  std::string hmac_key;
  // Serve reads from the in-memory read model (false: every read from the database).
  bool read_model = true;
  // Query jobs that may wait for a database worker (0: every database read is refused).
  size_t query_queue_capacity = 256;
  // Open WatchLiveCounts streams at most.
  size_t max_watchers = 1024;
  // Roles of callers of the query service (null: everyone may call everything).
  std::shared_ptr<const service::Authorizer> query_authorizer;
};

struct RenderOptions {
  bool provisional = false;
  unsigned revision = 0;
  bool fresh = true;  // read-your-writes: tests read what they just sent or published
  std::string format = "text";
};

class TestServers final {
 public:
  explicit TestServers(const std::string& database_url, TestServerOptions options = {});
  ~TestServers();

  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::unique_ptr<v1::IngestService::Stub> IngestStub() const;
  [[nodiscard]] std::unique_ptr<v1::QueryService::Stub> QueryStub() const;
  // Streams `events` to the ingest service in batches of `batch` (4 in flight) and fails the
  // test unless every batch is acknowledged with no rejection.
  void Send(const std::vector<core::Event>& events, size_t batch = 500) const;
  // RenderQuarterReport for `region` ("" = national) and `quarter`; fails the test unless OK.
  [[nodiscard]] v1::RenderedReport Render(const std::string& region, const std::string& quarter,
                                          const RenderOptions& options = {}) const;
  [[nodiscard]] service::IngestServiceImpl& ingest_service() { return *ingest_; }
  [[nodiscard]] ingest::IngestPipeline& pipeline() { return *pipeline_; }
  [[nodiscard]] service::QueryServiceImpl& query_service() { return *query_; }
  [[nodiscard]] storage::PgCountsFeed& feed() { return *feed_; }
  [[nodiscard]] service::WorkerPool<service::QueryBackend>& backends() { return *backends_; }

 private:
  std::optional<ingest::Pseudonymizer> pseudonymizer_;
  std::unique_ptr<ingest::IngestPipeline> pipeline_;
  std::unique_ptr<service::IngestServiceImpl> ingest_;
  std::unique_ptr<service::WorkerPool<service::QueryBackend>> backends_;
  std::unique_ptr<service::QueryServiceImpl> query_;
  std::unique_ptr<storage::PgCountsFeed> feed_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// GetQuarterReport (the published figures, or provisional when none) of `region` and `quarter`
// from any query service; fails the test unless OK.
[[nodiscard]] v1::QuarterReport GetReport(v1::QueryService::Stub& stub, const std::string& region,
                                          const std::string& quarter, bool fresh);

}  // namespace sonar::testing
