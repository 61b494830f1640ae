#include "service/query_service.h"

#include "service/grpc_status.h"
#include "service/json_log.h"
#include "service/proto_mapping.h"

namespace sonar::service {

std::vector<std::string> CodesCountingIn(const core::ReferenceData& reference, int region,
                                         core::Date on) {
  std::vector<std::string> codes;
  for (const core::MunicipalityInfo& m : reference.municipalities()) {
    const std::string successor = reference.SuccessorOn(m.code, on);
    if (reference.ExistsOn(successor, on) && reference.RegionOn(successor, on) == region) {
      codes.push_back(m.code);
    }
  }
  return codes;
}

QueryServiceImpl::QueryServiceImpl(WorkerPool<storage::PgCountsReader>& readers,
                                   const core::ReferenceData& reference, Clock clock)
    : readers_(readers), reference_(reference), clock_(std::move(clock)) {}

grpc::ServerUnaryReactor* QueryServiceImpl::GetLiveCounts(grpc::CallbackServerContext* context,
                                                          const v1::GetLiveCountsRequest* request,
                                                          v1::LiveCounts* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const core::RegionInfo* region = reference_.FindRegion(request->region());
  if (region == nullptr) {
    reactor->Finish({grpc::StatusCode::NOT_FOUND,
                     "unknown region; give its number (\"29\") or CBS code (\"AM24\")"});
    return reactor;
  }
  const int number = region->number;
  const bool queued = readers_.Submit([this, reactor, response, number](
                                          storage::PgCountsReader& reader) {
    const core::Date today = core::AmsterdamDate(clock_());
    const std::vector<std::string> codes = CodesCountingIn(reference_, number, today);
    auto snapshot = reader.LiveCounts(codes);
    if (!snapshot.ok()) {
      LogLine("query_failed")
          .Add("rpc", "GetLiveCounts")
          .Add("code", static_cast<int>(snapshot.status().code()))
          .Add("error", std::string(snapshot.status().message()))
          .Error();
      reactor->Finish(ToGrpcStatus(snapshot.status()));
      return;
    }
    const core::FiguresBuilder builder(reference_, core::AmsterdamDate(snapshot->as_of));
    ToProto(builder.Region(number, snapshot->rows), true, response->mutable_region());
    *response->mutable_as_of() = ToProto(snapshot->as_of);
    reactor->Finish(grpc::Status::OK);
  });
  if (!queued) {
    reactor->Finish({grpc::StatusCode::RESOURCE_EXHAUSTED, "query queue is full; retry later"});
  }
  return reactor;
}

}  // namespace sonar::service
