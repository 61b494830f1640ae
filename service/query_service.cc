#include "service/query_service.h"

#include <algorithm>
#include <limits>

#include "core/publication.h"
#include "service/grpc_status.h"
#include "service/json_log.h"
#include "service/proto_mapping.h"
#include "service/strict_unary_handler.h"

namespace sonar::service {

// A quarter's figures as one RPC answers them, before mapping to proto or rendering.
struct Report {
  core::Quarter quarter;
  std::optional<storage::PublicationInfo> publication;  // nullopt = provisional
  std::optional<int> region;                            // nullopt = national
  std::vector<core::RegionFigures> regions;             // one entry, or all regions
};

namespace {

// Bounds of the in-memory caches; when full they are emptied (they refill from the database).
constexpr size_t kMaxPublishedReports = 2048;
constexpr size_t kMaxBuilders = 64;
// How long a `fresh` request waits for the read model before reading the database.
constexpr std::chrono::milliseconds kSyncTimeout{2000};

grpc::Status Invalid(const std::string& message) {
  return {grpc::StatusCode::INVALID_ARGUMENT, message};
}

const char* kBadQuarter = "quarter must look like \"2022-Q3\"";
const char* kBadRegion = "unknown region; give its number (\"29\") or CBS code (\"AM24\")";
const char* kNoSuchRevision = "the quarter has no such published revision";

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
    {
      std::lock_guard lock(service_.watchers_mu_);
      service_.watchers_.erase(this);
    }
    // Finish() is called with mu_ held (MaybeFinishLocked), by a read job on a worker thread or
    // by a reaction on another gRPC thread, which unlocks mu_ only after Finish() returned: wait
    // for that before freeing the mutex. Cannot deadlock: gRPC 1.51 runs OnDone of this
    // (non-inlineable) reactor on an executor thread, never inside Finish(); and once erased
    // above, the watcher is not woken any more, and no read is queued after Finish().
    { std::lock_guard lock(mu_); }
    LogLine("watch_ended").Add("region", region_).Add("messages", messages_).Info();
    delete this;
  }

 private:
  void StartReadLocked() {
    reading_ = true;
    // Past the queue's capacity if need be: a refused read would lose the change for good (no
    // one asks again until the next change, and a new watcher would never get its first
    // message). A watcher has at most one read queued or running, so these jobs are bounded by
    // the number of watchers. Refused only after the pool's shutdown, when watches end anyway.
    const bool queued = service_.backends_.SubmitAlways([this](QueryBackend& backend) {
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
                                   std::shared_ptr<const Authorizer> authorizer,
                                   storage::PgCountsFeed* feed, size_t max_watchers)
    : backends_(backends),
      reference_(reference),
      clock_(std::move(clock)),
      authorizer_(authorizer ? std::move(authorizer) : std::make_shared<const Authorizer>()),
      feed_(feed),
      max_watchers_(max_watchers) {
  // An undecodable request gets INVALID_ARGUMENT rather than gRPC's UNIMPLEMENTED. The index is
  // the RPC's position in query.proto's QueryService (the grpc tests call every one of them).
  MarkMethodCallback(0, NewStrictUnaryHandler(this, &QueryServiceImpl::GetLiveCounts));
  MarkMethodCallback(1, NewStrictUnaryHandler(this, &QueryServiceImpl::GetQuarterReport));
  MarkMethodCallback(2, NewStrictUnaryHandler(this, &QueryServiceImpl::RenderQuarterReport));
  MarkMethodCallback(3, NewStrictUnaryHandler(this, &QueryServiceImpl::PublishQuarter));
  MarkMethodCallback(4, NewStrictUnaryHandler(this, &QueryServiceImpl::GetRevisionDiff));
  MarkMethodCallback(5, NewStrictServerStreamingHandler(this, &QueryServiceImpl::WatchLiveCounts));
}

QueryServiceImpl::~QueryServiceImpl() = default;

std::shared_ptr<const core::FiguresBuilder> QueryServiceImpl::Builder(core::Date on) {
  std::lock_guard lock(cache_mu_);
  auto it = builders_.find(on);
  if (it != builders_.end()) return it->second;
  if (builders_.size() >= kMaxBuilders) builders_.clear();
  auto builder = std::make_shared<const core::FiguresBuilder>(reference_, on);
  builders_.emplace(on, builder);
  return builder;
}

bool QueryServiceImpl::SyncFeed(QueryBackend& backend) {
  if (feed_ == nullptr) return false;
  return feed_->Sync(backend.primary, kSyncTimeout).ok();
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
    // Refused because the server drains (its workers stop before gRPC does): another replica
    // can answer; otherwise the queue is full.
    reactor->Finish(backends_.Stopping() ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                                        "server is shutting down; retry")
                                         : grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                                        "query queue is full; retry later"));
  }
}

std::optional<v1::LiveCounts> QueryServiceImpl::LiveFromMemory(int region) {
  if (feed_ == nullptr) return std::nullopt;
  std::vector<core::CounterRow> rows;
  if (!feed_->Read([&](const core::CountsModel& model) { rows = model.LiveRows(); })) {
    return std::nullopt;
  }
  const core::Instant now = clock_();
  v1::LiveCounts out;
  service::ToProto(Builder(core::AmsterdamDate(now))->Region(region, rows), true,
                   out.mutable_region());
  *out.mutable_as_of() = service::ToProto(now);
  return out;
}

absl::StatusOr<v1::LiveCounts> QueryServiceImpl::ReadLive(QueryBackend& backend, int region,
                                                          bool memory_ok) {
  if (memory_ok) {
    if (auto live = LiveFromMemory(region)) return *std::move(live);
  }
  const std::vector<std::string> codes =
      CodesCountingIn(reference_, region, core::AmsterdamDate(clock_()));
  auto snapshot = backend.counts.LiveCounts(codes);
  if (!snapshot.ok()) return snapshot.status();
  v1::LiveCounts out;
  service::ToProto(Builder(core::AmsterdamDate(snapshot->as_of))->Region(region, snapshot->rows),
                   true, out.mutable_region());
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
  if (!request->fresh()) {
    if (auto live = LiveFromMemory(region->number)) {
      *response = *std::move(live);
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
  }
  Run(reactor,
      [this, response, number = region->number, fresh = request->fresh()](QueryBackend& backend) {
        // A fresh request whose read model cannot catch up reads the database.
        auto live = ReadLive(backend, number, !fresh || SyncFeed(backend));
        if (!live.ok()) {
          LogFailure("GetLiveCounts", live.status());
          return ToGrpcStatus(live.status());
        }
        *response = *std::move(live);
        return grpc::Status::OK;
      });
  return reactor;
}

std::optional<absl::StatusOr<std::shared_ptr<const Report>>> QueryServiceImpl::ReportFromMemory(
    core::Quarter quarter, std::optional<int> region, bool provisional, int revision) {
  if (feed_ == nullptr) return std::nullopt;
  if (!provisional) {
    std::lock_guard lock(cache_mu_);
    if (revision == 0) {
      auto latest = latest_revision_.find(quarter.Index());
      if (latest == latest_revision_.end() || !feed_->ready() ||
          latest->second.second != feed_->publication_epoch()) {
        return std::nullopt;
      }
      revision = latest->second.first;  // 0: never published, provisional figures below
    }
    if (revision > 0) {
      auto it = published_.find({quarter.Index(), revision, region.value_or(-1)});
      if (it == published_.end()) return std::nullopt;
      return it->second;
    }
  }
  std::vector<core::CounterRow> rows;
  if (!feed_->Read(
          [&](const core::CountsModel& model) { rows = model.QuarterRows(quarter.Index()); })) {
    return std::nullopt;
  }
  auto report = std::make_shared<Report>(Report{quarter, std::nullopt, region, {}});
  const auto builder = Builder(core::LayoutDate(quarter));
  if (region) {
    report->regions.push_back(builder->Region(*region, rows));
  } else {
    report->regions = builder->AllRegions(rows);
  }
  return std::shared_ptr<const Report>(std::move(report));
}

absl::StatusOr<std::shared_ptr<const Report>> QueryServiceImpl::ReadReport(
    QueryBackend& backend, core::Quarter quarter, std::optional<int> region, bool provisional,
    int revision, bool memory_ok) {
  if (memory_ok) {
    if (auto from_memory = ReportFromMemory(quarter, region, provisional, revision)) {
      return *std::move(from_memory);
    }
  }
  auto report = std::make_shared<Report>(Report{quarter, std::nullopt, region, {}});
  if (!provisional) {
    // Taken before the read: a publication notified meanwhile makes the cached answer stale. The
    // read is on the primary (PgPublicationStore), so it includes every publication notified
    // before: a replica behind it could have this cache an older answer under the new epoch.
    const bool cacheable = feed_ != nullptr && feed_->ready();
    const uint64_t epoch = cacheable ? feed_->publication_epoch() : 0;
    auto publication = backend.publications.Find(quarter, revision);
    if (!publication.ok()) return publication.status();
    if (revision > 0 && !*publication) {
      return absl::NotFoundError(kNoSuchRevision);
    }
    report->publication = *publication;
    if (revision == 0 && cacheable) {
      std::lock_guard lock(cache_mu_);
      latest_revision_[quarter.Index()] = {*publication ? (*publication)->revision : 0, epoch};
    }
  }
  if (report->publication) {
    auto figures = backend.publications.Figures(quarter, report->publication->revision, region);
    if (!figures.ok()) return figures.status();
    report->regions = *std::move(figures);
    std::shared_ptr<const Report> frozen = std::move(report);
    std::lock_guard lock(cache_mu_);
    if (published_.size() >= kMaxPublishedReports) published_.clear();
    published_[{quarter.Index(), frozen->publication->revision, region.value_or(-1)}] = frozen;
    return frozen;
  }
  if (memory_ok) {
    if (auto from_memory = ReportFromMemory(quarter, region, true, 0)) {
      return *std::move(from_memory);
    }
  }
  const core::Date layout = core::LayoutDate(quarter);
  const std::vector<std::string> codes =
      region ? CodesCountingIn(reference_, *region, layout) : std::vector<std::string>{};
  auto snapshot = backend.counts.QuarterCounts(quarter.Index(), codes);
  if (!snapshot.ok()) return snapshot.status();
  const auto builder = Builder(layout);
  if (region) {
    report->regions.push_back(builder->Region(*region, snapshot->rows));
  } else {
    report->regions = builder->AllRegions(snapshot->rows);
  }
  return std::shared_ptr<const Report>(std::move(report));
}

namespace {

// Validates quarter, region and revision of a report request; fills `quarter` and `region`.
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
  // Revisions are stored as `integer`: a larger one cannot exist (and would not fit the int the
  // read path passes on).
  if (request.revision() > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
    return {grpc::StatusCode::NOT_FOUND, kNoSuchRevision};
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
  const bool provisional = request->provisional();
  const int revision = static_cast<int>(request->revision());
  if (!request->fresh()) {
    if (auto report = ReportFromMemory(quarter, region, provisional, revision)) {
      if (report->ok()) ToProto(***report, response);
      reactor->Finish(report->ok() ? grpc::Status::OK : ToGrpcStatus(report->status()));
      return reactor;
    }
  }
  Run(reactor, [=, this, fresh = request->fresh()](QueryBackend& backend) {
    // A fresh request whose read model cannot catch up reads the database.
    const bool memory_ok = !fresh || SyncFeed(backend);
    auto report = ReadReport(backend, quarter, region, provisional, revision, memory_ok);
    if (!report.ok()) {
      if (!absl::IsNotFound(report.status())) LogFailure("GetQuarterReport", report.status());
      return ToGrpcStatus(report.status());
    }
    ToProto(**report, response);
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
  const auto& r = request->report();
  const bool provisional = r.provisional();
  const int revision = static_cast<int>(r.revision());
  auto render = [=](const Report& report) {
    ToProto(report, response->mutable_report());
    if (region && report.regions.empty()) return;  // as ToProto: nothing stored for it
    response->set_content(region ? core::RenderRegion(report.regions.front(), quarter, *format)
                                 : core::RenderNational(report.regions, quarter, *format));
  };
  if (!r.fresh()) {
    if (auto report = ReportFromMemory(quarter, region, provisional, revision)) {
      if (report->ok()) render(***report);
      reactor->Finish(report->ok() ? grpc::Status::OK : ToGrpcStatus(report->status()));
      return reactor;
    }
  }
  Run(reactor, [=, this, fresh = r.fresh()](QueryBackend& backend) {
    const bool memory_ok = !fresh || SyncFeed(backend);
    auto report = ReadReport(backend, quarter, region, provisional, revision, memory_ok);
    if (!report.ok()) {
      if (!absl::IsNotFound(report.status())) LogFailure("RenderQuarterReport", report.status());
      return ToGrpcStatus(report.status());
    }
    render(**report);
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
    const auto builder = Builder(core::LayoutDate(q));
    auto info = backend.publications.Publish(q, [&builder](std::span<const core::CounterRow> rows) {
      return builder->AllRegions(rows);
    });
    {
      // Whatever happened, this process's idea of the latest revision may be out of date; the
      // feed's notification tells every other process.
      std::lock_guard lock(cache_mu_);
      latest_revision_.erase(q.Index());
    }
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
    // A diff compares with the database's current state: it serves reviews, not dashboards.
    const bool memory_ok = SyncFeed(backend);
    auto published = ReadReport(backend, *quarter, region, false, 0, memory_ok);
    if (!published.ok()) return ToGrpcStatus(published.status());
    if (!(*published)->publication) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "the quarter was never published; publish it first");
    }
    auto provisional = ReadReport(backend, *quarter, region, true, 0, memory_ok);
    if (!provisional.ok()) return ToGrpcStatus(provisional.status());
    response->set_quarter(quarter->ToString());
    response->set_revision(static_cast<uint32_t>((*published)->publication->revision));
    for (const core::CellChange& c :
         core::DiffFigures((*published)->regions, (*provisional)->regions)) {
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
  if (watchers_.size() >= max_watchers_) {
    LogLine("watch_refused")
        .Add("open_watches", static_cast<uint64_t>(watchers_.size()))
        .Add("code", static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED))
        .Warn();
    return new Refused(
        {grpc::StatusCode::RESOURCE_EXHAUSTED, "too many live-count watchers; retry with backoff"});
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
