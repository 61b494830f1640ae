#include "tests/support/test_servers.h"

#include <gtest/gtest.h>

#include <sstream>

#include "core/reference_data.h"
#include "service/proto_mapping.h"
#include "service/sonarctl_ingest.h"
#include "storage/pg_batch_store.h"

namespace sonar::testing {
namespace {

core::Instant Now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

}  // namespace

TestServers::TestServers(const std::string& url, TestServerOptions options) {
  const core::ReferenceData& reference = core::ReferenceData::Builtin();
  if (!options.hmac_key.empty()) pseudonymizer_ = *ingest::Pseudonymizer::FromKey(options.hmac_key);
  pipeline_ = std::make_unique<ingest::IngestPipeline>(
      [url](int) { return std::make_unique<storage::PgBatchStore>(url); }, reference, Now,
      ingest::PipelineOptions{.workers = options.ingest_workers,
                              .queue_capacity = 256,
                              .pseudonymizer = pseudonymizer_ ? &*pseudonymizer_ : nullptr});
  ingest_ = std::make_unique<service::IngestServiceImpl>(
      *pipeline_,
      service::IngestServiceOptions{.max_in_flight_per_stream = options.max_in_flight_per_stream,
                                    .max_streams = options.max_streams,
                                    .max_inflight_bytes = options.max_inflight_bytes});
  backends_ = std::make_unique<service::WorkerPool<service::QueryBackend>>(
      2, [url](int) { return std::make_unique<service::QueryBackend>(url); },
      options.query_queue_capacity);
  feed_ = std::make_unique<storage::PgCountsFeed>(url);
  query_ = std::make_unique<service::QueryServiceImpl>(
      *backends_, reference, options.query_clock ? options.query_clock : Now,
      options.query_authorizer, options.read_model ? feed_.get() : nullptr, options.max_watchers);
  feed_->Start([this] { query_->NotifyChanged(); });
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(ingest_.get());
  builder.RegisterService(query_.get());
  server_ = builder.BuildAndStart();
}

TestServers::~TestServers() {
  ingest_->Drain(std::chrono::seconds(10));
  feed_->Stop();
  query_->StopWatches();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  pipeline_->Shutdown();
  backends_->Shutdown();
}

std::unique_ptr<v1::IngestService::Stub> TestServers::IngestStub() const {
  return v1::IngestService::NewStub(
      grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
}

void TestServers::Send(const std::vector<core::Event>& events, size_t batch) const {
  std::vector<v1::Event> proto;
  for (const auto& e : events) proto.push_back(service::ToProto(e));
  service::IngestSummary summary;
  std::ostringstream errors;
  ASSERT_TRUE(service::StreamEvents(address(), proto, batch, 4, summary, errors)) << errors.str();
  ASSERT_EQ(summary.rejected, 0u) << errors.str();
}

v1::RenderedReport TestServers::Render(const std::string& region, const std::string& quarter,
                                       const RenderOptions& options) const {
  auto stub = QueryStub();
  grpc::ClientContext ctx;
  v1::RenderQuarterReportRequest req;
  req.mutable_report()->set_region(region);
  req.mutable_report()->set_quarter(quarter);
  req.mutable_report()->set_provisional(options.provisional);
  req.mutable_report()->set_revision(options.revision);
  req.mutable_report()->set_fresh(options.fresh);
  req.set_format(options.format);
  v1::RenderedReport resp;
  const grpc::Status s = stub->RenderQuarterReport(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

v1::QuarterReport GetReport(v1::QueryService::Stub& stub, const std::string& region,
                            const std::string& quarter, bool fresh) {
  grpc::ClientContext ctx;
  v1::GetQuarterReportRequest req;
  req.set_region(region);
  req.set_quarter(quarter);
  req.set_fresh(fresh);
  v1::QuarterReport out;
  const grpc::Status s = stub.GetQuarterReport(&ctx, req, &out);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return out;
}

std::unique_ptr<v1::QueryService::Stub> TestServers::QueryStub() const {
  return v1::QueryService::NewStub(
      grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
}

}  // namespace sonar::testing
