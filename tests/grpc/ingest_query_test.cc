// The whole write and read path over real gRPC on loopback and a real PostgreSQL: the seed table
// comes out of events sent shuffled, duplicated and conflicting over concurrent streams.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/figures.h"
#include "ingest/pseudonymizer.h"
#include "service/proto_mapping.h"
#include "service/sonarctl_ingest.h"
#include "sim/seed_population.h"
#include "tests/support/test_database.h"
#include "tests/support/test_servers.h"

namespace sonar {
namespace {

const core::Quarter kQ3_2022{2022, 3};

sim::Population ZeelandPopulation(bool noise, core::Instant now) {
  sim::PopulationOptions options;
  options.quarter = kQ3_2022;
  options.rows = sim::ZeelandSeedRows();
  options.register_only = 1454;
  options.sonar_only = 37;
  options.noise = noise;
  options.now = now;
  options.seed = 7;
  return sim::GeneratePopulation(options, core::ReferenceData::Builtin());
}

std::vector<v1::Event> ToProto(const std::vector<core::Event>& events) {
  std::vector<v1::Event> out;
  for (const core::Event& e : events) out.push_back(service::ToProto(e));
  return out;
}

// Sends `events` over `streams` concurrent streams; returns the summed summary.
service::IngestSummary SendConcurrently(const std::string& addr,
                                        const std::vector<v1::Event>& events, int streams,
                                        int batch_size) {
  std::vector<std::vector<v1::Event>> parts(streams);
  for (size_t i = 0; i < events.size(); ++i) parts[i % streams].push_back(events[i]);
  std::vector<service::IngestSummary> summaries(streams);
  std::vector<std::thread> threads;
  for (int s = 0; s < streams; ++s) {
    threads.emplace_back([&, s] {
      std::ostringstream errors;
      EXPECT_TRUE(service::StreamEvents(addr, parts[s], batch_size, 4, summaries[s], errors))
          << errors.str();
    });
  }
  for (auto& t : threads) t.join();
  service::IngestSummary total;
  for (const auto& s : summaries) {
    total.sent += s.sent;
    total.accepted += s.accepted;
    total.duplicates += s.duplicates;
    total.rejected += s.rejected;
  }
  return total;
}

v1::LiveCounts GetLive(testing::TestServers& servers, const std::string& region) {
  auto stub = servers.QueryStub();
  grpc::ClientContext ctx;
  v1::GetLiveCountsRequest req;
  req.set_region(region);
  req.set_fresh(true);  // read-your-writes: the events were just acknowledged
  v1::LiveCounts resp;
  grpc::Status status = stub->GetLiveCounts(&ctx, req, &resp);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return resp;
}

TEST(IngestQuery, SeedTableComesOutOfShuffledDuplicatedConcurrentStreams) {
  testing::TestDatabase db;
  testing::TestServers servers(db.url());
  // No event after the quarter's end: the live counts are then the seed publication.
  const sim::Population population =
      ZeelandPopulation(true, kQ3_2022.End() - std::chrono::seconds(1));
  std::vector<v1::Event> events = ToProto(population.events);
  const size_t originals = events.size();
  std::mt19937 rng(3);
  for (size_t i = 0; i < originals; i += 7) events.push_back(events[i]);  // resent
  std::shuffle(events.begin(), events.end(), rng);

  const service::IngestSummary sent = SendConcurrently(servers.address(), events, 4, 250);
  EXPECT_EQ(sent.sent, events.size());
  EXPECT_EQ(sent.accepted, originals);
  EXPECT_EQ(sent.duplicates, events.size() - originals);
  EXPECT_EQ(sent.rejected, 0u);

  // Conflicts after the originals are durable: same keys, other content; the first stays.
  std::vector<v1::Event> conflicting;
  for (size_t i = 0; i < 20; ++i) {
    v1::Event e = service::ToProto(population.events[i * 31]);
    e.mutable_occurred_at()->set_seconds(e.occurred_at().seconds() - 3600);
    conflicting.push_back(e);
  }
  const service::IngestSummary conflicts = SendConcurrently(servers.address(), conflicting, 2, 7);
  EXPECT_EQ(conflicts.rejected, 20u);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM rejected_events WHERE code = 'conflict'"), "20");

  const std::vector<sim::SeedRow> seed = sim::ZeelandSeedRows();
  for (const std::string region : {"29", "AM24"}) {
    const v1::LiveCounts live = GetLive(servers, region);
    const v1::RegionFigures& r = live.region();
    EXPECT_EQ(r.name(), "Zeeland");
    EXPECT_EQ(r.number(), "29");
    EXPECT_EQ(r.cbs_code(), "AM24");
    ASSERT_EQ(r.municipalities_size(), 13);
    for (int i = 0; i < 13; ++i) {
      const auto& m = r.municipalities(i);
      SCOPED_TRACE(m.name());
      EXPECT_EQ(m.code(), seed[i].municipality_code);
      EXPECT_EQ(m.cells().gemeente_with_profile(), seed[i].gemeente_with_profile);
      EXPECT_EQ(m.cells().gemeente_without_profile(), seed[i].gemeente_without_profile);
      EXPECT_EQ(m.cells().uwv_with_profile(), seed[i].uwv_with_profile);
      EXPECT_EQ(m.cells().uwv_without_profile(), seed[i].uwv_without_profile);
    }
    EXPECT_EQ(r.total().gemeente_with_profile(), 90);
    EXPECT_EQ(r.total().gemeente_without_profile(), 833);
    EXPECT_EQ(r.total().uwv_with_profile(), 1239);
    EXPECT_EQ(r.total().uwv_without_profile(), 509);
    EXPECT_EQ(r.total().total_in_sonar(), 2671);
    EXPECT_EQ(r.known_in_sonar(), 2671);
    EXPECT_EQ(r.register_total(), 4125);
    EXPECT_EQ(core::RoundedPercent(r.known_in_sonar(), r.register_total()), 65);
  }
}

TEST(IngestQuery, LiveCountsIncludeEveryAcknowledgedEventAfterTheQuarter) {
  testing::TestDatabase db;
  testing::TestServers servers(db.url());
  const core::Instant now = core::Instant{*core::ParseDate("2022-11-15")};
  const sim::Population population = ZeelandPopulation(true, now);
  std::vector<v1::Event> events = ToProto(population.events);
  std::shuffle(events.begin(), events.end(), std::mt19937(11));
  SendConcurrently(servers.address(), events, 3, 100);

  // Oracle: fold everything, place it on today's municipality layout.
  const auto folded = sim::FoldAt(population.events, core::Instant::max());
  std::vector<core::CounterRow> rows;
  for (const auto& [code, cells] : folded) {
    rows.push_back({code, core::Cell::kGemeenteWithProfile, cells.gemeente_with_profile});
    rows.push_back({code, core::Cell::kGemeenteWithoutProfile, cells.gemeente_without_profile});
    rows.push_back({code, core::Cell::kUwvWithProfile, cells.uwv_with_profile});
    rows.push_back({code, core::Cell::kUwvWithoutProfile, cells.uwv_without_profile});
    rows.push_back({code, core::Cell::kRegisterOnly, cells.register_only});
  }
  const v1::LiveCounts live = GetLive(servers, "29");
  const core::Date today =
      core::AmsterdamDate(core::Instant{std::chrono::seconds{live.as_of().seconds()}});
  const core::RegionFigures expected =
      core::FiguresBuilder(core::ReferenceData::Builtin(), today).Region(29, rows);
  EXPECT_NE(expected.total.TotalInSonar(), 2671);  // the events after the quarter changed it
  EXPECT_EQ(live.region().total().total_in_sonar(), expected.total.TotalInSonar());
  EXPECT_EQ(live.region().register_total(), expected.RegisterTotal());
  for (int i = 0; i < live.region().municipalities_size(); ++i) {
    EXPECT_EQ(live.region().municipalities(i).register_total(),
              expected.municipalities[i].cells.RegisterTotal());
  }
}

TEST(IngestQuery, MalformedRequestsAndUnknownRegions) {
  testing::TestDatabase db;
  testing::TestServers servers(db.url());
  auto ingest = servers.IngestStub();
  {
    grpc::ClientContext ctx;
    v1::IngestRequest req;
    v1::IngestResponse resp;
    const grpc::Status s = ingest->IngestBatch(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    v1::IngestRequest req;
    for (int i = 0; i < 10'001; ++i) req.add_events()->set_event_id("x");
    v1::IngestResponse resp;
    const grpc::Status s = ingest->IngestBatch(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    // Bad events inside a good request: per-event rejections, the rest commits.
    grpc::ClientContext ctx;
    v1::IngestRequest req;
    req.set_batch_id(9);
    v1::Event* good = req.add_events();
    good->set_event_id("g1");
    good->set_source("sonar");
    good->set_client_ref("PseudonymForGrpcTest1");
    good->mutable_occurred_at()->set_seconds(1656633600);  // 2022-07-01
    good->mutable_target_group_entered()->set_municipality_code("GM0654");
    v1::Event* no_kind = req.add_events();
    *no_kind = *good;
    no_kind->set_event_id("g2");
    no_kind->clear_kind();
    v1::Event* bsn = req.add_events();
    *bsn = *good;
    bsn->set_event_id("g3");
    bsn->set_client_ref("111222333");
    v1::Event* unknown = req.add_events();
    *unknown = *good;
    unknown->set_event_id("g4");
    unknown->mutable_target_group_entered()->set_municipality_code("GM9999");
    // A BSN without a kind: the BSN is what the producer hears of.
    v1::Event* bsn_no_kind = req.add_events();
    *bsn_no_kind = *no_kind;
    bsn_no_kind->set_event_id("g5");
    bsn_no_kind->set_client_ref("111222333");
    v1::IngestResponse resp;
    const grpc::Status s = ingest->IngestBatch(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.batch_id(), 9u);
    EXPECT_EQ(resp.accepted(), 1u);
    ASSERT_EQ(resp.rejections_size(), 4);
    EXPECT_EQ(resp.rejections(3).code(), "probable_bsn");
    EXPECT_EQ(resp.rejections(0).index(), 1u);
    EXPECT_EQ(resp.rejections(0).code(), "missing_kind");
    EXPECT_EQ(resp.rejections(1).code(), "probable_bsn");
    EXPECT_EQ(resp.rejections(1).reason().find("111222333"), std::string::npos);
    EXPECT_EQ(resp.rejections(2).code(), "unknown_municipality");
    EXPECT_EQ(resp.rejections(2).reason().find("GM9999"), std::string::npos);
    // The BSN is stored nowhere, not even in the quarantined payload.
    EXPECT_EQ(db.Scalar("SELECT count(*) FROM rejected_events WHERE position('111222333' in "
                        "encode(payload, 'escape')) > 0"),
              "0");
    EXPECT_EQ(db.Scalar("SELECT count(*) FROM rejected_events"), "4");
  }
  {
    auto query = servers.QueryStub();
    grpc::ClientContext ctx;
    v1::GetLiveCountsRequest req;
    req.set_region("AM99");
    v1::LiveCounts resp;
    EXPECT_EQ(query->GetLiveCounts(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
}

TEST(IngestQuery, DatabaseDownIsUnavailableNeverAFalseAck) {
  testing::TestServers servers("postgresql://sonar@127.0.0.1:1/none?connect_timeout=2");
  auto ingest = servers.IngestStub();
  grpc::ClientContext ctx;
  v1::IngestRequest req;
  v1::Event* e = req.add_events();
  e->set_event_id("d1");
  e->set_source("sonar");
  e->set_client_ref("PseudonymForGrpcTest2");
  e->mutable_occurred_at()->set_seconds(1656633600);
  e->mutable_target_group_left();
  v1::IngestResponse resp;
  EXPECT_EQ(ingest->IngestBatch(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAVAILABLE);

  auto query = servers.QueryStub();
  grpc::ClientContext qctx;
  v1::GetLiveCountsRequest qreq;
  qreq.set_region("29");
  v1::LiveCounts qresp;
  EXPECT_EQ(query->GetLiveCounts(&qctx, qreq, &qresp).error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace sonar

namespace sonar {
namespace {

TEST(IngestQuery, ClientRefsArePseudonymisedBeforeStorage) {
  testing::TestDatabase db;
  testing::TestServerOptions options;
  options.hmac_key = "test-key-0123456789-0123456789-0123456789";
  testing::TestServers servers(db.url(), options);
  const sim::Population population =
      ZeelandPopulation(true, kQ3_2022.End() - std::chrono::seconds(1));
  std::vector<v1::Event> events = ToProto(population.events);
  std::shuffle(events.begin(), events.end(), std::mt19937(5));
  const service::IngestSummary sent = SendConcurrently(servers.address(), events, 2, 300);
  EXPECT_EQ(sent.accepted, events.size());
  // Resending is still recognised as duplicate, a changed event as conflict.
  std::vector<v1::Event> again(events.begin(), events.begin() + 50);
  again[0].mutable_occurred_at()->set_seconds(again[0].occurred_at().seconds() + 1);
  const service::IngestSummary resent = SendConcurrently(servers.address(), again, 1, 50);
  EXPECT_EQ(resent.duplicates, 49u);
  EXPECT_EQ(resent.rejected, 1u);

  // No reference a producer sent is in the database; each stored one is a keyed pseudonym.
  std::set<std::string> sent_refs;
  for (const auto& e : population.events) sent_refs.insert(e.client_ref);
  pqxx::connection conn(db.url());
  pqxx::nontransaction tx(conn);
  int checked = 0;
  const std::string key_id = ingest::Pseudonymizer::FromKey(options.hmac_key)->key_id() + ".";
  for (const auto& row :
       tx.exec("SELECT client_ref FROM clients UNION SELECT client_ref FROM events")) {
    const std::string stored = row[0].as<std::string>();
    EXPECT_EQ(sent_refs.count(stored), 0u);
    EXPECT_EQ(stored.rfind(key_id, 0), 0u) << stored;
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(sent_refs.size()));
  // The quarantine holds the rejected (conflicting) event with the pseudonym too: the one its
  // stored namesake has, not the reference sent.
  int quarantined = 0;
  for (const auto& row : tx.exec("SELECT r.payload, e.client_ref FROM rejected_events r "
                                 "JOIN events e USING (source, event_id)")) {
    const pqxx::binarystring payload(row[0]);
    v1::Event kept;
    ASSERT_TRUE(kept.ParseFromString(payload.str()));
    EXPECT_EQ(sent_refs.count(kept.client_ref()), 0u);
    EXPECT_EQ(kept.client_ref(), row[1].as<std::string>());
    EXPECT_EQ(kept.occurred_at().seconds(), again[0].occurred_at().seconds());
    ++quarantined;
  }
  EXPECT_EQ(quarantined, 1);
  // The figures are the same as without pseudonymisation.
  const v1::LiveCounts live = GetLive(servers, "29");
  EXPECT_EQ(live.region().total().total_in_sonar(), 2671);
  EXPECT_EQ(live.region().register_total(), 4125);
}

}  // namespace
}  // namespace sonar

namespace sonar {
namespace {

// A rejected event is kept as it was received, on both call kinds: the quarantined payload
// parses back to the event sent (the service hands the parsed request to the batch job rather
// than a copy, so this checks that the job's request is still whole when it quarantines).
TEST(IngestQuery, RejectedEventsAreKeptAsReceivedFromUnaryCallsAndStreams) {
  testing::TestDatabase db;
  testing::TestServers servers(db.url());
  auto stub = servers.IngestStub();
  auto request = [](uint64_t batch, const std::string& id) {
    v1::IngestRequest req;
    req.set_batch_id(batch);
    v1::Event* good = req.add_events();
    good->set_event_id(id + "-good");
    good->set_source("sonar");
    good->set_client_ref("PseudonymForPayloadTest1");
    good->mutable_occurred_at()->set_seconds(1656633600);
    good->mutable_target_group_entered()->set_municipality_code("GM0654");
    v1::Event* unknown = req.add_events();
    *unknown = *good;
    unknown->set_event_id(id + "-unknown");
    unknown->mutable_target_group_entered()->set_municipality_code("GM9999");
    return req;
  };
  const v1::IngestRequest unary = request(1, "unary");
  const v1::IngestRequest streamed = request(2, "stream");
  {
    grpc::ClientContext ctx;
    v1::IngestResponse resp;
    ASSERT_TRUE(stub->IngestBatch(&ctx, unary, &resp).ok());
    EXPECT_EQ(resp.accepted(), 1u);
    ASSERT_EQ(resp.rejections_size(), 1);
  }
  {
    grpc::ClientContext ctx;
    auto stream = stub->Ingest(&ctx);
    ASSERT_TRUE(stream->Write(streamed));
    stream->WritesDone();
    v1::IngestResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    EXPECT_EQ(resp.accepted(), 1u);
    ASSERT_EQ(resp.rejections_size(), 1);
    EXPECT_TRUE(stream->Finish().ok());
  }
  pqxx::connection conn(db.url());
  pqxx::nontransaction tx(conn);
  for (const v1::IngestRequest* sent : {&unary, &streamed}) {
    const v1::Event& rejected = sent->events(1);
    const pqxx::result rows = tx.exec_params(
        "SELECT code, payload FROM rejected_events WHERE event_id = $1", rejected.event_id());
    ASSERT_EQ(rows.size(), 1u) << rejected.event_id();
    EXPECT_EQ(rows[0][0].as<std::string>(), "unknown_municipality");
    const pqxx::binarystring payload(rows[0][1]);
    v1::Event kept;
    ASSERT_TRUE(kept.ParseFromString(payload.str())) << rejected.event_id();
    EXPECT_EQ(kept.SerializeAsString(), rejected.SerializeAsString()) << rejected.event_id();
  }
}

TEST(IngestQuery, StreamsBeyondTheLimitAreRefused) {
  testing::TestDatabase db;
  testing::TestServerOptions options;
  options.max_streams = 2;
  testing::TestServers servers(db.url(), options);
  auto stub = servers.IngestStub();
  grpc::ClientContext c1, c2, c3;
  auto s1 = stub->Ingest(&c1);
  auto s2 = stub->Ingest(&c2);
  // Let both reach the server before the third arrives.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto s3 = stub->Ingest(&c3);
  v1::IngestResponse resp;
  EXPECT_FALSE(s3->Read(&resp));
  const grpc::Status refused = s3->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  for (auto* s : {s1.get(), s2.get()}) s->WritesDone();
  EXPECT_TRUE(s1->Finish().ok());
  EXPECT_TRUE(s2->Finish().ok());
}

}  // namespace
}  // namespace sonar
