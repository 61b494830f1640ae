// Faults while events stream in: the ingest process killed, the database crashed and restarted,
// connections terminated, the process frozen, three processes racing on the same events. Each
// test ends with the invariant check: counters == recomputation from the stored events, every
// acknowledged event stored once.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "service/sonarctl_ingest.h"
#include "sonar/v1/ingest.grpc.pb.h"
#include "storage/migrator.h"
#include "storage/pg_verifier.h"
#include "tests/support/populations.h"
#include "tests/support/process.h"
#include "tests/support/server_process.h"
#include "tests/support/test_database.h"

namespace sonar {
namespace {

using namespace std::chrono_literals;
using testing::BinaryPath;
using testing::ChildProcess;
using testing::ReadFile;

using Ingest = testing::ServerProcess;

// sonar-ingest on a fixed port, so a restarted process has the same address.
Ingest StartIngest(const std::string& url, int port, const std::string& log) {
  return testing::StartServer("sonar-ingest", {"--database-url", url, "--plaintext"},
                              "127.0.0.1:" + std::to_string(port), log);
}

void ExpectInvariant(const std::string& url, size_t unique_events) {
  auto report = storage::VerifyCounters(url);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << "live " << report->live_mismatches << ", quarter "
                            << report->quarter_mismatches << ", history "
                            << report->history_mismatches << ", events " << report->events
                            << " vs accepted " << report->accepted_in_batches;
  EXPECT_EQ(report->events, static_cast<int64_t>(unique_events));
}

struct Producer {
  service::IngestSummary summary;
  std::ostringstream errors;
  bool ok = false;
  std::thread thread;

  Producer(const std::string& addr, const std::vector<v1::Event>& events, int batch_size = 200) {
    thread = std::thread([this, addr, &events, batch_size] {
      ok = service::StreamEvents(addr, events, batch_size, 4, summary, errors, 60);
    });
  }
  void Join() { thread.join(); }
};

int Health(const std::string& addr) {
  std::string out;
  return testing::RunProgram(BinaryPath("sonarctl"), {"--addr", addr, "health"}, out, 10s);
}

TEST(Faults, SigkillIngestFiveTimesWhileStreaming) {
  testing::TestDatabase db;
  const sim::Population population = testing::ScaledZeeland(70, 101);  // ~200k events
  const std::vector<v1::Event> events = testing::ToProtoShuffled(population.events, 1);
  const int port = testing::FreePort();
  const std::string log = testing::MakeTempDir("kill") + "/ingest.log";
  Ingest ingest = StartIngest(db.url(), port, log);
  Producer producer(ingest.addr, events);
  for (int kill = 0; kill < 5; ++kill) {
    std::this_thread::sleep_for(900ms);
    ingest.process->Signal(SIGKILL);
    EXPECT_EQ(ingest.process->Wait(10s), 128 + SIGKILL);
    std::this_thread::sleep_for(200ms);
    ingest = StartIngest(db.url(), port, log);
  }
  producer.Join();
  EXPECT_TRUE(producer.ok) << producer.errors.str();
  EXPECT_GE(producer.summary.reconnects, 5u);
  ExpectInvariant(db.url(), population.events.size());
  // Committed but unacknowledged batches were resent and counted once (as duplicates).
  EXPECT_EQ(producer.summary.accepted, population.events.size() - producer.summary.duplicates);
}

TEST(Faults, DatabaseCrashAndRestartMeanUnavailableThenRecovery) {
  // A cluster of its own: this test takes it down.
  const std::string dir = testing::MakeTempDir("crash");
  const std::string script = "bash " + std::string(SONAR_SOURCE_DIR) + "/scripts/pg-throwaway.sh ";
  ASSERT_EQ(std::system((script + "start " + dir + "/pg >/dev/null 2>&1").c_str()), 0);
  std::string url = ReadFile(dir + "/pg/url");
  url.erase(url.find_last_not_of("\n") + 1);

  const sim::Population population = testing::ScaledZeeland(20, 202);
  const std::vector<v1::Event> events = testing::ToProtoShuffled(population.events, 2);
  Ingest ingest = StartIngest(url, testing::FreePort(), dir + "/ingest.log");
  EXPECT_EQ(Health(ingest.addr), 0);
  Producer producer(ingest.addr, events, 100);
  std::this_thread::sleep_for(500ms);
  ASSERT_EQ(std::system((script + "crash " + dir + "/pg >/dev/null 2>&1").c_str()), 0);

  // Health turns NOT_SERVING; a batch gets UNAVAILABLE, never a false ack.
  bool not_serving = false;
  for (int i = 0; i < 50 && !not_serving; ++i) {
    not_serving = Health(ingest.addr) != 0;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(not_serving);
  {
    auto stub = v1::IngestService::NewStub(
        grpc::CreateChannel(ingest.addr, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    v1::IngestRequest req;
    *req.add_events() = events.front();
    v1::IngestResponse resp;
    EXPECT_EQ(stub->IngestBatch(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  ASSERT_EQ(std::system((script + "start " + dir + "/pg >/dev/null 2>&1").c_str()), 0);
  bool serving = false;
  for (int i = 0; i < 100 && !serving; ++i) {
    serving = Health(ingest.addr) == 0;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(serving);
  producer.Join();
  EXPECT_TRUE(producer.ok) << producer.errors.str();
  ExpectInvariant(url, population.events.size());
  const std::string log = ReadFile(dir + "/ingest.log");
  EXPECT_NE(log.find("\"event\":\"health_not_serving\""), std::string::npos);
  EXPECT_NE(log.find("\"event\":\"health_serving\""), std::string::npos);
  ingest.process->Signal(SIGTERM);
  EXPECT_EQ(ingest.process->Wait(20s), 0);
  (void)std::system((script + "destroy " + dir + "/pg >/dev/null 2>&1").c_str());
}

TEST(Faults, TerminatedBackendsMidStream) {
  testing::TestDatabase db;
  const sim::Population population = testing::ScaledZeeland(20, 303);
  const std::vector<v1::Event> events = testing::ToProtoShuffled(population.events, 3);
  Ingest ingest =
      StartIngest(db.url(), testing::FreePort(), testing::MakeTempDir("terminate") + "/ingest.log");
  Producer producer(ingest.addr, events, 100);
  int terminated = 0;
  for (int round = 0; round < 6; ++round) {
    std::this_thread::sleep_for(250ms);
    pqxx::connection admin(testing::TestClusterUrl());
    pqxx::nontransaction tx(admin);
    terminated +=
        tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = " +
                tx.quote(db.name()) + " AND pid <> pg_backend_pid()")
            .size();
  }
  producer.Join();
  EXPECT_GT(terminated, 0);
  EXPECT_TRUE(producer.ok) << producer.errors.str();
  ExpectInvariant(db.url(), population.events.size());
}

TEST(Faults, FrozenProcessResumesAndNothingIsWedged) {
  testing::TestDatabase db;
  const sim::Population population = testing::ScaledZeeland(10, 404);
  const std::vector<v1::Event> events = testing::ToProtoShuffled(population.events, 4);
  Ingest ingest =
      StartIngest(db.url(), testing::FreePort(), testing::MakeTempDir("stop") + "/ingest.log");
  Producer producer(ingest.addr, events, 50);
  std::this_thread::sleep_for(300ms);
  ingest.process->Signal(SIGSTOP);
  std::this_thread::sleep_for(30s);
  ingest.process->Signal(SIGCONT);
  producer.Join();
  EXPECT_TRUE(producer.ok) << producer.errors.str();
  EXPECT_EQ(Health(ingest.addr), 0);
  ExpectInvariant(db.url(), population.events.size());
}

TEST(Faults, ThreeIngestProcessesReplayTheSameEvents) {
  testing::TestDatabase db;
  const sim::Population population = testing::ScaledZeeland(35, 505);  // ~100k events
  const std::string dir = testing::MakeTempDir("three");
  std::vector<Ingest> processes;
  for (int i = 0; i < 3; ++i) {
    processes.push_back(
        StartIngest(db.url(), testing::FreePort(), dir + "/ingest" + std::to_string(i) + ".log"));
  }
  std::vector<std::vector<v1::Event>> orders;
  for (int i = 0; i < 3; ++i) orders.push_back(testing::ToProtoShuffled(population.events, 10 + i));
  std::vector<std::unique_ptr<Producer>> producers;
  for (int i = 0; i < 3; ++i) {
    producers.push_back(std::make_unique<Producer>(processes[i].addr, orders[i], 150 + 50 * i));
  }
  uint64_t accepted = 0;
  for (auto& p : producers) {
    p->Join();
    EXPECT_TRUE(p->ok) << p->errors.str();
    accepted += p->summary.accepted;
  }
  EXPECT_EQ(accepted, population.events.size());  // each event accepted exactly once overall
  ExpectInvariant(db.url(), population.events.size());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ReadFile(dir + "/ingest" + std::to_string(i) + ".log").find("batch_failed"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace sonar
