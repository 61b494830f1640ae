#include "service/sonarctl_query.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>

#include "google/protobuf/util/time_util.h"
#include "service/client_channel.h"
#include "sonar/v1/query.grpc.pb.h"

namespace sonar::service {
namespace {

std::unique_ptr<v1::QueryService::Stub> Stub(const std::string& addr) {
  return v1::QueryService::NewStub(MakeChannel(addr));
}

int Fail(const char* what, const grpc::Status& status) {
  std::fprintf(stderr, "%s: %s (code %d)\n", what, status.error_message().c_str(),
               static_cast<int>(status.error_code()));
  return 1;
}

void WithDeadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
}

}  // namespace

int RunReport(const ReportCommand& c) {
  grpc::ClientContext ctx;
  WithDeadline(ctx);
  v1::RenderQuarterReportRequest req;
  req.mutable_report()->set_region(c.region);
  req.mutable_report()->set_quarter(c.quarter);
  req.mutable_report()->set_provisional(c.provisional);
  req.mutable_report()->set_revision(c.revision);
  req.mutable_report()->set_fresh(true);  // every acknowledged batch and publication counted
  req.set_format(c.format);
  v1::RenderedReport resp;
  const grpc::Status status = Stub(c.addr)->RenderQuarterReport(&ctx, req, &resp);
  if (!status.ok()) return Fail("report", status);
  std::fwrite(resp.content().data(), 1, resp.content().size(), stdout);
  // The publication text ends without a newline, like the seed; redirected output stays exact.
  if (isatty(fileno(stdout)) && !resp.content().empty() && resp.content().back() != '\n') {
    std::fputc('\n', stdout);
  }
  const auto& r = resp.report();
  if (r.status() == v1::REPORT_STATUS_PUBLISHED) {
    std::fprintf(stderr, "(%s, published revision %u at %s)\n", r.quarter().c_str(), r.revision(),
                 google::protobuf::util::TimeUtil::ToString(r.published_at()).c_str());
  } else {
    std::fprintf(stderr, "(%s, provisional figures)\n", r.quarter().c_str());
  }
  return 0;
}

int RunPublish(const std::string& addr, const std::string& quarter) {
  grpc::ClientContext ctx;
  WithDeadline(ctx);
  v1::PublishQuarterRequest req;
  req.set_quarter(quarter);
  v1::Publication resp;
  const grpc::Status status = Stub(addr)->PublishQuarter(&ctx, req, &resp);
  if (!status.ok()) return Fail("publish", status);
  std::printf("published %s revision %u at %s (ingest position %lld, %lld batches)\n",
              resp.quarter().c_str(), resp.revision(),
              google::protobuf::util::TimeUtil::ToString(resp.published_at()).c_str(),
              static_cast<long long>(resp.ingest_position()),
              static_cast<long long>(resp.batches_included()));
  return 0;
}

int RunDiff(const std::string& addr, const std::string& quarter, const std::string& region) {
  grpc::ClientContext ctx;
  WithDeadline(ctx);
  v1::GetRevisionDiffRequest req;
  req.set_quarter(quarter);
  req.set_region(region);
  v1::RevisionDiff resp;
  const grpc::Status status = Stub(addr)->GetRevisionDiff(&ctx, req, &resp);
  if (!status.ok()) return Fail("diff", status);
  std::printf("%s: %d cells differ from revision %u\n", resp.quarter().c_str(), resp.changes_size(),
              resp.revision());
  for (const auto& c : resp.changes()) {
    std::printf("%s %s\t%s %s\t%s\t%lld -> %lld\n", c.region_number().c_str(),
                c.region_name().c_str(), c.municipality_code().c_str(),
                c.municipality_name().c_str(), c.cell().c_str(),
                static_cast<long long>(c.published()), static_cast<long long>(c.provisional()));
  }
  return 0;
}

int RunWatch(const std::string& addr, const std::string& region, int max_messages) {
  grpc::ClientContext ctx;
  v1::WatchLiveCountsRequest req;
  req.set_region(region);
  auto reader = Stub(addr)->WatchLiveCounts(&ctx, req);
  v1::LiveCounts live;
  int seen = 0;
  while (reader->Read(&live)) {
    const auto& r = live.region();
    std::printf("%s %s %s: in Sonar %lld, register %lld\n",
                google::protobuf::util::TimeUtil::ToString(live.as_of()).c_str(),
                r.number().c_str(), r.name().c_str(),
                static_cast<long long>(r.total().total_in_sonar()),
                static_cast<long long>(r.register_total()));
    std::fflush(stdout);
    if (max_messages > 0 && ++seen >= max_messages) {
      ctx.TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
    return Fail("watch", status);
  }
  return 0;
}

}  // namespace sonar::service
