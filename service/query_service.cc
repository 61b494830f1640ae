#include "service/query_service.h"

#include <algorithm>

#include "core/publication.h"
#include "service/grpc_status.h"
#include "service/json_log.h"
#include "service/proto_mapping.h"
#include "service/strict_unary_handler.h"

namespace sonar::service {
namespace {

// A quarter's figures as one RPC answers them, before mapping to proto or rendering.
struct Report {
  core::Quarter quarter;
  std::optional<storage::PublicationInfo> publication;  // nullopt = provisional
  std::optional<int> region;                            // nullopt = national
  std::vector<core::RegionFigures> regions;             // one entry, or all regions
};

grpc::Status Invalid(const std::string& message) {
  return {grpc::StatusCode::INVALID_ARGUMENT, message};
}

const char* kBadQuarter = "quarter must look like \"2022-Q3\"";
const char* kBadRegion = "unknown region; give its number (\"29\") or CBS code (\"AM24\")";

void LogFailure(const char* rpc, const absl::Status& status) {
  LogLine("query_failed")
      .Add("rpc", rpc)
      .Add("code", static_cast<int>(status.code()))
      .Add("error", std::string(status.message()))
      .Error();
}

// Fills `out` from `report`; a national report carries its regions without municipalities.
void ToProto(const Report& report, v1::QuarterReport* out) {
  out->set_quarter(report.quarter.ToString());
  *out->mutable_cutoff() = service::ToProto(report.quarter.End());
  if (report.publication) {
    out->set_status(v1::REPORT_STATUS_PUBLISHED);
    out->set_revision(static_cast<uint32_t>(report.publication->revision));
    *out->mutable_published_at() = service::ToProto(report.publication->published_at);
  } else {
    out->set_status(v1::REPORT_STATUS_PROVISIONAL);
  }
  if (report.region) {
    if (!report.regions.empty())
      service::ToProto(report.regions.front(), true, out->mutable_region());
    return;
  }
  service::ToProto(core::NationalTotal(report.regions), false, out->mutable_region());
  out->mutable_region()->set_number("");
  for (const core::RegionFigures& r : report.regions) {
    service::ToProto(r, false, out->add_regions());
  }
}

}  // namespace

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

// Streams a region's live counts: once at the start, then after each change that alters them.
class LiveWatchReactor final : public grpc::ServerWriteReactor<v1::LiveCounts> {
 public:
  LiveWatchReactor(QueryServiceImpl& service, int region) : service_(service), region_(region) {
    LogLine("watch_started").Add("region", region_).Info();
    Changed();
  }

  // Schedules a read, or remembers that another is needed after the one in progress.
  void Changed() {
    std::lock_guard lock(mu_);
    if (finishing_) return;
    if (reading_) {
      dirty_ = true;
      return;
    }
    StartReadLocked();
  }

  void Stop() {
    std::lock_guard lock(mu_);
    stopping_ = true;
    MaybeFinishLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {
      stopping_ = true;
    } else if (pending_) {
      WriteLocked(*std::move(pending_));
      pending_.reset();
    }
    MaybeFinishLocked();
  }

  void OnCancel() override {
    std::lock_guard lock(mu_);
    stopping_ = true;
    MaybeFinishLocked();
  }

  void OnDone() override {
    LogLine("watch_ended").Add("region", region_).Add("messages", messages_).Info();
    {
      std::lock_guard lock(service_.watchers_mu_);
      service_.watchers_.erase(this);
    }
    delete this;
  }

 private:
  void StartReadLocked() {
    reading_ = true;
    const bool queued = service_.backends_.Submit([this](QueryBackend& backend) {
      auto live = service_.ReadLive(backend, region_);
      std::lock_guard lock(mu_);
      reading_ = false;
      if (live.ok()) {
        Deliver(*std::move(live));
      } else {
        LogFailure("WatchLiveCounts", live.status());
      }
      if (dirty_ && !stopping_) {
        dirty_ = false;
        StartReadLocked();
      }
      MaybeFinishLocked();
    });
    if (!queued) reading_ = false;
  }

  // Sends `live` unless the figures equal the last ones sent; a slow reader's pending message
  // is replaced by the newer one.
  void Deliver(v1::LiveCounts live) {
    const std::string figures = live.region().SerializeAsString();
    if (figures == last_figures_ || stopping_) return;
    last_figures_ = figures;
    if (writing_) {
      pending_ = std::move(live);
    } else {
      WriteLocked(std::move(live));
    }
  }

  void WriteLocked(v1::LiveCounts live) {
    current_ = std::move(live);
    writing_ = true;
    ++messages_;
    StartWrite(&current_);
  }

  void MaybeFinishLocked() {
    if (finishing_ || !stopping_ || reading_ || writing_) return;
    finishing_ = true;
    Finish(grpc::Status::OK);
  }

  QueryServiceImpl& service_;
  const int region_;
  std::mutex mu_;
  bool reading_ = false, dirty_ = false, writing_ = false, stopping_ = false, finishing_ = false;
  std::string last_figures_;
  v1::LiveCounts current_;
  std::optional<v1::LiveCounts> pending_;
  uint64_t messages_ = 0;
};

QueryServiceImpl::QueryServiceImpl(WorkerPool<QueryBackend>& backends,
                                   const core::ReferenceData& reference, Clock clock,
                                   std::shared_ptr<const Authorizer> authorizer)
    : backends_(backends),
      reference_(reference),
      clock_(std::move(clock)),
      authorizer_(authorizer ? std::move(authorizer) : std::make_shared<const Authorizer>()) {
  // An undecodable request gets INVALID_ARGUMENT rather than gRPC's UNIMPLEMENTED. The index is
  // the RPC's position in query.proto's QueryService (the grpc tests call every one of them).
  MarkMethodCallback(0, NewStrictUnaryHandler(this, &QueryServiceImpl::GetLiveCounts));
  MarkMethodCallback(1, NewStrictUnaryHandler(this, &QueryServiceImpl::GetQuarterReport));
  MarkMethodCallback(2, NewStrictUnaryHandler(this, &QueryServiceImpl::RenderQuarterReport));
  MarkMethodCallback(3, NewStrictUnaryHandler(this, &QueryServiceImpl::PublishQuarter));
  MarkMethodCallback(4, NewStrictUnaryHandler(this, &QueryServiceImpl::GetRevisionDiff));
}

bool QueryServiceImpl::Allowed(grpc::CallbackServerContext* context,
                               grpc::ServerUnaryReactor* reactor, Role role,
                               const char* rpc) const {
  grpc::Status allowed = authorizer_->Check(*context, role);
  if (allowed.ok()) return true;
  LogLine("call_refused")
      .Add("rpc", rpc)
      .Add("code", static_cast<int>(allowed.error_code()))
      .Warn();
  reactor->Finish(allowed);
  return false;
}

void QueryServiceImpl::Run(grpc::ServerUnaryReactor* reactor,
                           std::function<grpc::Status(QueryBackend&)> work) {
  const bool queued = backends_.Submit(
      [reactor, work = std::move(work)](QueryBackend& backend) { reactor->Finish(work(backend)); });
  if (!queued) {
    reactor->Finish({grpc::StatusCode::RESOURCE_EXHAUSTED, "query queue is full; retry later"});
  }
}

absl::StatusOr<v1::LiveCounts> QueryServiceImpl::ReadLive(QueryBackend& backend, int region) {
  const std::vector<std::string> codes =
      CodesCountingIn(reference_, region, core::AmsterdamDate(clock_()));
  auto snapshot = backend.counts.LiveCounts(codes);
  if (!snapshot.ok()) return snapshot.status();
  v1::LiveCounts out;
  const core::FiguresBuilder builder(reference_, core::AmsterdamDate(snapshot->as_of));
  service::ToProto(builder.Region(region, snapshot->rows), true, out.mutable_region());
  *out.mutable_as_of() = service::ToProto(snapshot->as_of);
  return out;
}

grpc::ServerUnaryReactor* QueryServiceImpl::GetLiveCounts(grpc::CallbackServerContext* context,
                                                          const v1::GetLiveCountsRequest* request,
                                                          v1::LiveCounts* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Allowed(context, reactor, Role::kQuery, "GetLiveCounts")) return reactor;
  const core::RegionInfo* region = reference_.FindRegion(request->region());
  if (region == nullptr) {
    reactor->Finish({grpc::StatusCode::NOT_FOUND, kBadRegion});
    return reactor;
  }
  Run(reactor, [this, response, number = region->number](QueryBackend& backend) {
    auto live = ReadLive(backend, number);
    if (!live.ok()) {
      LogFailure("GetLiveCounts", live.status());
      return ToGrpcStatus(live.status());
    }
    *response = *std::move(live);
    return grpc::Status::OK;
  });
  return reactor;
}

namespace {

// Reads the report `request` asks for: a published revision, or provisional figures.
absl::StatusOr<Report> ReadReport(QueryBackend& backend, const core::ReferenceData& reference,
                                  core::Quarter quarter, std::optional<int> region,
                                  bool provisional, int revision) {
  Report report{quarter, std::nullopt, region, {}};
  if (!provisional) {
    auto publication = backend.publications.Find(quarter, revision);
    if (!publication.ok()) return publication.status();
    if (revision > 0 && !*publication) {
      return absl::NotFoundError("the quarter has no such published revision");
    }
    report.publication = *publication;
  }
  if (report.publication) {
    auto figures = backend.publications.Figures(quarter, report.publication->revision, region);
    if (!figures.ok()) return figures.status();
    report.regions = *std::move(figures);
    return report;
  }
  const core::Date layout = core::LayoutDate(quarter);
  const std::vector<std::string> codes =
      region ? CodesCountingIn(reference, *region, layout) : std::vector<std::string>{};
  auto snapshot = backend.counts.QuarterCounts(quarter.Index(), codes);
  if (!snapshot.ok()) return snapshot.status();
  const core::FiguresBuilder builder(reference, layout);
  if (region) {
    report.regions.push_back(builder.Region(*region, snapshot->rows));
  } else {
    report.regions = builder.AllRegions(snapshot->rows);
  }
  return report;
}

// Validates quarter and region of a report request; fills `quarter` and `region`.
grpc::Status ParseReportRequest(const core::ReferenceData& reference,
                                const v1::GetQuarterReportRequest& request, core::Quarter& quarter,
                                std::optional<int>& region) {
  const auto parsed = core::ParseQuarter(request.quarter());
  if (!parsed) return Invalid(kBadQuarter);
  quarter = *parsed;
  if (!request.region().empty()) {
    const core::RegionInfo* info = reference.FindRegion(request.region());
    if (info == nullptr) return {grpc::StatusCode::NOT_FOUND, kBadRegion};
    region = info->number;
  }
  if (request.provisional() && request.revision() > 0) {
    return Invalid("ask for either provisional figures or a revision, not both");
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::ServerUnaryReactor* QueryServiceImpl::GetQuarterReport(
    grpc::CallbackServerContext* context, const v1::GetQuarterReportRequest* request,
    v1::QuarterReport* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Allowed(context, reactor, Role::kQuery, "GetQuarterReport")) return reactor;
  core::Quarter quarter;
  std::optional<int> region;
  if (grpc::Status s = ParseReportRequest(reference_, *request, quarter, region); !s.ok()) {
    reactor->Finish(s);
    return reactor;
  }
  Run(reactor, [=, this](QueryBackend& backend) {
    auto report = ReadReport(backend, reference_, quarter, region, request->provisional(),
                             static_cast<int>(request->revision()));
    if (!report.ok()) {
      if (!absl::IsNotFound(report.status())) LogFailure("GetQuarterReport", report.status());
      return ToGrpcStatus(report.status());
    }
    ToProto(*report, response);
    return grpc::Status::OK;
  });
  return reactor;
}

grpc::ServerUnaryReactor* QueryServiceImpl::RenderQuarterReport(
    grpc::CallbackServerContext* context, const v1::RenderQuarterReportRequest* request,
    v1::RenderedReport* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Allowed(context, reactor, Role::kQuery, "RenderQuarterReport")) return reactor;
  core::Quarter quarter;
  std::optional<int> region;
  const auto format =
      core::ParsePublicationFormat(request->format().empty() ? "text" : request->format());
  grpc::Status s = ParseReportRequest(reference_, request->report(), quarter, region);
  if (s.ok() && !format) s = Invalid("format must be text, csv, json or markdown");
  if (!s.ok()) {
    reactor->Finish(s);
    return reactor;
  }
  Run(reactor, [=, this](QueryBackend& backend) {
    const auto& r = request->report();
    auto report = ReadReport(backend, reference_, quarter, region, r.provisional(),
                             static_cast<int>(r.revision()));
    if (!report.ok()) {
      if (!absl::IsNotFound(report.status())) LogFailure("RenderQuarterReport", report.status());
      return ToGrpcStatus(report.status());
    }
    ToProto(*report, response->mutable_report());
    response->set_content(region ? core::RenderRegion(report->regions.front(), quarter, *format)
                                 : core::RenderNational(report->regions, quarter, *format));
    return grpc::Status::OK;
  });
  return reactor;
}

grpc::ServerUnaryReactor* QueryServiceImpl::PublishQuarter(grpc::CallbackServerContext* context,
                                                           const v1::PublishQuarterRequest* request,
                                                           v1::Publication* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Allowed(context, reactor, Role::kAdmin, "PublishQuarter")) return reactor;
  const auto quarter = core::ParseQuarter(request->quarter());
  if (!quarter) {
    reactor->Finish(Invalid(kBadQuarter));
    return reactor;
  }
  if (clock_() < quarter->End()) {
    reactor->Finish({grpc::StatusCode::FAILED_PRECONDITION,
                     "the quarter has not ended yet; only ended quarters can be published"});
    return reactor;
  }
  Run(reactor, [this, q = *quarter, response](QueryBackend& backend) {
    const core::FiguresBuilder builder(reference_, core::LayoutDate(q));
    auto info = backend.publications.Publish(
        q, [&builder](std::span<const core::CounterRow> rows) { return builder.AllRegions(rows); });
    if (!info.ok()) {
      LogFailure("PublishQuarter", info.status());
      return ToGrpcStatus(info.status());
    }
    LogLine("quarter_published")
        .Add("quarter", q.ToString())
        .Add("revision", info->revision)
        .Add("ingest_position", info->ingest_position)
        .Info();
    response->set_quarter(q.ToString());
    response->set_revision(static_cast<uint32_t>(info->revision));
    *response->mutable_published_at() = service::ToProto(info->published_at);
    response->set_ingest_position(info->ingest_position);
    response->set_batches_included(info->batches_included);
    return grpc::Status::OK;
  });
  return reactor;
}

grpc::ServerUnaryReactor* QueryServiceImpl::GetRevisionDiff(
    grpc::CallbackServerContext* context, const v1::GetRevisionDiffRequest* request,
    v1::RevisionDiff* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Allowed(context, reactor, Role::kQuery, "GetRevisionDiff")) return reactor;
  const auto quarter = core::ParseQuarter(request->quarter());
  std::optional<int> region;
  if (!request->region().empty()) {
    const core::RegionInfo* info = reference_.FindRegion(request->region());
    if (info == nullptr) {
      reactor->Finish({grpc::StatusCode::NOT_FOUND, kBadRegion});
      return reactor;
    }
    region = info->number;
  }
  if (!quarter) {
    reactor->Finish(Invalid(kBadQuarter));
    return reactor;
  }
  Run(reactor, [=, this](QueryBackend& backend) {
    auto published = ReadReport(backend, reference_, *quarter, region, false, 0);
    if (!published.ok()) return ToGrpcStatus(published.status());
    if (!published->publication) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "the quarter was never published; publish it first");
    }
    auto provisional = ReadReport(backend, reference_, *quarter, region, true, 0);
    if (!provisional.ok()) return ToGrpcStatus(provisional.status());
    response->set_quarter(quarter->ToString());
    response->set_revision(static_cast<uint32_t>(published->publication->revision));
    for (const core::CellChange& c : core::DiffFigures(published->regions, provisional->regions)) {
      v1::CellChange* out = response->add_changes();
      out->set_region_number(std::to_string(c.region.number));
      out->set_region_name(c.region.name);
      out->set_municipality_code(c.municipality_code);
      out->set_municipality_name(c.municipality_name);
      out->set_cell(core::CellName(c.cell));
      out->set_published(c.published);
      out->set_provisional(c.provisional);
    }
    return grpc::Status::OK;
  });
  return reactor;
}

grpc::ServerWriteReactor<v1::LiveCounts>* QueryServiceImpl::WatchLiveCounts(
    grpc::CallbackServerContext* context, const v1::WatchLiveCountsRequest* request) {
  const core::RegionInfo* region = reference_.FindRegion(request->region());
  class Refused final : public grpc::ServerWriteReactor<v1::LiveCounts> {
   public:
    explicit Refused(grpc::Status status) { Finish(std::move(status)); }
    void OnDone() override { delete this; }
  };
  if (grpc::Status allowed = authorizer_->Check(*context, Role::kQuery); !allowed.ok()) {
    LogLine("call_refused")
        .Add("rpc", "WatchLiveCounts")
        .Add("code", static_cast<int>(allowed.error_code()))
        .Warn();
    return new Refused(std::move(allowed));
  }
  if (region == nullptr) return new Refused({grpc::StatusCode::NOT_FOUND, kBadRegion});
  std::lock_guard lock(watchers_mu_);
  if (watches_stopped_) {
    return new Refused({grpc::StatusCode::UNAVAILABLE, "server is shutting down"});
  }
  auto* watcher = new LiveWatchReactor(*this, region->number);
  watchers_.insert(watcher);
  return watcher;
}

void QueryServiceImpl::NotifyChanged() {
  std::lock_guard lock(watchers_mu_);
  for (LiveWatchReactor* w : watchers_) w->Changed();
}

void QueryServiceImpl::StopWatches() {
  std::lock_guard lock(watchers_mu_);
  watches_stopped_ = true;
  for (LiveWatchReactor* w : watchers_) w->Stop();
}

}  // namespace sonar::service
