// sonar-bench: measures, in one run and side by side,
//   1. ingest: a national synthetic population streamed to sonar-ingest (acks after COMMIT):
//      events/s, ack latency, service RSS, CPU per event (client, service, PostgreSQL);
//   2. the limit: COPY of the same events into a table with the same unique key: rows/s;
//   3. the naive peer: one unary call and one transaction (INSERT + counter UPDATE) per event;
//   4. queries (GetQuarterReport provisional/published, region/national; GetLiveCounts) at a
//      fixed rate while the rest of the events are ingested: p50/p99;
//   5. publishing a national quarter: seconds;
// prints the ratios and writes a JSON result file. See BENCHMARKS.md.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <thread>
#include <unordered_map>

#include "absl/strings/str_join.h"
#include "bench/bench_support.h"
#include "bench/national_population.h"
#include "core/client_state.h"
#include "core/reference_data.h"
#include "core/validation.h"
#include "service/proto_mapping.h"
#include "service/scheduling.h"
#include "sonar/v1/ingest.grpc.pb.h"
#include "sonar/v1/query.grpc.pb.h"

namespace sonar::bench {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void Say(const std::string& line) { std::cerr << "sonar-bench: " << line << std::endl; }

struct Options {
  std::string database_url, database_url_file,
      pg_script = SONAR_SOURCE_DIR "/scripts/pg-throwaway.sh";
  bool keep_database = false;
  bool no_pseudonymise = false;
  bool national = false;
  PopulationOptions population;
  int streams = 2, batch_size = 1000, in_flight = 4, ingest_workers = 2, query_workers = 2;
  double tail_share = 0.2;
  uint64_t naive_sample = 5000;
  double query_rate = 200;
  double query_seconds = 20;
  double idle_query_seconds = 5;
  std::string out = "bench-results.json";
  std::string ingest_binary, query_binary, work_dir;
  std::string perf_out;
  double perf_seconds = 20;
  std::string service_log_level = "info";
  std::vector<std::string> ingest_extra, query_extra;  // more flags for the services
  std::vector<std::string> pg_settings;  // NAME=VALUE for the throwaway cluster (ALTER SYSTEM)
  int query_realtime_priority = 0;  // SCHED_RR for sonar-query and the measuring client; 0: off
  std::string echo_server;          // internal: run as the TCP echo server, port to this file
  // Internal: run as the measuring client of one query window, results to this file.
  std::string query_client;
  std::string query_client_addr, query_client_quarter;
  int query_client_echo_port = 0;
  std::string command_line;
};

std::shared_ptr<grpc::Channel> NewChannel(const std::string& addr) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per producer
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
}

// ---------------------------------------------------------------------------------------------
// Events as the producer sends them.

void FillEvent(const Population& pop, const CompactEvent& c, v1::Event* out) {
  out->set_event_id(EventId(pop.seed, c.serial));
  out->set_source(SourceOf(c));
  out->set_client_ref(ClientRef(pop.seed, c.person));
  auto* ts = out->mutable_occurred_at();
  int64_t secs = c.occurred_us / 1'000'000, micros = c.occurred_us % 1'000'000;
  if (micros < 0) secs -= 1, micros += 1'000'000;
  ts->set_seconds(secs);
  ts->set_nanos(static_cast<int32_t>(micros * 1000));
  const std::string code = c.municipality == kNoCode ? std::string() : pop.codes[c.municipality];
  const auto reg = static_cast<v1::Registrant>(c.registrant);
  switch (static_cast<core::EventKind>(c.kind)) {
    case core::EventKind::kClientRegistered:
      out->mutable_client_registered()->set_municipality_code(code);
      out->mutable_client_registered()->set_registrant(reg);
      break;
    case core::EventKind::kClientDeregistered:
      out->mutable_client_deregistered();
      break;
    case core::EventKind::kProfileCompleted:
      out->mutable_profile_completed();
      break;
    case core::EventKind::kProfileWithdrawn:
      out->mutable_profile_withdrawn();
      break;
    case core::EventKind::kRegistrantChanged:
      out->mutable_registrant_changed()->set_registrant(reg);
      break;
    case core::EventKind::kClientMoved:
      out->mutable_client_moved()->set_municipality_code(code);
      break;
    case core::EventKind::kTargetGroupEntered:
      out->mutable_target_group_entered()->set_municipality_code(code);
      break;
    case core::EventKind::kTargetGroupLeft:
      out->mutable_target_group_left();
      break;
    case core::EventKind::kUnspecified:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Ingest: `streams` bidi streams take batches of the range in order (work sharing), each
// with at most `in_flight` unacknowledged; the ack latency runs from Write to its response.

struct IngestRun {
  uint64_t events = 0, batches = 0, accepted = 0, duplicates = 0, rejected = 0;
  double seconds = 0;
  std::vector<double> ack_ms;
  std::string error;
  std::string first_rejection;
};

IngestRun StreamRange(const std::string& addr, const Population& pop, size_t begin, size_t end,
                      const Options& o, uint64_t batch_id_base) {
  IngestRun run;
  const size_t batch = static_cast<size_t>(o.batch_size);
  const size_t batches = (end - begin + batch - 1) / batch;
  std::atomic<size_t> next{0};
  std::mutex run_mu;
  const auto start = Clock::now();
  auto stream_main = [&](int) {
    auto stub = v1::IngestService::NewStub(NewChannel(addr));
    grpc::ClientContext ctx;
    auto stream = stub->Ingest(&ctx);
    std::mutex mu;
    std::condition_variable cv;
    int outstanding = 0;
    bool reader_done = false;
    std::unordered_map<uint64_t, Clock::time_point> sent_at;
    std::vector<double> latencies;
    uint64_t accepted = 0, duplicates = 0, rejected = 0, sent = 0, sent_batches = 0;
    std::string first_rejection;
    std::thread reader([&] {
      v1::IngestResponse resp;
      while (stream->Read(&resp)) {
        const auto now = Clock::now();
        std::lock_guard lock(mu);
        auto it = sent_at.find(resp.batch_id());
        if (it != sent_at.end()) {
          latencies.push_back(Millis(now - it->second));
          sent_at.erase(it);
        }
        accepted += resp.accepted();
        duplicates += resp.duplicates();
        rejected += static_cast<uint64_t>(resp.rejections_size());
        if (resp.rejections_size() > 0 && first_rejection.empty()) {
          first_rejection = resp.rejections(0).code() + ": " + resp.rejections(0).reason();
        }
        --outstanding;
        cv.notify_all();
      }
      std::lock_guard lock(mu);
      reader_done = true;
      cv.notify_all();
    });
    v1::IngestRequest req;
    while (true) {
      const size_t b = next.fetch_add(1);
      if (b >= batches) break;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return outstanding < o.in_flight || reader_done; });
        if (reader_done) break;
        ++outstanding;
      }
      req.Clear();
      req.set_batch_id(batch_id_base + b + 1);
      const size_t from = begin + b * batch, to = std::min(end, from + batch);
      for (size_t i = from; i < to; ++i) FillEvent(pop, pop.events[i], req.add_events());
      {
        std::lock_guard lock(mu);
        sent_at[req.batch_id()] = Clock::now();
      }
      if (!stream->Write(req)) break;
      sent += to - from;
      ++sent_batches;
    }
    stream->WritesDone();
    reader.join();
    const grpc::Status status = stream->Finish();
    std::lock_guard lock(run_mu);
    if (!status.ok() && run.error.empty()) {
      run.error = "stream failed: " + status.error_message() + " (code " +
                  std::to_string(static_cast<int>(status.error_code())) + ")";
    }
    if (!sent_at.empty() && run.error.empty()) run.error = "batches left unacknowledged";
    run.events += sent;
    run.batches += sent_batches;
    run.accepted += accepted;
    run.duplicates += duplicates;
    run.rejected += rejected;
    if (run.first_rejection.empty()) run.first_rejection = first_rejection;
    run.ack_ms.insert(run.ack_ms.end(), latencies.begin(), latencies.end());
  };
  std::vector<std::thread> threads;
  for (int s = 0; s < o.streams; ++s) threads.emplace_back(stream_main, s);
  for (auto& t : threads) t.join();
  run.seconds = Seconds(Clock::now() - start);
  return run;
}

// ---------------------------------------------------------------------------------------------
// 4. Queries at a fixed rate (open loop: latency from the scheduled instant, so a slow answer
// delays no later measurement), on the callback API.

enum QueryKind { kLive, kProvRegion, kProvNational, kPubRegion, kPubNational, kQueryKinds };
const char* kQueryNames[] = {"live_counts_region", "report_provisional_region",
                             "report_provisional_national", "report_published_region",
                             "report_published_national"};

struct QueryStats {
  std::mutex mu;
  std::vector<double> latencies[kQueryKinds];  // ms, in the order the answers came
  std::vector<double> sent_at_s[kQueryKinds];  // beside each: when it was due, s into the window
  uint64_t errors[kQueryKinds] = {};
  uint64_t fatal_errors = 0;
  std::string first_error;
};

class QueryLoad final {
 public:
  QueryLoad(const std::string& addr, std::string quarter, QueryStats& stats)
      : stub_(v1::QueryService::NewStub(NewChannel(addr))),
        quarter_(std::move(quarter)),
        stats_(stats) {}

  // One untimed call of each kind, one at a time, before the window: the first call on a new
  // channel connects, and the first published report after publishing fills sonar-query's
  // cache, neither of which a long-lived caller meets again. Their latencies go to `warm`.
  void WarmUp(QueryStats& warm) {
    for (int k = 0; k < kQueryKinds; ++k) {
      Issue(static_cast<QueryKind>(k), Clock::now(), warm);
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return in_flight_ == 0; });
    }
  }

  // Issues requests at `rate` per second from `t0`, rotating over the kinds, until `stop` or
  // `seconds`.
  uint64_t Run(Clock::time_point t0, double rate, double seconds, const std::atomic<bool>& stop) {
    t0_ = t0;
    const auto interval = std::chrono::duration<double>(1.0 / rate);
    uint64_t i = 0;
    for (;; ++i) {
      const auto at =
          t0 + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
      if (Seconds(at - t0) >= seconds) break;
      std::this_thread::sleep_until(at);
      if (stop.load()) break;
      Issue(static_cast<QueryKind>(i % kQueryKinds), at, stats_);
    }
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
    return i;
  }

 private:
  template <typename Req, typename Resp>
  struct Call {
    grpc::ClientContext ctx;
    Req req;
    Resp resp;
  };

  void Done(QueryKind kind, Clock::time_point scheduled, const grpc::Status& status,
            QueryStats& into) {
    const double ms = Millis(Clock::now() - scheduled);
    {
      std::lock_guard lock(into.mu);
      if (status.ok()) {
        into.latencies[kind].push_back(ms);
        into.sent_at_s[kind].push_back(Seconds(scheduled - t0_));
      } else {
        ++into.errors[kind];
        if (status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
            status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++into.fatal_errors;
        }
        if (into.first_error.empty()) {
          into.first_error = std::string(kQueryNames[kind]) + ": " + status.error_message();
        }
      }
    }
    std::lock_guard lock(mu_);
    --in_flight_;
    cv_.notify_all();
  }

  void Issue(QueryKind kind, Clock::time_point scheduled, QueryStats& into) {
    {
      std::lock_guard lock(mu_);
      ++in_flight_;
    }
    const auto deadline = std::chrono::system_clock::now() + 10s;
    if (kind == kLive) {
      auto* call = new Call<v1::GetLiveCountsRequest, v1::LiveCounts>;
      call->ctx.set_deadline(deadline);
      call->req.set_region("29");
      stub_->async()->GetLiveCounts(&call->ctx, &call->req, &call->resp,
                                    [this, call, kind, scheduled, &into](grpc::Status s) {
                                      delete call;  // before Done: the load may end right after
                                      Done(kind, scheduled, s, into);
                                    });
      return;
    }
    auto* call = new Call<v1::GetQuarterReportRequest, v1::QuarterReport>;
    call->ctx.set_deadline(deadline);
    call->req.set_quarter(quarter_);
    if (kind == kProvRegion || kind == kPubRegion) call->req.set_region("29");
    call->req.set_provisional(kind == kProvRegion || kind == kProvNational);
    stub_->async()->GetQuarterReport(
        &call->ctx, &call->req, &call->resp, [this, call, kind, scheduled, &into](grpc::Status s) {
          if (s.ok() && (kind == kPubRegion || kind == kPubNational) &&
              call->resp.status() != v1::REPORT_STATUS_PUBLISHED) {
            s = grpc::Status(grpc::StatusCode::INTERNAL, "expected a published report");
          }
          delete call;
          Done(kind, scheduled, s, into);
        });
  }

  std::unique_ptr<v1::QueryService::Stub> stub_;
  std::string quarter_;
  QueryStats& stats_;
  Clock::time_point t0_ = Clock::now();  // the window's start
  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;
};

// ---------------------------------------------------------------------------------------------
// 2. The limit: COPY of the distinct events, in one transaction, into a table like `events`.

struct CopyRun {
  uint64_t rows = 0;
  double seconds = 0;
};

CopyRun CopyEvents(const std::string& url, const Population& pop) {
  pqxx::connection conn(url);
  pqxx::nontransaction(conn).exec(
      "DROP TABLE IF EXISTS bench_copy_events; "
      "CREATE TABLE bench_copy_events (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
      "INCLUDING INDEXES)");
  CopyRun run;
  const auto start = Clock::now();
  pqxx::work tx(conn);
  pqxx::stream_to copy(
      tx, "bench_copy_events",
      std::vector<std::string>{"source", "event_id", "client_ref", "occurred_at", "kind",
                               "municipality_code", "registrant", "batch_seq"});
  for (const CompactEvent& c : pop.events) {
    if ((c.flags & kDuplicate) != 0) continue;
    const std::string code = c.municipality == kNoCode ? std::string() : pop.codes[c.municipality];
    copy << std::make_tuple(
        std::string(SourceOf(c)), EventId(pop.seed, c.serial), ClientRef(pop.seed, c.person),
        core::FormatInstant(core::Instant{std::chrono::microseconds{c.occurred_us}}),
        static_cast<int>(c.kind), code, static_cast<int>(c.registrant), 0);
    ++run.rows;
  }
  copy.complete();
  tx.commit();
  run.seconds = Seconds(Clock::now() - start);
  return run;
}

// ---------------------------------------------------------------------------------------------
// 3. The naive peer: a unary IngestBatch server in this process that, per event, validates it
// and runs one transaction: INSERT into an events table + UPDATE of one counter row. It keeps
// no per-person history and computes no cells, so it does less work per event than sonar.

class NaiveIngest final : public v1::IngestService::Service {
 public:
  NaiveIngest(const std::string& url, int connections) {
    for (int i = 0; i < connections; ++i) {
      auto conn = std::make_unique<pqxx::connection>(url);
      conn->prepare("ins",
                    "INSERT INTO bench_naive_events (source, event_id, client_ref, occurred_at, "
                    "kind, municipality_code, registrant, batch_seq) VALUES ($1, $2, $3, "
                    "timestamptz 'epoch' + $4 * interval '1 microsecond', $5, $6, $7, 0) "
                    "ON CONFLICT DO NOTHING");
      conn->prepare("upd",
                    "UPDATE bench_naive_counts SET n = n + 1 "
                    "WHERE municipality_code = $1 AND kind = $2");
      free_.push_back(std::move(conn));
    }
  }

  grpc::Status IngestBatch(grpc::ServerContext*, const v1::IngestRequest* request,
                           v1::IngestResponse* response) override {
    std::unique_ptr<pqxx::connection> conn;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !free_.empty(); });
      conn = std::move(free_.back());
      free_.pop_back();
    }
    grpc::Status status = grpc::Status::OK;
    try {
      for (const v1::Event& proto : request->events()) {
        const ingest::IncomingEvent in = service::DecodeEvent(proto);
        if (!in.event || core::ValidateEvent(*in.event, Now(), core::ReferenceData::Builtin())) {
          response->add_rejections()->set_code("invalid");
          continue;
        }
        const core::Event& e = *in.event;
        pqxx::work tx(*conn);
        const pqxx::result r = tx.exec_prepared(
            "ins", e.source, e.event_id, e.client_ref,
            static_cast<int64_t>(e.occurred_at.time_since_epoch().count()),
            static_cast<int>(e.kind), e.municipality_code, static_cast<int>(e.registrant));
        if (r.affected_rows() == 1) {
          tx.exec_prepared("upd", e.municipality_code, static_cast<int>(e.kind));
          response->set_accepted(response->accepted() + 1);
        } else {
          response->set_duplicates(response->duplicates() + 1);
        }
        tx.commit();
      }
      response->set_batch_id(request->batch_id());
    } catch (const std::exception& ex) {
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE, ex.what());
    }
    std::lock_guard lock(mu_);
    free_.push_back(std::move(conn));
    cv_.notify_one();
    return status;
  }

 private:
  static core::Instant Now() {
    return std::chrono::time_point_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now());
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> free_;
};

struct NaiveRun {
  uint64_t events = 0, accepted = 0;
  double seconds = 0;
  std::string error;
};

NaiveRun RunNaive(const std::string& url, const Population& pop, const Options& o) {
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec(
        "DROP TABLE IF EXISTS bench_naive_events, bench_naive_counts; "
        "CREATE TABLE bench_naive_events (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        "INCLUDING INDEXES); "
        "CREATE TABLE bench_naive_counts (municipality_code text, kind smallint, n bigint NOT "
        "NULL DEFAULT 0, PRIMARY KEY (municipality_code, kind))");
    std::vector<std::string> codes = pop.codes;
    codes.emplace_back();
    for (const std::string& code : codes) {
      for (int kind = 1; kind <= 8; ++kind) {
        tx.exec_params("INSERT INTO bench_naive_counts VALUES ($1, $2, 0)", code, kind);
      }
    }
    tx.commit();
  }
  NaiveIngest naive(url, o.streams);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&naive);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  const size_t sample = std::min<size_t>(o.naive_sample, pop.events.size());
  NaiveRun run;
  std::mutex mu;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int s = 0; s < o.streams; ++s) {
    threads.emplace_back([&, s] {
      auto stub = v1::IngestService::NewStub(NewChannel(addr));
      uint64_t sent = 0, accepted = 0;
      std::string error;
      for (size_t i = static_cast<size_t>(s); i < sample; i += static_cast<size_t>(o.streams)) {
        v1::IngestRequest req;
        req.set_batch_id(i + 1);
        FillEvent(pop, pop.events[i], req.add_events());
        v1::IngestResponse resp;
        grpc::ClientContext ctx;
        const grpc::Status status = stub->IngestBatch(&ctx, req, &resp);
        if (!status.ok()) {
          error = status.error_message();
          break;
        }
        ++sent;
        accepted += resp.accepted();
      }
      std::lock_guard lock(mu);
      run.events += sent;
      run.accepted += accepted;
      if (!error.empty()) run.error = error;
    });
  }
  for (auto& t : threads) t.join();
  run.seconds = Seconds(Clock::now() - start);
  server->Shutdown();
  return run;
}

// ---------------------------------------------------------------------------------------------
// The oracle: each person's cell now, by folding their distinct events with the core rules;
// compared with the live counts summed over all regions.

core::CellCounts ExpectedNow(const Population& pop) {
  std::vector<uint32_t> offsets(pop.persons + 1, 0);
  for (const CompactEvent& c : pop.events) {
    if ((c.flags & kDuplicate) == 0) ++offsets[c.person + 1];
  }
  for (size_t p = 0; p < pop.persons; ++p) offsets[p + 1] += offsets[p];
  std::vector<uint32_t> fill(offsets.begin(), offsets.end() - 1);
  std::vector<uint32_t> index(offsets.back());
  for (uint32_t i = 0; i < pop.events.size(); ++i) {
    const CompactEvent& c = pop.events[i];
    if ((c.flags & kDuplicate) == 0) index[fill[c.person]++] = i;
  }
  core::CellCounts counts;
  std::vector<core::Event> history;
  for (size_t p = 0; p < pop.persons; ++p) {
    history.clear();
    for (uint32_t k = offsets[p]; k < offsets[p + 1]; ++k) {
      const CompactEvent& c = pop.events[index[k]];
      core::Event e;
      e.source = SourceOf(c);
      e.event_id = std::to_string(c.serial);  // occurred_at is distinct within a person
      e.occurred_at = core::Instant{std::chrono::microseconds{c.occurred_us}};
      e.kind = static_cast<core::EventKind>(c.kind);
      if (c.municipality != kNoCode) e.municipality_code = pop.codes[c.municipality];
      e.registrant = static_cast<core::Registrant>(c.registrant);
      history.push_back(std::move(e));
    }
    const core::Placement place = core::PlacementOf(core::FoldHistory(history));
    if (place.cell != core::Cell::kNone) counts.Add(place.cell, 1);
  }
  return counts;
}

std::optional<core::CellCounts> LiveNational(const std::string& addr, std::string& error) {
  auto stub = v1::QueryService::NewStub(NewChannel(addr));
  core::CellCounts total;
  for (const core::RegionInfo& r : core::ReferenceData::Builtin().regions()) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    v1::GetLiveCountsRequest req;
    req.set_region(std::to_string(r.number));
    req.set_fresh(true);  // every acknowledged batch
    v1::LiveCounts live;
    const grpc::Status s = stub->GetLiveCounts(&ctx, req, &live);
    if (!s.ok()) {
      error = s.error_message();
      return std::nullopt;
    }
    const v1::Cells& c = live.region().total();
    total.gemeente_with_profile += c.gemeente_with_profile();
    total.gemeente_without_profile += c.gemeente_without_profile();
    total.uwv_with_profile += c.uwv_with_profile();
    total.uwv_without_profile += c.uwv_without_profile();
    total.register_only += live.region().register_total() - c.total_in_sonar();
  }
  return total;
}

// ---------------------------------------------------------------------------------------------

struct CpuSnapshot {
  double client = 0, service = 0, query = 0, postgres = 0, machine = 0, steal = 0;
};
// `postmaster` 0: every process named postgres (when the cluster's processes are not visible).
CpuSnapshot TakeCpu(pid_t service, pid_t query, pid_t postmaster) {
  return {ProcessCpuSeconds(getpid()),
          ProcessCpuSeconds(service),
          ProcessCpuSeconds(query),
          postmaster > 0 ? CpuSecondsOfTree(postmaster) : CpuSecondsOfComm("postgres"),
          MachineBusyCpuSeconds(),
          MachineStealCpuSeconds()};
}

// Tracks the highest VmRSS of the services while running.
class RssSampler final {
 public:
  explicit RssSampler(std::vector<pid_t> pids) : pids_(std::move(pids)), peak_(pids_.size(), 0) {
    thread_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!stop_) {
        for (size_t i = 0; i < pids_.size(); ++i) {
          peak_[i] = std::max(peak_[i], ProcStatusKiB(pids_[i], "VmRSS"));
        }
        cv_.wait_for(lock, 200ms);
      }
    });
  }
  ~RssSampler() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  uint64_t PeakKiB(size_t i) {
    std::lock_guard lock(mu_);
    return std::max(peak_[i], ProcStatusKiB(pids_[i], "VmHWM"));
  }

 private:
  std::vector<pid_t> pids_;
  std::vector<uint64_t> peak_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

std::string SelfPath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string BinaryNextToSelf(const std::string& name) {
  const std::string self = SelfPath();
  if (self.empty()) return name;
  return self.substr(0, self.rfind('/') + 1) + name;
}

std::string Utc(std::time_t t) {
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Runs a function when the scope ends.
class Finally final {
 public:
  explicit Finally(std::function<void()> f) : f_(std::move(f)) {}
  ~Finally() { f_(); }
  Finally(const Finally&) = delete;
  Finally& operator=(const Finally&) = delete;

 private:
  std::function<void()> f_;
};

// The machine's floor beside a query window: TCP round trips to the echo child at the queries'
// rate from `t0` (the queries' start), sent half an interval after them so that the two clients
// do not wake together; round trip i is due at (i + 0.5) / rate s into the window.
class EchoFloor final {
 public:
  EchoFloor(int port, Clock::time_point t0, double rate, double seconds,
            const std::atomic<bool>& stop)
      : thread_([this, port, t0, rate, seconds, &stop] {
          try {
            const auto start = t0 + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(0.5 / rate));
            ms_ = EchoRoundTrips(port, start, rate, seconds, stop, &warm_up_ms_);
          } catch (const std::exception& e) {
            error_ = e.what();
          }
        }) {}
  ~EchoFloor() {
    if (thread_.joinable()) thread_.join();
  }
  EchoFloor(const EchoFloor&) = delete;
  EchoFloor& operator=(const EchoFloor&) = delete;

  // Waits for the window to end; `error` is empty unless the echo failed or measured nothing.
  std::vector<double> Finish(std::string& error) {
    thread_.join();
    error = error_.empty() && ms_.empty() ? "no TCP round trip measured" : error_;
    return std::move(ms_);
  }
  // The untimed round trip before the window (after Finish).
  [[nodiscard]] double WarmUpMs() const { return warm_up_ms_; }

 private:
  std::vector<double> ms_;
  double warm_up_ms_ = 0;
  std::string error_;
  std::thread thread_;  // last: it uses the members above
};

// ---------------------------------------------------------------------------------------------
// The measuring client of a query window: the queries and the floor beside them, in a child
// process (`--query-client`), as a caller on another machine would be: in a scheduling group of
// its own, not sharing gRPC's threads with the producers, and with --query-realtime-priority in
// the SCHED_RR class, like sonar-query. Its results go to a file, a line per figure.

// --query-realtime-priority in a child process of sonar-bench (the measuring client, the echo
// server); false, with the reason on stderr, where the class may not be had.
bool EnterQueryClass(const Options& o, const char* who) {
  if (o.query_realtime_priority == 0) return true;
  const absl::Status scheduled = service::UseRealtimePriority(o.query_realtime_priority);
  if (!scheduled.ok())
    std::cerr << "sonar-bench " << who << ": " << scheduled.message() << std::endl;
  return scheduled.ok();
}

std::atomic<bool> query_client_stop{false};
void StopQueryClient(int) { query_client_stop = true; }

int RunQueryClient(const Options& o) {
  signal(SIGTERM, StopQueryClient);  // the window ends early: finish what is in flight
  std::ofstream(o.query_client + ".ready") << "ready\n";  // from now on SIGTERM is safe
  if (!EnterQueryClass(o, "query client")) return 3;
  QueryStats stats;
  QueryLoad load(o.query_client_addr, o.query_client_quarter, stats);
  // A warm caller, as the service's callers are long-lived: one untimed call of each kind and
  // (EchoRoundTrips) one echo before the window; their latencies are reported apart, their
  // errors with the window's.
  QueryStats warm;
  load.WarmUp(warm);
  for (int k = 0; k < kQueryKinds; ++k) stats.errors[k] += warm.errors[k];
  stats.fatal_errors += warm.fatal_errors;
  stats.first_error = warm.first_error;
  const auto start = Clock::now() + 20ms;  // the floor's thread connects and warms up meanwhile
  EchoFloor floor(o.query_client_echo_port, start, o.query_rate, o.query_seconds,
                  query_client_stop);
  const uint64_t issued = load.Run(start, o.query_rate, o.query_seconds, query_client_stop);
  const double window = Seconds(Clock::now() - start);
  std::string floor_error;
  const std::vector<double> floor_ms = floor.Finish(floor_error);
  std::ofstream out(o.query_client + ".tmp");
  out.precision(17);
  out << "issued " << issued << "\nseconds " << window << "\nfatal " << stats.fatal_errors << "\n";
  for (int k = 0; k < kQueryKinds; ++k) {
    out << "errors " << k << " " << stats.errors[k] << "\n";
    for (const double ms : warm.latencies[k]) out << "warm_up " << k << " " << ms << "\n";
    for (size_t i = 0; i < stats.latencies[k].size(); ++i) {
      out << "latency " << k << " " << stats.latencies[k][i] << " " << stats.sent_at_s[k][i]
          << "\n";
    }
  }
  out << "warm_up_floor " << floor.WarmUpMs() << "\n";
  for (const double ms : floor_ms) out << "floor " << ms << "\n";
  auto one_line = [](std::string text) {
    for (char& c : text) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    return text;
  };
  if (!stats.first_error.empty()) out << "first_error " << one_line(stats.first_error) << "\n";
  if (!floor_error.empty()) out << "floor_error " << one_line(floor_error) << "\n";
  out.close();
  if (!out || std::rename((o.query_client + ".tmp").c_str(), o.query_client.c_str()) != 0) {
    std::cerr << "sonar-bench query client: cannot write " << o.query_client << std::endl;
    return 4;
  }
  return 0;
}

// One of the slowest answers of a window: when it was due, which kind (a QueryKind, or
// kQueryKinds for the floor's echo), how long it took.
struct SlowAnswer {
  double at_s = 0;
  int what = 0;
  double ms = 0;
};
// The name of a query kind, or of the floor's echo (kQueryKinds), as in the JSON.
const char* AnswerKindName(int what) {
  return what < kQueryKinds ? kQueryNames[what] : "tcp_round_trip";
}
constexpr size_t kSlowestKept = 20;

struct QueryWindow {
  QueryStats stats;
  std::vector<double> floor_ms;
  double warm_up_ms[kQueryKinds + 1] = {};  // the untimed first call of each kind, and the echo
  std::vector<SlowAnswer> slowest;  // the kSlowestKept slowest answers, floor included, by time
  uint64_t issued = 0;
  double seconds = 0;
  double stolen_cpus = 0;           // steal over the window, CPUs (of all)
  double disk_write_mib_per_s = 0;  // written to the machine's block devices over the window
  std::string floor_error;
};

// The `keep` slowest of all the window's answers (queries and the floor's echoes), in the order
// they were due: VM-wide pauses show as answers of several kinds due at about the same time.
std::vector<SlowAnswer> SlowestAnswers(const QueryWindow& w, double rate, size_t keep) {
  std::vector<SlowAnswer> all;
  for (int k = 0; k < kQueryKinds; ++k) {
    for (size_t i = 0; i < w.stats.latencies[k].size(); ++i) {
      all.push_back({w.stats.sent_at_s[k][i], k, w.stats.latencies[k][i]});
    }
  }
  for (size_t i = 0; i < w.floor_ms.size(); ++i) {
    all.push_back({(static_cast<double>(i) + 0.5) / rate, kQueryKinds, w.floor_ms[i]});
  }
  const size_t n = std::min(keep, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                    [](const SlowAnswer& a, const SlowAnswer& b) { return a.ms > b.ms; });
  all.resize(n);
  std::sort(all.begin(), all.end(),
            [](const SlowAnswer& a, const SlowAnswer& b) { return a.at_s < b.at_s; });
  return all;
}

// Runs the measuring client for `seconds`, or until `stop`, and reads what it measured.
void RunQueryWindow(const Options& o, const std::string& work, const std::string& name,
                    const std::string& query_addr, int echo_port, const std::string& quarter,
                    double seconds, const std::atomic<bool>& stop, QueryWindow& w) {
  const std::string out = work + "/" + name + ".results";
  std::remove(out.c_str());
  std::remove((out + ".ready").c_str());
  Child client(
      SelfPath(),
      {"--query-client", out, "--query-client-addr", query_addr, "--query-client-echo-port",
       std::to_string(echo_port), "--query-client-quarter", quarter, "--query-rate",
       std::to_string(o.query_rate), "--query-seconds", std::to_string(seconds),
       "--query-realtime-priority", std::to_string(o.query_realtime_priority)},
      work + "/" + name + ".log");
  // Until its SIGTERM handler is in place, a stop must wait (SIGTERM would kill it).
  const auto started = Clock::now();
  while (client.Running() && !std::filesystem::exists(out + ".ready") &&
         Clock::now() - started < 60s) {
    std::this_thread::sleep_for(2ms);
  }
  const double steal0 = MachineStealCpuSeconds();
  const double disk0 = MachineDiskWrittenMiB();
  const auto start = Clock::now();
  while (client.Running() && !stop.load()) std::this_thread::sleep_for(20ms);
  const int code = client.Stop(60s);
  const double elapsed = Seconds(Clock::now() - start);
  w.stolen_cpus = (MachineStealCpuSeconds() - steal0) / elapsed;
  w.disk_write_mib_per_s = (MachineDiskWrittenMiB() - disk0) / elapsed;
  if (code != 0) {
    throw std::runtime_error("the query client (" + name + ") exited with " + std::to_string(code) +
                             "; see " + work + "/" + name + ".log");
  }
  std::ifstream in(out);
  std::string key;
  while (in >> key) {
    if (key == "issued") {
      in >> w.issued;
    } else if (key == "seconds") {
      in >> w.seconds;
    } else if (key == "fatal") {
      in >> w.stats.fatal_errors;
    } else if (key == "errors" || key == "latency" || key == "warm_up") {
      int k = 0;
      in >> k;
      if (k < 0 || k >= kQueryKinds) break;
      if (key == "errors") {
        in >> w.stats.errors[k];
      } else if (key == "warm_up") {
        in >> w.warm_up_ms[k];
      } else {
        double ms = 0, at_s = 0;
        in >> ms >> at_s;
        w.stats.latencies[k].push_back(ms);
        w.stats.sent_at_s[k].push_back(at_s);
      }
    } else if (key == "warm_up_floor") {
      in >> w.warm_up_ms[kQueryKinds];
    } else if (key == "floor") {
      double ms = 0;
      in >> ms;
      w.floor_ms.push_back(ms);
    } else if (key == "first_error") {
      std::getline(in >> std::ws, w.stats.first_error);
    } else if (key == "floor_error") {
      std::getline(in >> std::ws, w.floor_error);
    } else {
      throw std::runtime_error("the query client wrote an unknown line: " + key);
    }
  }
  if (!in.eof()) throw std::runtime_error("cannot read the query client's results " + out);
  w.slowest = SlowestAnswers(w, o.query_rate, kSlowestKept);
}

void PrintWarmUpAndSlowest(const std::string& window, const QueryWindow& w) {
  std::string line = "warm-up calls " + window + " ms:";
  char buf[64];
  for (int k = 0; k <= kQueryKinds; ++k) {
    std::snprintf(buf, sizeof buf, " %s %.2f", AnswerKindName(k), w.warm_up_ms[k]);
    line += buf;
  }
  std::printf("%s\n", line.c_str());
  std::printf("slowest answers %s (s into the window, what, ms):\n", window.c_str());
  for (const SlowAnswer& a : w.slowest) {
    std::printf("  %9.3f  %-30s %8.2f\n", a.at_s, AnswerKindName(a.what), a.ms);
  }
}

void WarmUpAndSlowestJson(Json& j, const QueryWindow& w) {
  j.BeginObject("warm_up_ms");
  for (int k = 0; k <= kQueryKinds; ++k) j.Num(AnswerKindName(k), w.warm_up_ms[k]);
  j.EndObject();
  j.BeginArray("slowest");
  for (const SlowAnswer& a : w.slowest) {
    j.BeginObject().Num("at_s", a.at_s).Str("what", AnswerKindName(a.what)).Num("ms", a.ms);
    j.EndObject();
  }
  j.EndArray();
}

struct Target {
  std::string name;
  std::string rule;
  double limit;
  bool at_least;    // true: measured >= limit
  double measured;  // not finite when the measurement failed (e.g. a naive peer with no events)
  [[nodiscard]] bool Measured() const { return std::isfinite(measured); }
  [[nodiscard]] bool Met() const {
    return Measured() && (at_least ? measured >= limit : measured <= limit);
  }
};

int Run(Options& o) {
  const auto run_start = Clock::now();
  const std::time_t started_at = std::time(nullptr);
  const core::ReferenceData& reference = core::ReferenceData::Builtin();
  if (o.national) {
    o.population.persons = 2'000'000;
    o.population.events = 10'000'000;
  }
  if (o.ingest_binary.empty()) o.ingest_binary = BinaryNextToSelf("sonar-ingest");
  if (o.query_binary.empty()) o.query_binary = BinaryNextToSelf("sonar-query");

  // Working directory: service logs, port files, the throwaway cluster.
  std::string work = o.work_dir;
  const bool own_work_dir = work.empty();
  if (work.empty()) {
    std::string tmpl = "/tmp/sonar-bench-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    work = tmpl;
    chmod(work.c_str(), 0755);  // the throwaway cluster runs as another user
  } else {
    std::string ignored;
    RunCommand({"mkdir", "-p", work}, ignored);
  }
  Say("working directory " + work);
  // Runs last (after the cluster is destroyed): a clean run leaves nothing behind.
  bool remove_work_dir = false;
  Finally remove_work([&] {
    if (!remove_work_dir) return;
    std::string ignored;
    RunCommand({"rm", "-rf", "--", work}, ignored);
  });

  // The cluster: given, read from a file, or a throwaway one.
  std::string admin_url = o.database_url;
  std::string throwaway;
  if (admin_url.empty() && !o.database_url_file.empty()) {
    admin_url = Trim(ReadFileText(o.database_url_file));
    if (admin_url.empty()) throw std::runtime_error("no URL in " + o.database_url_file);
  }
  if (admin_url.empty()) {
    throwaway = work + "/pg";
    Say("starting a throwaway PostgreSQL in " + throwaway);
    std::string out;
    if (RunCommand({"bash", o.pg_script, "start", throwaway}, out) != 0) {
      throw std::runtime_error("pg-throwaway.sh start failed");
    }
    admin_url = Trim(out);
    if (!o.pg_settings.empty()) {
      {
        pqxx::connection admin(admin_url);
        for (const std::string& setting : o.pg_settings) {
          const size_t eq = setting.find('=');
          if (eq == std::string::npos || eq == 0) {
            throw std::runtime_error("--pg-setting wants NAME=VALUE, got " + setting);
          }
          const std::string name = setting.substr(0, eq);
          if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_0123456789") !=
              std::string::npos) {
            throw std::runtime_error("--pg-setting: not a setting name: " + name);
          }
          pqxx::nontransaction(admin).exec("ALTER SYSTEM SET " + name + " = " +
                                           admin.quote(setting.substr(eq + 1)));
        }
      }
      Say("restarting the throwaway PostgreSQL with the --pg-setting values");
      std::string ignored, restarted;
      if (RunCommand({"bash", o.pg_script, "stop", throwaway}, ignored) != 0 ||
          RunCommand({"bash", o.pg_script, "start", throwaway}, restarted) != 0) {
        throw std::runtime_error("pg-throwaway.sh restart failed");
      }
      admin_url = Trim(restarted);
    }
  } else if (!o.pg_settings.empty()) {
    throw std::runtime_error("--pg-setting applies to the throwaway cluster, not --database-url");
  }
  // Runs at every exit from here on (after the services, declared later, are gone).
  Finally destroy_cluster([&] {
    if (throwaway.empty() || o.keep_database) return;
    std::string ignored;
    RunCommand({"bash", o.pg_script, "destroy", throwaway}, ignored);
  });
  const std::string dbname = "bench_" + std::to_string(getpid());
  {
    pqxx::connection admin(admin_url);
    pqxx::nontransaction(admin).exec("DROP DATABASE IF EXISTS " + dbname);
    pqxx::nontransaction(admin).exec("CREATE DATABASE " + dbname);
  }
  Finally drop_database([&] {
    if (o.keep_database) return;
    try {
      pqxx::connection admin(admin_url);
      pqxx::nontransaction(admin).exec("DROP DATABASE IF EXISTS " + dbname + " WITH (FORCE)");
    } catch (const std::exception& e) {
      Say(std::string("could not drop the scratch database: ") + e.what());
    }
  });
  const std::string url = WithDatabase(admin_url, dbname);
  std::string pg_version, pg_settings;
  pid_t postmaster = 0;
  {
    pqxx::connection conn(url);
    pqxx::nontransaction tx(conn);
    postmaster = ParentOf(static_cast<pid_t>(tx.exec1("SELECT pg_backend_pid()")[0].as<int>()));
    if (postmaster > 0 &&
        ReadFileText("/proc/" + std::to_string(postmaster) + "/comm").rfind("postgres", 0) != 0) {
      postmaster = 0;  // not on this machine (or not visible)
    }
    pg_version = tx.exec1("SHOW server_version")[0].as<std::string>();
    for (const char* s : {"fsync", "synchronous_commit", "shared_buffers", "max_wal_size",
                          "wal_compression", "wal_level", "checkpoint_timeout"}) {
      if (!pg_settings.empty()) pg_settings += ", ";
      pg_settings += std::string(s) + "=" + tx.exec1(std::string("SHOW ") + s)[0].as<std::string>();
    }
  }
  Say("database " + dbname + " (PostgreSQL " + pg_version + "; " + pg_settings + ")");

  int exit_code = 0;
  auto fail = [&](const std::string& what) {
    Say("ERROR: " + what);
    exit_code = 1;
  };

  // The services, as real processes (so RSS and CPU are theirs).
  const std::string ingest_port_file = work + "/ingest.port",
                    query_port_file = work + "/query.port";
  std::remove(ingest_port_file.c_str());
  std::remove(query_port_file.c_str());
  // Loopback only, so plaintext; client refs pseudonymised as in production (run.sh).
  std::vector<std::string> ingest_args{"--database-url",
                                       url,
                                       "--listen",
                                       "127.0.0.1:0",
                                       "--port-file",
                                       ingest_port_file,
                                       "--plaintext",
                                       "--workers",
                                       std::to_string(o.ingest_workers),
                                       "--max-in-flight",
                                       std::to_string(o.in_flight),
                                       "--log-level",
                                       o.service_log_level};
  if (!o.no_pseudonymise) {
    const std::string key_file = work + "/hmac.key";
    std::ofstream(key_file) << "sonar-bench-key-" << EventId(o.population.seed, 0)
                            << "-not-a-secret-0123456789\n";
    ingest_args.insert(ingest_args.end(), {"--hmac-key-file", key_file});
  }
  ingest_args.insert(ingest_args.end(), o.ingest_extra.begin(), o.ingest_extra.end());
  auto ingest = std::make_unique<Child>(o.ingest_binary, ingest_args, work + "/sonar-ingest.log");
  const int ingest_port = WaitForPortFile(ingest_port_file, 60s);
  if (ingest_port == 0)
    throw std::runtime_error("sonar-ingest did not start; see " + work + "/sonar-ingest.log");
  std::vector<std::string> query_args{"--database-url",
                                      url,
                                      "--listen",
                                      "127.0.0.1:0",
                                      "--port-file",
                                      query_port_file,
                                      "--plaintext",
                                      "--workers",
                                      std::to_string(o.query_workers),
                                      "--log-level",
                                      o.service_log_level};
  if (o.query_realtime_priority > 0) {
    query_args.insert(query_args.end(),
                      {"--realtime-priority", std::to_string(o.query_realtime_priority)});
  }
  query_args.insert(query_args.end(), o.query_extra.begin(), o.query_extra.end());
  auto query = std::make_unique<Child>(o.query_binary, query_args, work + "/sonar-query.log");
  const int query_port = WaitForPortFile(query_port_file, 60s);
  if (query_port == 0)
    throw std::runtime_error("sonar-query did not start; see " + work + "/sonar-query.log");
  const std::string ingest_addr = "127.0.0.1:" + std::to_string(ingest_port);
  const std::string query_addr = "127.0.0.1:" + std::to_string(query_port);
  Say("sonar-ingest pid " + std::to_string(ingest->pid()) + " on " + ingest_addr +
      ", sonar-query pid " + std::to_string(query->pid()) + " on " + query_addr);
  RssSampler rss({ingest->pid(), query->pid()});
  const std::string echo_port_file = work + "/echo.port";
  std::remove(echo_port_file.c_str());
  Child echo(SelfPath(),
             {"--echo-server", echo_port_file, "--query-realtime-priority",
              std::to_string(o.query_realtime_priority)},
             work + "/echo.log");
  const int echo_port = WaitForPortFile(echo_port_file, 10s);
  if (echo_port == 0) throw std::runtime_error("the echo server did not start");

  // The population.
  Say("generating " + std::to_string(o.population.persons) + " persons, " +
      std::to_string(o.population.events) + " events");
  auto t = Clock::now();
  const Population pop = Generate(o.population, reference);
  const double generate_seconds = Seconds(Clock::now() - t);
  Say("generated in " + std::to_string(generate_seconds) + " s: " + std::to_string(pop.distinct) +
      " distinct, " + std::to_string(pop.duplicates) + " resent, " + std::to_string(pop.late) +
      " late; " + std::to_string(pop.codes.size()) + " municipality codes");
  const size_t split =
      std::min(pop.events.size(),
               static_cast<size_t>(static_cast<double>(pop.events.size()) * (1.0 - o.tail_share)));

  // 1. Ingest.
  Say("ingest: " + std::to_string(split) + " events over " + std::to_string(o.streams) +
      " streams, batches of " + std::to_string(o.batch_size));
  std::unique_ptr<Child> perf;
  if (!o.perf_out.empty()) {
    perf = std::make_unique<Child>(
        "/usr/bin/perf",
        std::vector<std::string>{"record", "-a", "-g", "-F", "499", "-o", o.perf_out, "--", "sleep",
                                 std::to_string(static_cast<int>(o.perf_seconds))},
        work + "/perf.log");
  }
  const CpuSnapshot cpu0 = TakeCpu(ingest->pid(), query->pid(), postmaster);
  const double disk0 = MachineDiskWrittenMiB();
  IngestRun main_run = StreamRange(ingest_addr, pop, 0, split, o, 0);
  const CpuSnapshot cpu1 = TakeCpu(ingest->pid(), query->pid(), postmaster);
  const double ingest_disk_mib_per_s = (MachineDiskWrittenMiB() - disk0) / main_run.seconds;
  if (perf) perf->Stop(60s);
  const uint64_t ingest_rss_after_main = rss.PeakKiB(0);
  const double ingest_rate = static_cast<double>(main_run.events) / main_run.seconds;
  Percentiles ack = Summarize(main_run.ack_ms);
  Say("ingest: " + std::to_string(main_run.events) + " events in " +
      std::to_string(main_run.seconds) + " s = " + std::to_string(ingest_rate) +
      " events/s; ack p50 " + std::to_string(ack.p50) + " ms, p99 " + std::to_string(ack.p99) +
      " ms");
  if (!main_run.error.empty()) fail("ingest: " + main_run.error);
  if (main_run.rejected > 0)
    fail("ingest: " + std::to_string(main_run.rejected) + " events rejected, e.g. " +
         main_run.first_rejection);
  const double per_event = main_run.events > 0 ? 1e6 / static_cast<double>(main_run.events) : 0;
  // What else ran meanwhile (the machine may be shared): busy CPU not ours.
  // Time the hypervisor gave to other guests while ours had work: the VM's own noise.
  const double steal_cpu = cpu1.steal - cpu0.steal;
  const double other_cpu =
      std::max(0.0, (cpu1.machine - cpu0.machine) - (cpu1.client - cpu0.client) -
                        (cpu1.service - cpu0.service) - (cpu1.query - cpu0.query) -
                        (cpu1.postgres - cpu0.postgres) - steal_cpu);
  const double busy_cpus = (cpu1.machine - cpu0.machine) / main_run.seconds;

  // 5. Publishing the last quarter the main part completed.
  core::Quarter publish_q = core::QuarterOf(core::Instant{std::chrono::microseconds{
      split < pop.events.size() ? pop.events[split].send_us : pop.events.back().send_us + 1}});
  publish_q = core::Quarter::FromIndex(publish_q.Index() - 1);
  if (publish_q.Index() > core::Quarter{2024, 4}.Index()) publish_q = {2024, 4};
  double publish_seconds = 0;
  uint32_t publish_revision = 0;
  {
    auto stub = v1::QueryService::NewStub(NewChannel(query_addr));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 300s);
    v1::PublishQuarterRequest req;
    req.set_quarter(publish_q.ToString());
    v1::Publication pub;
    t = Clock::now();
    const grpc::Status s = stub->PublishQuarter(&ctx, req, &pub);
    publish_seconds = Seconds(Clock::now() - t);
    publish_revision = pub.revision();
    if (!s.ok()) fail("publish: " + s.error_message());
    Say("published " + publish_q.ToString() + " (national) in " + std::to_string(publish_seconds) +
        " s");
  }

  // 4a. The same queries with no ingest running: the baseline that shows what contention adds.
  QueryWindow idle;
  if (o.idle_query_seconds > 0) {
    const std::atomic<bool> never{false};
    RunQueryWindow(o, work, "queries-no-ingest", query_addr, echo_port, publish_q.ToString(),
                   o.idle_query_seconds, never, idle);
    if (idle.stats.fatal_errors > 0) fail("idle queries: " + idle.stats.first_error);
    if (!idle.floor_error.empty()) fail("idle queries: " + idle.floor_error);
  }
  Percentiles idle_qp[kQueryKinds];
  for (int k = 0; k < kQueryKinds; ++k) idle_qp[k] = Summarize(idle.stats.latencies[k]);
  const Percentiles idle_floor = Summarize(idle.floor_ms);

  // 4b. Queries while the rest is ingested.
  QueryWindow under_ingest;
  std::atomic<bool> tail_done{false};
  IngestRun tail_run;
  std::map<std::string, int> query_threads;  // sonar-query's threads by scheduling class
  {
    std::thread tail([&] {
      tail_run = StreamRange(ingest_addr, pop, split, pop.events.size(), o, 1'000'000'000);
      tail_done = true;
    });
    Finally join_tail([&] { tail.join(); });
    RunQueryWindow(o, work, "queries-under-ingest", query_addr, echo_port, publish_q.ToString(),
                   o.query_seconds, tail_done, under_ingest);
    query_threads = service::ThreadsByPolicy(query->pid());
    if (!under_ingest.floor_error.empty()) fail("queries: " + under_ingest.floor_error);
  }
  const QueryStats& qstats = under_ingest.stats;
  const double query_window = under_ingest.seconds;
  const uint64_t queries_issued = under_ingest.issued;
  const Percentiles ingest_floor = Summarize(under_ingest.floor_ms);
  std::string query_threads_text;
  for (const auto& [policy, n] : query_threads) {
    query_threads_text +=
        (query_threads_text.empty() ? "" : ", ") + std::to_string(n) + " " + policy;
  }
  Say("sonar-query threads: " + query_threads_text);
  const double tail_rate =
      tail_run.seconds > 0 ? static_cast<double>(tail_run.events) / tail_run.seconds : 0;
  Say("queries: " + std::to_string(queries_issued) + " in " + std::to_string(query_window) +
      " s under concurrent ingest of " + std::to_string(tail_run.events) + " events at " +
      std::to_string(tail_rate) + " events/s");
  if (!tail_run.error.empty()) fail("tail ingest: " + tail_run.error);
  if (tail_run.rejected > 0)
    fail("tail ingest: " + std::to_string(tail_run.rejected) + " events rejected");
  if (qstats.fatal_errors > 0) fail("queries: " + qstats.first_error);
  if (query_window < o.query_seconds * 0.9) {
    Say("note: the concurrent ingest ended after " + std::to_string(query_window) +
        " s, before --query-seconds; raise --tail-share for a longer query window");
  }
  Percentiles qp[kQueryKinds];
  for (int k = 0; k < kQueryKinds; ++k) qp[k] = Summarize(under_ingest.stats.latencies[k]);

  // Everything acknowledged: the live counts must equal the oracle's fold.
  const uint64_t ingest_rss_peak = rss.PeakKiB(0);
  const uint64_t query_rss_peak = rss.PeakKiB(1);
  bool counts_match = false;
  {
    std::string error;
    const auto live = LiveNational(query_addr, error);
    core::CellCounts expected = ExpectedNow(pop);
    expected.sonar_only = 0;  // not in the published cells, so not in LiveCounts
    counts_match = live && *live == expected;
    if (!live) {
      fail("live counts: " + error);
    } else if (!counts_match) {
      auto text = [](const core::CellCounts& c) {
        return std::to_string(c.gemeente_with_profile) + "/" +
               std::to_string(c.gemeente_without_profile) + "/" +
               std::to_string(c.uwv_with_profile) + "/" + std::to_string(c.uwv_without_profile) +
               "/" + std::to_string(c.register_only);
      };
      fail("live counts (" + text(*live) + ") differ from the fold of the generated events (" +
           text(expected) + ")");
    } else {
      Say("check: live counts of all 35 regions equal the fold of the generated events");
    }
  }
  const uint64_t accepted_total = main_run.accepted + tail_run.accepted;
  const uint64_t duplicates_total = main_run.duplicates + tail_run.duplicates;
  if (accepted_total != pop.distinct || duplicates_total != pop.duplicates) {
    fail("acknowledged " + std::to_string(accepted_total) + " accepted / " +
         std::to_string(duplicates_total) + " duplicates; expected " +
         std::to_string(pop.distinct) + " / " + std::to_string(pop.duplicates));
  }

  // The services are no longer needed; stop them before the other measurements.
  const int ingest_exit = ingest->Stop(30s);
  const int query_exit = query->Stop(30s);
  if (ingest_exit != 0 || query_exit != 0) {
    fail("services exited with " + std::to_string(ingest_exit) + " / " +
         std::to_string(query_exit));
  }

  // 2. COPY.
  Say("copy: " + std::to_string(pop.distinct) + " rows");
  const CopyRun copy = CopyEvents(url, pop);
  const double copy_rate = static_cast<double>(copy.rows) / copy.seconds;
  Say("copy: " + std::to_string(copy_rate) + " rows/s");

  // 3. Naive peer.
  Say("naive: " + std::to_string(std::min<uint64_t>(o.naive_sample, pop.events.size())) +
      " events");
  const NaiveRun naive = RunNaive(url, pop, o);
  const double naive_rate = static_cast<double>(naive.events) / naive.seconds;
  if (!naive.error.empty()) fail("naive: " + naive.error);
  Say("naive: " + std::to_string(naive_rate) + " events/s");

  const double ratio_copy = ingest_rate / copy_rate;
  const double ratio_naive = ingest_rate / naive_rate;

  const double mib = 1.0 / 1024;
  const double prov_p99 = std::max(qp[kProvRegion].p99, qp[kProvNational].p99);
  const double pub_p99 = std::max(qp[kPubRegion].p99, qp[kPubNational].p99);
  const std::vector<Target> targets = {
      {"ingest_vs_copy", "ingest events/s >= 0.30 x COPY rows/s", 0.30, true, ratio_copy},
      {"ingest_vs_naive", "ingest events/s >= 20 x naive events/s", 20, true, ratio_naive},
      {"report_provisional_p99_ms", "GetQuarterReport provisional p99 <= 5 ms", 5, false, prov_p99},
      {"report_published_p99_ms", "GetQuarterReport published p99 <= 1 ms", 1, false, pub_p99},
      {"live_counts_p99_ms", "GetLiveCounts p99 <= 2 ms", 2, false, qp[kLive].p99},
      {"publish_seconds", "publishing a national quarter <= 15 s", 15, false, publish_seconds},
      {"service_rss_mib", "sonar-ingest peak RSS <= 300 MiB", 300, false,
       static_cast<double>(ingest_rss_peak) * mib},
  };

  // The table.
  std::printf(
      "\nsonar-bench: %lu persons, %lu events (%lu distinct, %lu resent, %lu late), %zu codes\n",
      static_cast<unsigned long>(pop.persons), static_cast<unsigned long>(pop.events.size()),
      static_cast<unsigned long>(pop.distinct), static_cast<unsigned long>(pop.duplicates),
      static_cast<unsigned long>(pop.late), pop.codes.size());
  std::printf("%-44s %14s\n", "measurement", "value");
  std::printf("%-44s %14.0f\n", "ingest events/s (acks after COMMIT)", ingest_rate);
  std::printf("%-44s %14.1f\n", "ingest ack latency p50 ms", ack.p50);
  std::printf("%-44s %14.1f\n", "ingest ack latency p99 ms", ack.p99);
  std::printf("%-44s %14.1f\n", "sonar-ingest peak RSS MiB",
              static_cast<double>(ingest_rss_peak) * mib);
  std::printf("%-44s %14.1f\n", "sonar-query peak RSS MiB",
              static_cast<double>(query_rss_peak) * mib);
  std::printf("%-44s %14.1f\n", "CPU us/event client", (cpu1.client - cpu0.client) * per_event);
  std::printf("%-44s %14.1f\n", "CPU us/event sonar-ingest",
              (cpu1.service - cpu0.service) * per_event);
  std::printf("%-44s %14.1f\n", "CPU us/event sonar-query (its read model)",
              (cpu1.query - cpu0.query) * per_event);
  std::printf("%-44s %14.1f\n", "CPU us/event PostgreSQL",
              (cpu1.postgres - cpu0.postgres) * per_event);
  std::printf("%-44s %14.1f\n", "CPU us/event other processes on the machine",
              other_cpu * per_event);
  std::printf("%-44s %14.3f\n", "CPUs stolen by the hypervisor during ingest",
              steal_cpu / main_run.seconds);
  std::printf("%-44s %14.2f\n", "CPUs busy during ingest (of all)", busy_cpus);
  std::printf("%-44s %14.0f\n", "COPY rows/s", copy_rate);
  std::printf("%-44s %14.0f\n", "naive peer events/s", naive_rate);
  std::printf("%-44s %14.3f\n", "ratio ingest / COPY", ratio_copy);
  std::printf("%-44s %14.1f\n", "ratio ingest / naive", ratio_naive);
  for (int k = 0; k < kQueryKinds; ++k) {
    std::printf("%-44s %6.2f / %6.2f\n", (std::string(kQueryNames[k]) + " p50/p99 ms").c_str(),
                qp[k].p50, qp[k].p99);
  }
  for (int k = 0; k < kQueryKinds; ++k) {
    std::printf("%-44s %6.2f / %6.2f\n",
                (std::string(kQueryNames[k]) + " no ingest p50/p99 ms").c_str(), idle_qp[k].p50,
                idle_qp[k].p99);
  }
  std::printf("%-44s %6.2f / %6.2f\n", "TCP round trip (the floor) p50/p99 ms", ingest_floor.p50,
              ingest_floor.p99);
  std::printf("%-44s %6.2f / %6.2f\n", "TCP round trip no ingest p50/p99 ms", idle_floor.p50,
              idle_floor.p99);
  std::printf("%-44s %14.3f\n", "CPUs stolen during queries under ingest",
              under_ingest.stolen_cpus);
  std::printf("%-44s %14.3f\n", "CPUs stolen during queries no ingest", idle.stolen_cpus);
  std::printf("%-44s %14.1f\n", "disk writes MiB/s during ingest", ingest_disk_mib_per_s);
  std::printf("%-44s %14.1f\n", "disk writes MiB/s during queries under ingest",
              under_ingest.disk_write_mib_per_s);
  std::printf("%-44s %14.1f\n", "disk writes MiB/s during queries no ingest",
              idle.disk_write_mib_per_s);
  PrintWarmUpAndSlowest("no ingest", idle);
  PrintWarmUpAndSlowest("under ingest", under_ingest);
  std::printf("%-44s %14.0f\n", "concurrent ingest during queries events/s", tail_rate);
  std::printf("%-44s %14.2f\n", ("publish " + publish_q.ToString() + " (national) s").c_str(),
              publish_seconds);
  std::printf("\ntargets:\n");
  for (const Target& tg : targets) {
    std::printf("  %-44s %10.3f  %s\n", tg.rule.c_str(), tg.measured,
                tg.Met() ? "met" : (tg.Measured() ? "MISSED" : "NOT MEASURED"));
  }
  std::printf(
      "  (the floor under the query targets: a 64-byte TCP round trip between two processes on\n"
      "   this machine, in the same windows, p99 %.2f ms under ingest, %.2f ms without)\n",
      ingest_floor.p99, idle_floor.p99);

  // The JSON result.
  const Machine m = DescribeMachine();
  Json j;
  j.BeginObject();
  j.Str("benchmark", "sonar-bench");
  j.Str("started_at", Utc(started_at));
  j.Num("total_seconds", Seconds(Clock::now() - run_start));
  j.Str("command", o.command_line);
  j.Bool("ok", exit_code == 0);
  j.Num("ratio_ingest_vs_copy", ratio_copy);
  j.Num("ratio_ingest_vs_naive", ratio_naive);
  j.BeginObject("machine")
      .Str("cpu_model", m.cpu_model)
      .Int("cpus", m.cpus)
      .Int("mem_total_mib", static_cast<int64_t>(m.mem_total_mib))
      .Str("kernel", m.kernel)
      .Str("hostname", m.hostname)
      .Str("postgresql", pg_version)
      .Str("postgresql_settings", pg_settings)
      .Str("note", "client, both services and PostgreSQL share these CPUs")
      .EndObject();
  j.BeginObject("config")
      .Int("persons", static_cast<int64_t>(o.population.persons))
      .Int("events", static_cast<int64_t>(o.population.events))
      .Int("seed", static_cast<int64_t>(o.population.seed))
      .Num("late_share", o.population.late_share)
      .Num("duplicate_share", o.population.duplicate_share)
      .Int("streams", o.streams)
      .Int("batch_size", o.batch_size)
      .Int("in_flight_per_stream", o.in_flight)
      .Int("ingest_workers", o.ingest_workers)
      .Int("query_workers", o.query_workers)
      .Str("ingest_extra_args", absl::StrJoin(o.ingest_extra, " "))
      .Str("query_extra_args", absl::StrJoin(o.query_extra, " "))
      .Num("tail_share", o.tail_share)
      .Int("naive_sample", static_cast<int64_t>(o.naive_sample))
      .Num("query_rate", o.query_rate)
      .Num("query_seconds", o.query_seconds)
      .Int("query_realtime_priority", o.query_realtime_priority)
      .Str("service_log_level", o.service_log_level)
      .Bool("pseudonymise", !o.no_pseudonymise)
      .EndObject();
  j.BeginObject("population")
      .Int("persons", static_cast<int64_t>(pop.persons))
      .Int("events_sent", static_cast<int64_t>(pop.events.size()))
      .Int("distinct_events", static_cast<int64_t>(pop.distinct))
      .Int("resent_duplicates", static_cast<int64_t>(pop.duplicates))
      .Int("late_events", static_cast<int64_t>(pop.late))
      .Int("municipality_codes", static_cast<int64_t>(pop.codes.size()))
      .Int("regions", static_cast<int64_t>(reference.regions().size()))
      .Str("period", "2019-01-01..2024-12-31 (Amsterdam)")
      .Num("generate_seconds", generate_seconds);
  j.BeginObject("distinct_events_by_kind");
  for (int k = 1; k <= 8; ++k) {
    j.Int(core::EventKindName(static_cast<core::EventKind>(k)),
          static_cast<int64_t>(pop.by_kind[k]));
  }
  j.EndObject().EndObject();
  j.BeginObject("ingest")
      .Int("events", static_cast<int64_t>(main_run.events))
      .Int("batches", static_cast<int64_t>(main_run.batches))
      .Int("accepted", static_cast<int64_t>(main_run.accepted))
      .Int("duplicates", static_cast<int64_t>(main_run.duplicates))
      .Int("rejected", static_cast<int64_t>(main_run.rejected))
      .Num("seconds", main_run.seconds)
      .Num("events_per_s", ingest_rate)
      .Percent("ack_latency", ack)
      .Num("service_rss_peak_mib_after_ingest", static_cast<double>(ingest_rss_after_main) * mib);
  j.BeginObject("cpu_us_per_event")
      .Num("client", (cpu1.client - cpu0.client) * per_event)
      .Num("sonar_ingest", (cpu1.service - cpu0.service) * per_event)
      .Num("sonar_query", (cpu1.query - cpu0.query) * per_event)
      .Num("postgresql", (cpu1.postgres - cpu0.postgres) * per_event)
      .Num("other_processes", other_cpu * per_event)
      .Num("stolen_by_hypervisor", steal_cpu * per_event)
      .EndObject()
      .Num("stolen_cpus", steal_cpu / main_run.seconds)
      .Num("disk_write_mib_per_s", ingest_disk_mib_per_s)
      .Num("cpus_busy", busy_cpus)
      .EndObject();
  j.BeginObject("copy")
      .Int("rows", static_cast<int64_t>(copy.rows))
      .Num("seconds", copy.seconds)
      .Num("rows_per_s", copy_rate)
      .Str("how",
           "libpqxx stream_to (COPY ... FROM STDIN), one transaction, table LIKE events "
           "with its key (the constraints and indexes of events: since migration 0008 the hash "
           "exclusion constraint on (source, event_id)); distinct events only")
      .EndObject();
  j.BeginObject("naive")
      .Int("events", static_cast<int64_t>(naive.events))
      .Int("accepted", static_cast<int64_t>(naive.accepted))
      .Num("seconds", naive.seconds)
      .Num("events_per_s", naive_rate)
      .Int("clients", o.streams)
      .Str("how",
           "in-process gRPC IngestBatch server, one event per call; per event one "
           "transaction: INSERT ... ON CONFLICT DO NOTHING + UPDATE of one counter row "
           "(prepared statements); no history, no cells")
      .EndObject();
  j.BeginObject("publish")
      .Str("quarter", publish_q.ToString())
      .Int("revision", publish_revision)
      .Num("seconds", publish_seconds)
      .Int("events_ingested_before", static_cast<int64_t>(main_run.events))
      .EndObject();
  j.BeginObject("queries")
      .Str("quarter", publish_q.ToString())
      .Str("region", "29")
      .Num("rate_per_s", o.query_rate)
      .Int("issued", static_cast<int64_t>(queries_issued))
      .Num("window_seconds", query_window)
      .Int("concurrent_ingest_events", static_cast<int64_t>(tail_run.events))
      .Num("concurrent_ingest_events_per_s", tail_rate);
  for (int k = 0; k < kQueryKinds; ++k) {
    j.Percent(kQueryNames[k], qp[k]);
  }
  j.Percent("tcp_round_trip", ingest_floor);
  j.Num("stolen_cpus", under_ingest.stolen_cpus);
  j.Num("disk_write_mib_per_s", under_ingest.disk_write_mib_per_s);
  WarmUpAndSlowestJson(j, under_ingest);
  j.Str("warm_up_how",
        "before each window the measuring client (a new process, a new channel) makes one "
        "untimed call of each kind, one at a time, and one untimed echo, so that the window "
        "measures a warm caller; warm_up_ms are those calls. slowest: the 20 slowest answers "
        "of the window, queries and echoes together, by the time they were due (at_s, seconds "
        "into the window)");
  j.Str("tcp_round_trip_how",
        "the floor: 64-byte TCP echo on loopback between the measuring client (a child process "
        "of sonar-bench in its own session, which also sends the queries) and another child "
        "process in its own session, open loop at the same rate, sent half an interval after "
        "the queries; both in the class the queries' client has");
  j.BeginObject("sonar_query_threads");
  for (const auto& [policy, n] : query_threads) j.Int(policy, n);
  j.EndObject();
  j.BeginObject("errors");
  for (int k = 0; k < kQueryKinds; ++k)
    j.Int(kQueryNames[k], static_cast<int64_t>(qstats.errors[k]));
  j.EndObject().EndObject();
  j.BeginObject("queries_without_ingest")
      .Num("rate_per_s", o.query_rate)
      .Num("window_seconds", o.idle_query_seconds);
  for (int k = 0; k < kQueryKinds; ++k) j.Percent(kQueryNames[k], idle_qp[k]);
  j.Percent("tcp_round_trip", idle_floor);
  j.Num("stolen_cpus", idle.stolen_cpus);
  j.Num("disk_write_mib_per_s", idle.disk_write_mib_per_s);
  WarmUpAndSlowestJson(j, idle);
  j.EndObject();
  j.BeginObject("service_rss_peak_mib")
      .Num("sonar_ingest", static_cast<double>(ingest_rss_peak) * mib)
      .Num("sonar_query", static_cast<double>(query_rss_peak) * mib)
      .EndObject();
  j.BeginObject("check").Bool("live_counts_equal_fold", counts_match).EndObject();
  j.BeginObject("targets");
  for (const Target& tg : targets) {
    j.BeginObject(tg.name)
        .Str("rule", tg.rule)
        .Num("measured", tg.measured)
        .Bool("met", tg.Met())
        .EndObject();
  }
  j.EndObject();
  j.EndObject();
  std::ofstream(o.out) << j.Text();
  Say("wrote " + o.out);
  remove_work_dir = own_work_dir && exit_code == 0 && !o.keep_database;
  return exit_code;
}

}  // namespace
}  // namespace sonar::bench

int main(int argc, char** argv) {
  using sonar::bench::Options;
  Options o;
  for (int i = 0; i < argc; ++i) o.command_line += (i ? " " : "") + std::string(argv[i]);
  CLI::App app{"sonar-bench: ingest vs COPY vs naive, queries under ingest, publishing"};
  app.add_option("--database-url", o.database_url,
                 "PostgreSQL to use (a scratch database bench_<pid> is created in it); "
                 "default: start a throwaway cluster");
  app.add_option("--database-url-file", o.database_url_file, "read --database-url from this file");
  app.add_option("--pg-script", o.pg_script, "scripts/pg-throwaway.sh")->capture_default_str();
  app.add_flag("--keep-database", o.keep_database, "keep the scratch database (and cluster)");
  app.add_flag("--no-pseudonymise", o.no_pseudonymise,
               "run sonar-ingest without --hmac-key-file (client refs stored as sent)");
  app.add_flag("--national", o.national, "full national scale: 2M persons, 10M events");
  app.add_option("--persons", o.population.persons, "persons")->capture_default_str();
  app.add_option("--events", o.population.events, "events sent, resends included")
      ->capture_default_str();
  app.add_option("--seed", o.population.seed, "population seed")->capture_default_str();
  app.add_option("--late-share", o.population.late_share, "share of events sent late")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--duplicate-share", o.population.duplicate_share,
                 "share of events that are resends")
      ->check(CLI::Range(0.0, 0.5))
      ->capture_default_str();
  app.add_option("--streams", o.streams, "concurrent ingest streams (and naive clients)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--batch-size", o.batch_size, "events per ingest request")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--in-flight", o.in_flight, "unacknowledged batches per stream")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--ingest-workers", o.ingest_workers, "sonar-ingest --workers")
      ->capture_default_str();
  app.add_option("--query-workers", o.query_workers, "sonar-query --workers")
      ->capture_default_str();
  app.add_option("--tail-share", o.tail_share,
                 "share of the events ingested during the query phase (after publishing)")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  app.add_option("--naive-sample", o.naive_sample, "events sent to the naive peer")
      ->capture_default_str();
  app.add_option("--query-rate", o.query_rate, "queries per second, all kinds together")
      ->check(CLI::Range(1.0, 100000.0))
      ->capture_default_str();
  app.add_option("--query-seconds", o.query_seconds, "longest query window")->capture_default_str();
  app.add_option("--idle-query-seconds", o.idle_query_seconds,
                 "the same queries with no ingest running first (baseline); 0 = skip")
      ->capture_default_str();
  app.add_option("--out", o.out, "JSON result file")->capture_default_str();
  app.add_option("--ingest-binary", o.ingest_binary, "sonar-ingest (default: next to sonar-bench)");
  app.add_option("--query-binary", o.query_binary, "sonar-query (default: next to sonar-bench)");
  app.add_option("--work-dir", o.work_dir,
                 "service logs, port files, throwaway cluster (default: a new /tmp dir)");
  app.add_option("--perf-out", o.perf_out,
                 "run `perf record -a -g` during the ingest phase into this file");
  app.add_option("--perf-seconds", o.perf_seconds, "length of the perf recording")
      ->capture_default_str();
  app.add_option("--pg-setting", o.pg_settings,
                 "a server setting for the throwaway cluster, e.g. --pg-setting "
                 "max_wal_size=8GB (ALTER SYSTEM, then a restart; repeatable)");
  app.add_option("--ingest-arg", o.ingest_extra,
                 "one more flag for sonar-ingest, e.g. --ingest-arg=--fold-interval-ms=200 "
                 "(repeatable)");
  app.add_option("--query-arg", o.query_extra,
                 "one more flag for sonar-query, e.g. --query-arg=--workers=4 (repeatable)");
  app.add_option("--service-log-level", o.service_log_level, "--log-level of both services")
      ->capture_default_str();
  app.add_option("--query-realtime-priority", o.query_realtime_priority,
                 "run sonar-query (--realtime-priority), the measuring client and the echo "
                 "server of the floor in the SCHED_RR class at this priority; 0: the normal "
                 "class (needs CAP_SYS_NICE or RLIMIT_RTPRIO)")
      ->check(CLI::Range(0, sonar::service::kMaxRealtimePriority))
      ->capture_default_str();
  app.add_option("--query-client", o.query_client,
                 "internal: be the measuring client of one query window; results to this file")
      ->group("");
  app.add_option("--query-client-addr", o.query_client_addr, "internal")->group("");
  app.add_option("--query-client-quarter", o.query_client_quarter, "internal")->group("");
  app.add_option("--query-client-echo-port", o.query_client_echo_port, "internal")->group("");
  app.add_option("--echo-server", o.echo_server,
                 "internal: serve the TCP echo that measures the round-trip floor; port to this "
                 "file")
      ->group("");
  CLI11_PARSE(app, argc, argv);
  signal(SIGPIPE, SIG_IGN);
  try {
    if (!o.query_client.empty()) return sonar::bench::RunQueryClient(o);
    if (!o.echo_server.empty()) {
      if (!sonar::bench::EnterQueryClass(o, "echo server")) return 3;
      sonar::bench::RunEchoServer(o.echo_server);
    }
    return sonar::bench::Run(o);
  } catch (const std::exception& e) {
    std::cerr << "sonar-bench: fatal: " << e.what() << std::endl;
    return 2;
  }
}
