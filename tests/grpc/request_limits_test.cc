// Requests the services must refuse or hold back, over real gRPC on loopback: undecodable bodies
// (INVALID_ARGUMENT on every unary method and on WatchLiveCounts, not gRPC's UNIMPLEMENTED), the
// process-wide byte budget of in-flight ingest requests (--max-inflight-bytes), callers without
// the role of a query method, query-service reads beyond its database workers' queue, and
// watchers, whose reads that queue never refuses.
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <iostream>
#include <pqxx/pqxx>
#include <thread>

#include "storage/pg_connection.h"
#include "tests/support/test_database.h"
#include "tests/support/test_servers.h"

namespace sonar {
namespace {

using namespace std::chrono_literals;

// A batch of `events` valid events of about 190 bytes each (128-character event ids).
v1::IngestRequest Batch(const std::string& prefix, uint64_t batch_id, int events) {
  v1::IngestRequest r;
  r.set_batch_id(batch_id);
  for (int i = 0; i < events; ++i) {
    v1::Event* e = r.add_events();
    std::string id = prefix + "-" + std::to_string(batch_id) + "-" + std::to_string(i) + "-";
    id.resize(128, 'x');
    e->set_event_id(id);
    e->set_source("limits");
    e->set_client_ref("LimitsTestPerson" + std::to_string(batch_id * 100'000 + i));
    e->mutable_occurred_at()->set_seconds(1651399200);
    e->mutable_target_group_entered()->set_municipality_code("GM0654");
  }
  return r;
}

grpc::Status RawUnary(grpc::GenericStub& stub, const std::string& method, const std::string& body,
                      const std::string& token = "") {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

// Opens a server-streaming call with a raw request body and reads until the call ends.
grpc::Status RawServerStreaming(grpc::GenericStub& stub, const std::string& method,
                                const std::string& body, int* messages) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&ctx, method, &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](int want) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(tag, reinterpret_cast<void*>(static_cast<intptr_t>(want)));
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1), response;
  call->WriteLast(request, grpc::WriteOptions(), reinterpret_cast<void*>(2));
  step(2);
  *messages = 0;
  for (;;) {
    call->Read(&response, reinterpret_cast<void*>(3));
    if (!step(3)) break;
    ++*messages;
    // A watch that works keeps the stream open: one message is enough to know.
    ctx.TryCancel();
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  step(4);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

// Every unary method, with its request message.
const std::vector<std::pair<std::string, std::string>> kUnaryMethods = {
    {"/sonar.v1.IngestService/IngestBatch", "sonar.v1.IngestRequest"},
    {"/sonar.v1.QueryService/GetLiveCounts", "sonar.v1.GetLiveCountsRequest"},
    {"/sonar.v1.QueryService/GetQuarterReport", "sonar.v1.GetQuarterReportRequest"},
    {"/sonar.v1.QueryService/RenderQuarterReport", "sonar.v1.RenderQuarterReportRequest"},
    {"/sonar.v1.QueryService/PublishQuarter", "sonar.v1.PublishQuarterRequest"},
    {"/sonar.v1.QueryService/GetRevisionDiff", "sonar.v1.GetRevisionDiffRequest"}};

TEST(RequestLimits, UndecodableBodiesAreInvalidArgumentOnEveryMethod) {
  testing::TestDatabase db;
  testing::TestServers servers(db.url());
  grpc::GenericStub stub(
      grpc::CreateChannel(servers.address(), grpc::InsecureChannelCredentials()));
  // Field 2 with wire type 7 (no such type).
  const std::string bad_wire_type = std::string("\x17xyz", 4);
  for (const auto& [method, message] : kUnaryMethods) {
    const grpc::Status s = RawUnary(stub, method, bad_wire_type);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
    EXPECT_EQ(s.error_message(), "request body is not a valid " + message) << method;
  }
  // A string field (region) holding invalid UTF-8: proto3 refuses to parse it.
  const grpc::Status utf8 = RawUnary(stub, "/sonar.v1.QueryService/GetLiveCounts",
                                     std::string("\x0a\x03\xC3\x28\xFF", 5));
  EXPECT_EQ(utf8.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << utf8.error_message();
  // The server-streaming method too, and it still serves a well-formed request.
  int messages = 0;
  const grpc::Status watch =
      RawServerStreaming(stub, "/sonar.v1.QueryService/WatchLiveCounts", bad_wire_type, &messages);
  EXPECT_EQ(watch.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << watch.error_message();
  EXPECT_EQ(watch.error_message(), "request body is not a valid sonar.v1.WatchLiveCountsRequest");
  EXPECT_EQ(messages, 0);
  v1::WatchLiveCountsRequest watch_29;
  watch_29.set_region("29");
  EXPECT_EQ(RawServerStreaming(stub, "/sonar.v1.QueryService/WatchLiveCounts",
                               watch_29.SerializeAsString(), &messages)
                .error_code(),
            grpc::StatusCode::CANCELLED);
  EXPECT_EQ(messages, 1);
  // The methods still answer well-formed requests.
  v1::GetLiveCountsRequest live;
  live.set_region("29");
  EXPECT_EQ(
      RawUnary(stub, "/sonar.v1.QueryService/GetLiveCounts", live.SerializeAsString()).error_code(),
      grpc::StatusCode::OK);
}

TEST(RequestLimits, InflightByteBudgetHoldsStreamsBack) {
  testing::TestDatabase db;
  constexpr uint64_t kBudget = 512 << 10;
  constexpr int kStreams = 4, kBatches = 12, kEventsPerBatch = 400;
  // Per stream, 64 batches may be in flight: without the budget, all 12 of each stream could be.
  testing::TestServers servers(
      db.url(),
      {.ingest_workers = 1, .max_in_flight_per_stream = 64, .max_inflight_bytes = kBudget});
  auto stub = servers.IngestStub();
  const size_t batch_bytes = Batch("budget-0", 1, kEventsPerBatch).ByteSizeLong();
  std::atomic<int> acked{0};
  std::vector<std::thread> streams;
  for (int s = 0; s < kStreams; ++s) {
    streams.emplace_back([&, s] {
      grpc::ClientContext ctx;
      auto stream = stub->Ingest(&ctx);
      std::thread writer([&] {
        for (int b = 1; b <= kBatches; ++b) {
          if (!stream->Write(Batch("budget-" + std::to_string(s), b, kEventsPerBatch))) return;
        }
        stream->WritesDone();
      });
      v1::IngestResponse response;
      while (stream->Read(&response)) {
        EXPECT_EQ(response.accepted(), static_cast<uint32_t>(kEventsPerBatch));
        ++acked;
      }
      writer.join();
      EXPECT_TRUE(stream->Finish().ok());
    });
  }
  for (auto& t : streams) t.join();
  // The last batch's bytes are released just after its ack is queued.
  for (int i = 0; i < 100 && servers.ingest_service().inflight_bytes().now > 0; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  const service::InflightBytes inflight = servers.ingest_service().inflight_bytes();
  std::cout << "[ budget   ] " << kStreams << " streams x " << kBatches << " batches of "
            << batch_bytes << " bytes, budget " << kBudget << ": peak in flight " << inflight.peak
            << " bytes (" << inflight.peak / batch_bytes << " batches), now " << inflight.now
            << "\n";
  EXPECT_EQ(acked.load(), kStreams * kBatches);
  EXPECT_EQ(inflight.now, 0u);
  EXPECT_GT(inflight.peak, 0u);
  // Under the budget, plus at most one request per stream read while it was under.
  EXPECT_LE(inflight.peak, kBudget + kStreams * batch_bytes);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events WHERE source = 'limits'"),
            std::to_string(kStreams * kBatches * kEventsPerBatch));
}

TEST(RequestLimits, RequestLargerThanTheBudgetIsResourceExhausted) {
  testing::TestDatabase db;
  constexpr uint64_t kBudget = 1 << 20;
  testing::TestServers servers(db.url(), {.max_inflight_bytes = kBudget});
  auto stub = servers.IngestStub();
  const v1::IngestRequest big = Batch("big", 2, 8000);  // ~1.5 MiB
  ASSERT_GT(big.ByteSizeLong(), kBudget);
  {
    grpc::ClientContext ctx;
    v1::IngestResponse response;
    const grpc::Status s = stub->IngestBatch(&ctx, big, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(s.error_message().find("--max-inflight-bytes"), std::string::npos)
        << s.error_message();
  }
  // On a stream: the batch before it is acknowledged, then the stream ends with the refusal.
  grpc::ClientContext ctx;
  auto stream = stub->Ingest(&ctx);
  ASSERT_TRUE(stream->Write(Batch("small", 1, 10)));
  (void)stream->Write(big);
  stream->WritesDone();
  std::vector<v1::IngestResponse> acks;
  for (v1::IngestResponse r; stream->Read(&r);) acks.push_back(r);
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].batch_id(), 1u);
  EXPECT_EQ(acks[0].accepted(), 10u);
  for (int i = 0; i < 100 && servers.ingest_service().inflight_bytes().now > 0; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(servers.ingest_service().inflight_bytes().now, 0u);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events WHERE event_id LIKE 'big-%'"), "0");
}

TEST(RequestLimits, EveryQueryMethodChecksTheCallersRole) {
  testing::TestDatabase db;
  auto authorizer = service::Authorizer::FromText(
      "token ingest-secret ingest\ntoken query-secret query\ntoken admin-secret admin\n");
  ASSERT_TRUE(authorizer.ok()) << authorizer.status();
  testing::TestServers servers(db.url(), {.query_authorizer = *authorizer});
  grpc::GenericStub stub(
      grpc::CreateChannel(servers.address(), grpc::InsecureChannelCredentials()));
  for (const auto& [method, message] : kUnaryMethods) {
    if (!method.starts_with("/sonar.v1.QueryService/")) continue;
    // An empty body is a valid request of every method.
    EXPECT_EQ(RawUnary(stub, method, "").error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
    EXPECT_EQ(RawUnary(stub, method, "", "wrong-secret").error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << method;
    EXPECT_EQ(RawUnary(stub, method, "", "ingest-secret").error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << method;
    // PublishQuarter needs the admin role, the reads the query role (admin alone is not enough).
    const bool publishing = method.ends_with("/PublishQuarter");
    const grpc::StatusCode allowed =
        RawUnary(stub, method, "", publishing ? "admin-secret" : "query-secret").error_code();
    const grpc::StatusCode refused =
        RawUnary(stub, method, "", publishing ? "query-secret" : "admin-secret").error_code();
    EXPECT_EQ(refused, grpc::StatusCode::PERMISSION_DENIED) << method;
    // Past the role check the empty request is refused for what it says (no such region, no
    // quarter), never for who sent it.
    EXPECT_TRUE(allowed == grpc::StatusCode::NOT_FOUND ||
                allowed == grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << allowed;
  }
}

TEST(RequestLimits, QueryReadsBeyondTheWorkersQueueAreResourceExhausted) {
  testing::TestDatabase db;
  // No read model, so every read needs a database worker, and no room to wait for one.
  testing::TestServers servers(db.url(), {.read_model = false, .query_queue_capacity = 0});
  grpc::GenericStub stub(
      grpc::CreateChannel(servers.address(), grpc::InsecureChannelCredentials()));
  v1::GetLiveCountsRequest live;
  live.set_region("29");
  v1::GetQuarterReportRequest report;
  report.set_region("29");
  report.set_quarter("2022-Q3");
  v1::RenderQuarterReportRequest render;
  *render.mutable_report() = report;
  for (const auto& [method, body] :
       {std::pair<std::string, std::string>{"/sonar.v1.QueryService/GetLiveCounts",
                                            live.SerializeAsString()},
        {"/sonar.v1.QueryService/GetQuarterReport", report.SerializeAsString()},
        {"/sonar.v1.QueryService/RenderQuarterReport", render.SerializeAsString()}}) {
    const grpc::Status s = RawUnary(stub, method, body);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << method;
    EXPECT_EQ(s.error_message(), "query queue is full; retry later") << method;
  }
  // While the server drains, its workers stop before gRPC does: a read then is refused as
  // UNAVAILABLE (another replica can answer), not as a full queue.
  servers.backends().Shutdown();
  for (const auto& [method, body] :
       {std::pair<std::string, std::string>{"/sonar.v1.QueryService/GetLiveCounts",
                                            live.SerializeAsString()},
        {"/sonar.v1.QueryService/GetQuarterReport", report.SerializeAsString()}}) {
    const grpc::Status s = RawUnary(stub, method, body);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << method << " " << s.error_message();
  }
}

// Watchers are bounded too (each may have a read queued past the workers' queue): beyond
// --max-watchers a watch is refused with RESOURCE_EXHAUSTED, and one that ends makes room.
TEST(RequestLimits, WatchersBeyondTheLimitAreResourceExhausted) {
  testing::TestDatabase db;
  testing::TestServers servers(db.url(), {.max_watchers = 2});
  auto stub = servers.QueryStub();
  struct Watch {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::LiveCounts>> reader;
    v1::LiveCounts first;
    bool opened = false;
  };
  auto open = [&](Watch& w) {
    w.ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    v1::WatchLiveCountsRequest req;
    req.set_region("29");
    w.reader = stub->WatchLiveCounts(&w.ctx, req);
    w.opened = w.reader->Read(&w.first);
  };
  Watch a, b, c;
  open(a);
  open(b);
  ASSERT_TRUE(a.opened);
  ASSERT_TRUE(b.opened);
  open(c);
  EXPECT_FALSE(c.opened);
  const grpc::Status refused = c.reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  // One ends; the service lets go of it once gRPC has called its OnDone.
  a.ctx.TryCancel();
  (void)a.reader->Finish();
  bool reopened = false;
  for (int i = 0; i < 100 && !reopened; ++i) {
    Watch d;
    open(d);
    reopened = d.opened;
    if (reopened) {
      d.ctx.TryCancel();
    } else {
      std::this_thread::sleep_for(50ms);
    }
    (void)d.reader->Finish();
  }
  EXPECT_TRUE(reopened);
  b.ctx.TryCancel();
  (void)b.reader->Finish();
}

TEST(RequestLimits, WatchersAreServedWhenTheQueryQueueIsFull) {
  testing::TestDatabase db;
  // No read model: watchers and live-count calls read the database, on two workers with room
  // for one waiting job.
  testing::TestServers servers(db.url(), {.read_model = false, .query_queue_capacity = 1});
  auto stub = servers.QueryStub();
  struct Watch {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::LiveCounts>> reader;
  };
  auto watch = [&](Watch& w) {
    v1::WatchLiveCountsRequest req;
    req.set_region("29");
    w.reader = stub->WatchLiveCounts(&w.ctx, req);
  };
  // The watch's next message, or nullopt when none comes within 10 s (the watch is cancelled).
  auto next = [](Watch& w) -> std::optional<v1::LiveCounts> {
    auto read = std::async(std::launch::async, [&w]() -> std::optional<v1::LiveCounts> {
      v1::LiveCounts m;
      if (!w.reader->Read(&m)) return std::nullopt;
      return m;
    });
    if (read.wait_for(10s) != std::future_status::ready) w.ctx.TryCancel();
    return read.get();
  };
  // The feed's snapshot reads live_counts too: let it load before the table is locked.
  for (int i = 0; i < 1000 && !servers.feed().ready(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(servers.feed().ready());
  Watch early;
  watch(early);
  const auto first = next(early);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->region().register_total(), 0);

  // Both workers wait for a lock on live_counts, one call waits in the queue, the next is
  // refused.
  pqxx::connection locker(db.url());
  pqxx::work lock(locker);
  lock.exec("LOCK TABLE live_counts IN ACCESS EXCLUSIVE MODE");
  struct Call {
    grpc::ClientContext ctx;
    v1::GetLiveCountsRequest req;
    v1::LiveCounts resp;
    std::promise<grpc::Status> done;
  };
  std::vector<std::unique_ptr<Call>> calls;
  auto call = [&] {
    auto& c = *calls.emplace_back(std::make_unique<Call>());
    c.ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    c.req.set_region("29");
    stub->async()->GetLiveCounts(&c.ctx, &c.req, &c.resp,
                                 [&c](grpc::Status s) { c.done.set_value(std::move(s)); });
  };
  pqxx::connection observer(db.url());
  // One call at a time until a worker waits for it: two calls sent at once could both find the
  // queue's one place before a worker takes the first.
  for (int waiting = 1; waiting <= 2; ++waiting) {
    call();
    int locked = 0;
    for (int i = 0; i < 1000 && locked < waiting; ++i) {
      if (i > 0) std::this_thread::sleep_for(10ms);
      pqxx::nontransaction tx(observer);
      locked = tx.exec1(
                     "SELECT count(*) FROM pg_locks WHERE relation = "
                     "'live_counts'::regclass AND NOT granted")[0]
                   .as<int>();
    }
    EXPECT_EQ(locked, waiting);
  }
  call();
  call();
  std::vector<std::future<grpc::Status>> outcomes;
  for (auto& c : calls) outcomes.push_back(c->done.get_future());
  int refused = 0;
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       refused == 0 && std::chrono::steady_clock::now() < deadline;) {
    for (auto& o : outcomes) {
      if (o.valid() && o.wait_for(10ms) == std::future_status::ready) {
        EXPECT_EQ(o.get().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
        ++refused;
      }
    }
  }
  EXPECT_EQ(refused, 1);

  // A watcher that joins now, and a change for the one already watching.
  Watch late;
  watch(late);
  servers.Send(
      {{"sonar", "watch-1", "WatchQueueTestPerson01", core::Instant{*core::ParseDate("2022-05-01")},
        core::EventKind::kTargetGroupEntered, "GM0654", core::Registrant::kUnspecified}});
  // The feed has woken the watchers once a marker sent after it applied the batch is through.
  for (int i = 0; i < 1000 && servers.feed().stats().batches_applied == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  storage::PgConnection primary(db.url());
  EXPECT_TRUE(servers.feed().Sync(primary, 10s).ok());
  lock.commit();

  // Neither the early watcher's change nor the late watcher's first read was lost.
  const auto changed = next(early);
  ASSERT_TRUE(changed.has_value()) << "the early watcher's change was dropped";
  EXPECT_EQ(changed->region().register_total(), 1);
  const auto joined = next(late);
  ASSERT_TRUE(joined.has_value()) << "the late watcher's first read was dropped";
  EXPECT_EQ(joined->region().register_total(), 1);
  for (auto& o : outcomes) {
    if (o.valid()) {
      EXPECT_TRUE(o.get().ok());
    }
  }
  early.ctx.TryCancel();
  late.ctx.TryCancel();
}

TEST(RequestLimits, WatchesEndingWhileTheirReadRunsAreFreedOnlyAfterIt) {
  testing::TestDatabase db;
  testing::TestServers servers(db.url());
  // Wakes every watcher again and again, so that most cancellations find a read running: the
  // read job then finishes the call on a worker thread, holding the watcher's mutex, while gRPC
  // runs OnDone, which frees the watcher, on another one. A use after free there seldom shows in
  // a normal build; built with -fsanitize=thread, this test reports it unless OnDone waits for the
  // mutex.
  std::atomic<bool> stop = false;
  std::thread waker([&] {
    while (!stop) servers.query_service().NotifyChanged();
  });
  auto stub = servers.QueryStub();
  constexpr int kRounds = 100, kWatchers = 8;
  int first_messages = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<std::unique_ptr<grpc::ClientReader<v1::LiveCounts>>> readers;
    v1::WatchLiveCountsRequest req;
    req.set_region("29");
    for (int w = 0; w < kWatchers; ++w) {
      auto& ctx = *contexts.emplace_back(std::make_unique<grpc::ClientContext>());
      ctx.set_deadline(std::chrono::system_clock::now() + 20s);
      readers.push_back(stub->WatchLiveCounts(&ctx, req));
    }
    for (auto& reader : readers) {
      v1::LiveCounts live;
      if (reader->Read(&live)) ++first_messages;
    }
    for (auto& ctx : contexts) ctx->TryCancel();
    for (auto& reader : readers) (void)reader->Finish();
  }
  stop = true;
  waker.join();
  EXPECT_EQ(first_messages, kRounds * kWatchers);
}

TEST(RequestLimits, ManyReadsWaitingForTheDatabaseAreAllAnswered) {
  testing::TestDatabase db;
  // Two database workers, no read model: the calls wait in the workers' queue.
  testing::TestServers servers(db.url(), {.read_model = false});
  constexpr int kCalls = 48;
  auto stub = servers.QueryStub();
  std::vector<std::thread> callers;
  std::atomic<int> answered = 0;
  for (int i = 0; i < kCalls; ++i) {
    callers.emplace_back([&, i] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 30s);
      grpc::Status s;
      if (i % 2 == 0) {
        v1::GetLiveCountsRequest req;
        req.set_region("29");
        req.set_fresh(true);
        v1::LiveCounts out;
        s = stub->GetLiveCounts(&ctx, req, &out);
        if (s.ok() && out.region().number() == "29") ++answered;
      } else {
        v1::GetQuarterReportRequest req;
        req.set_region("29");
        req.set_quarter("2022-Q3");
        req.set_provisional(true);
        v1::QuarterReport out;
        s = stub->GetQuarterReport(&ctx, req, &out);
        if (s.ok() && out.status() == v1::REPORT_STATUS_PROVISIONAL) ++answered;
      }
      EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(answered.load(), kCalls);
}

}  // namespace
}  // namespace sonar
