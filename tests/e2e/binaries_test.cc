// The real programs, as an operator runs them: sonar-ingest and sonar-query processes on a real
// database, driven by sonarctl.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "google/protobuf/util/json_util.h"
#include "service/scheduling.h"
#include "service/sonarctl_ingest.h"
#include "sonar/v1/ingest.grpc.pb.h"
#include "sonar/v1/query.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/support/server_process.h"
#include "tests/support/test_database.h"

namespace sonar {
namespace {

using namespace std::chrono_literals;
using testing::BinaryPath;
using testing::ChildProcess;
using testing::ReadFile;

using Server = testing::ServerProcess;

Server Start(const std::string& program, const std::string& url) {
  return testing::StartServer(program, {"--database-url", url, "--plaintext"});
}

int Ctl(const std::vector<std::string>& args, std::string& output) {
  return testing::RunProgram(BinaryPath("sonarctl"), args, output, 60s);
}

// Every client_ref in an NDJSON file.
std::vector<std::string> ClientRefs(const std::string& ndjson) {
  std::vector<std::string> refs;
  std::istringstream in(ndjson);
  std::string line;
  while (std::getline(in, line)) {
    const size_t at = line.find("\"clientRef\":\"");
    if (at == std::string::npos) continue;
    const size_t start = at + 13;
    refs.push_back(line.substr(start, line.find('"', start) - start));
  }
  return refs;
}

void ExpectJsonLinesWithoutRefs(const std::string& log, const std::vector<std::string>& refs) {
  std::istringstream in(log);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_EQ(line.rfind("{\"ts\":\"", 0), 0u) << line;
    EXPECT_EQ(line.back(), '}') << line;
  }
  EXPECT_GT(lines, 0);
  for (const std::string& ref : refs) {
    ASSERT_EQ(log.find(ref), std::string::npos) << "a client_ref leaked into a log";
  }
}

// Operators tell from stream_ended's code how a stream ended: 0 when the producer closed it, 1
// when it was cancelled (or its connection closed) after every batch was acknowledged.
TEST(Binaries, StreamEndedSaysWhetherTheProducerClosedOrCancelled) {
  testing::TestDatabase db;
  Server ingest = Start("sonar-ingest", db.url());
  auto stub = v1::IngestService::NewStub(
      grpc::CreateChannel(ingest.addr, grpc::InsecureChannelCredentials()));
  for (const bool cancel : {false, true}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    auto stream = stub->Ingest(&ctx);
    v1::IngestRequest request;
    request.set_batch_id(1);
    v1::Event* e = request.add_events();
    e->set_event_id(cancel ? "ended-cancelled" : "ended-closed");
    e->set_source("sonar");
    e->set_client_ref("StreamEndedTestPerson1");
    e->mutable_occurred_at()->set_seconds(1651399200);
    e->mutable_profile_completed();
    ASSERT_TRUE(stream->Write(request));
    v1::IngestResponse ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.accepted(), 1u);
    if (cancel) {
      ctx.TryCancel();
      EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
    } else {
      ASSERT_TRUE(stream->WritesDone());
      EXPECT_TRUE(stream->Finish().ok());
    }
  }
  // Both ends seen by the server before it drains (a drain would end a stream with 14).
  std::vector<std::string> ended;
  for (const auto until = std::chrono::steady_clock::now() + 10s;
       ended.size() < 2 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(20ms);
    ended.clear();
    std::istringstream log(ReadFile(ingest.log));
    for (std::string line; std::getline(log, line);) {
      if (line.find("\"event\":\"stream_ended\"") != std::string::npos) ended.push_back(line);
    }
  }
  ingest.process->Signal(SIGTERM);
  ASSERT_EQ(ingest.process->Wait(20s), 0) << ReadFile(ingest.log);
  ASSERT_EQ(ended.size(), 2u) << ReadFile(ingest.log);
  EXPECT_NE(ended[0].find("\"code\":0,"), std::string::npos) << ended[0];
  EXPECT_NE(ended[1].find("\"code\":1,"), std::string::npos) << ended[1];
}

// Everything the servers print is one JSON object a line, gRPC's own messages included: here
// gRPC's complaint about a port that is taken, before the server's server_start_failed.
TEST(Binaries, GrpcsOwnMessagesAreJsonLinesToo) {
  testing::TestDatabase db;
  const int taken = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(taken, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(taken, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(taken, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(taken, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string listen_on = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const std::string dir = testing::MakeTempDir("grpclog");
  for (const std::string program : {"sonar-ingest", "sonar-query"}) {
    const std::string log = dir + "/" + program + ".log";
    ChildProcess server(BinaryPath(program),
                        {"--database-url", db.url(), "--plaintext", "--listen", listen_on}, log);
    EXPECT_EQ(server.Wait(20s), 1) << program;
    const std::string printed = ReadFile(log);
    std::istringstream in(printed);
    int lines = 0, grpc_lines = 0;
    for (std::string line; std::getline(in, line); ++lines) {
      EXPECT_EQ(line.rfind("{\"ts\":\"", 0), 0u) << program << ": " << line;
      EXPECT_EQ(line.back(), '}') << program << ": " << line;
      if (line.find("\"event\":\"grpc_log\"") != std::string::npos) ++grpc_lines;
    }
    EXPECT_GT(grpc_lines, 0) << printed;
    EXPECT_NE(printed.find("\"event\":\"server_start_failed\""), std::string::npos) << printed;
    EXPECT_GT(lines, grpc_lines);
  }
  close(taken);
}

TEST(Binaries, SeedEventsThroughSonarctlGiveTheSeedTable) {
  testing::TestDatabase db;
  const std::string dir = testing::MakeTempDir("e2e");
  Server ingest = Start("sonar-ingest", db.url());
  Server query = Start("sonar-query", db.url());
  std::string out;
  ASSERT_EQ(Ctl({"--addr", ingest.addr, "health"}, out), 0) << out;
  EXPECT_NE(out.find("SERVING"), std::string::npos);
  ASSERT_EQ(Ctl({"--addr", query.addr, "health", "--service", "sonar.v1.QueryService"}, out), 0);

  const std::string events = dir + "/events.ndjson";
  ASSERT_EQ(Ctl({"generate-seed", "--out", events}, out), 0) << out;
  ASSERT_EQ(Ctl({"--addr", ingest.addr, "ingest", "--file", events}, out), 0) << out;
  EXPECT_NE(out.find("0 duplicates, 0 rejected"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"--addr", ingest.addr, "ingest", "--file", events}, out), 0) << out;
  EXPECT_NE(out.find("0 accepted"), std::string::npos) << out;

  // The generated history runs to mid-November 2022, so the live table is not the Q3 table;
  // a --no-noise population ends at the quarter and must be exactly the seed.
  testing::TestDatabase clean;
  Server ingest2 = Start("sonar-ingest", clean.url());
  Server query2 = Start("sonar-query", clean.url());
  const std::string plain = dir + "/plain.ndjson";
  ASSERT_EQ(Ctl({"generate-seed", "--no-noise", "--out", plain}, out), 0) << out;
  ASSERT_EQ(Ctl({"--addr", ingest2.addr, "ingest", "--file", plain, "--batch-size", "333"}, out),
            0);
  ASSERT_EQ(Ctl({"--addr", query2.addr, "live", "--region", "29"}, out), 0) << out;
  EXPECT_NE(out.find("Borsele                                   0         45         57         30 "
                     "       132"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("TOTAAL AMR                               90        833      1.239        509 "
                     "     2.671      4.125"),
            std::string::npos)
      << out;

  // Unknown region: a clear error, non-zero exit.
  EXPECT_NE(Ctl({"--addr", query.addr, "live", "--region", "77"}, out), 0);
  EXPECT_NE(out.find("unknown region"), std::string::npos) << out;

  for (Server* s : {&ingest, &query, &ingest2, &query2}) {
    s->process->Signal(SIGTERM);
    EXPECT_EQ(s->process->Wait(20s), 0);
  }
  const std::vector<std::string> refs = ClientRefs(ReadFile(events) + ReadFile(plain));
  ASSERT_GT(refs.size(), 1000u);
  for (Server* s : {&ingest, &query, &ingest2, &query2}) {
    ExpectJsonLinesWithoutRefs(ReadFile(s->log), refs);
  }
  const std::string ingest_log = ReadFile(ingest.log);
  for (const char* event : {"\"event\":\"migrations_applied\"", "\"event\":\"server_started\"",
                            "\"event\":\"stream_started\"", "\"event\":\"batch_committed\"",
                            "\"event\":\"stream_ended\"", "\"event\":\"shutdown_complete\""}) {
    EXPECT_NE(ingest_log.find(event), std::string::npos) << event;
  }
}

TEST(Binaries, SigtermDrainsInFlightBatchesAndExitsZero) {
  testing::TestDatabase db;
  const std::string dir = testing::MakeTempDir("drain");
  Server ingest = Start("sonar-ingest", db.url());
  std::string out;
  const std::string events_file = dir + "/events.ndjson";
  ASSERT_EQ(Ctl({"generate-seed", "--out", events_file}, out), 0) << out;
  std::vector<v1::Event> events;
  std::istringstream in(ReadFile(events_file));
  std::string line;
  while (std::getline(in, line)) {
    v1::Event e;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &e).ok());
    events.push_back(std::move(e));
  }
  // Small batches so the stream is still busy when SIGTERM arrives.
  service::IngestSummary summary;
  std::ostringstream errors;
  std::thread producer(
      [&] { (void)service::StreamEvents(ingest.addr, events, 20, 4, summary, errors); });
  std::this_thread::sleep_for(300ms);
  ingest.process->Signal(SIGTERM);
  producer.join();
  EXPECT_EQ(ingest.process->Wait(30s), 0) << ReadFile(ingest.log);
  EXPECT_GT(summary.accepted, 0u);
  // Every acknowledged event is stored, and everything stored was acknowledged: in-flight
  // batches were committed and their acks delivered before the stream ended.
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events"), std::to_string(summary.accepted));
  const std::string log = ReadFile(ingest.log);
  EXPECT_NE(log.find("\"event\":\"shutdown_started\""), std::string::npos);
  EXPECT_NE(log.find("\"event\":\"drained\",\"all_streams_ended\":true"), std::string::npos) << log;
  if (summary.sent < events.size()) {
    EXPECT_NE(errors.str().find("shutting down"), std::string::npos) << errors.str();
  }
}

}  // namespace
}  // namespace sonar

namespace sonar {
namespace {

TEST(Binaries, WatcherSeesChangesCommittedByAnotherIngestProcess) {
  testing::TestDatabase db;
  const std::string dir = testing::MakeTempDir("watch");
  Server query = Start("sonar-query", db.url());
  Server ingest_a = Start("sonar-ingest", db.url());
  Server ingest_b = Start("sonar-ingest", db.url());

  auto stub = v1::QueryService::NewStub(
      grpc::CreateChannel(query.addr, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  v1::WatchLiveCountsRequest req;
  req.set_region("29");
  auto reader = stub->WatchLiveCounts(&ctx, req);
  v1::LiveCounts live;
  ASSERT_TRUE(reader->Read(&live));  // the state at subscription
  EXPECT_EQ(live.region().register_total(), 0);

  // Two persons through two different ingest processes; the watcher is in a third.
  const char* kLines[] = {
      R"({"eventId":"w1","source":"sonar","clientRef":"WatchedPersonNumber001","occurredAt":"2022-05-01T10:00:00Z","targetGroupEntered":{"municipalityCode":"GM0654"}})",
      R"({"eventId":"w2","source":"sonar","clientRef":"WatchedPersonNumber002","occurredAt":"2022-05-01T10:00:00Z","targetGroupEntered":{"municipalityCode":"GM0664"}})"};
  std::string out;
  for (int i = 0; i < 2; ++i) {
    const std::string file = dir + "/w" + std::to_string(i) + ".ndjson";
    std::ofstream(file) << kLines[i] << "\n";
    ASSERT_EQ(
        Ctl({"--addr", i == 0 ? ingest_a.addr : ingest_b.addr, "ingest", "--file", file}, out), 0)
        << out;
    // Coalescing may merge notifications, but never loses the latest state.
    while (live.region().register_total() < i + 1) ASSERT_TRUE(reader->Read(&live));
    EXPECT_EQ(live.region().register_total(), i + 1);
  }
  ctx.TryCancel();
  (void)reader->Finish();
  for (Server* s : {&query, &ingest_a, &ingest_b}) {
    s->process->Signal(SIGTERM);
    EXPECT_EQ(s->process->Wait(20s), 0) << ReadFile(s->log);
  }
  EXPECT_NE(ReadFile(query.log).find("\"event\":\"watch_started\""), std::string::npos);
}

TEST(Binaries, SonarctlRendersThePublicationFromEvents) {
  testing::TestDatabase db;
  const std::string dir = testing::MakeTempDir("report");
  Server ingest = Start("sonar-ingest", db.url());
  Server query = Start("sonar-query", db.url());
  std::string out;
  const std::string events = dir + "/events.ndjson";
  ASSERT_EQ(Ctl({"generate-seed", "--out", events}, out), 0) << out;
  ASSERT_EQ(Ctl({"--addr", ingest.addr, "ingest", "--file", events}, out), 0) << out;
  const std::string report = dir + "/report.txt";
  // RunProgram mixes stdout and stderr; use --format text through a shell redirect instead.
  ASSERT_EQ(std::system((BinaryPath("sonarctl") + " --addr " + query.addr +
                         " report --region 29 --quarter 2022-Q3 > " + report + " 2>/dev/null")
                            .c_str()),
            0);
  EXPECT_EQ(ReadFile(report), ReadFile(std::string(SONAR_TEST_DATA_DIR) +
                                       "/transparantie-klantprofielen-zeeland-2022-q3.txt"));
  ASSERT_EQ(Ctl({"--addr", query.addr, "publish", "--quarter", "2022-Q3"}, out), 0) << out;
  EXPECT_NE(out.find("revision 1"), std::string::npos) << out;
  EXPECT_NE(Ctl({"--addr", query.addr, "publish", "--quarter", "2099-Q1"}, out), 0);
  EXPECT_NE(out.find("has not ended"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"--addr", query.addr, "diff", "--quarter", "2022-Q3"}, out), 0) << out;
  EXPECT_NE(out.find("0 cells differ from revision 1"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"--addr", query.addr, "report", "--region", "29", "--quarter", "2022-Q3",
                 "--format", "markdown"},
                out),
            0);
  EXPECT_NE(out.find("| Borsele |"), std::string::npos) << out;
}

}  // namespace
}  // namespace sonar

namespace sonar {
namespace {

TEST(Binaries, ConfigurationFromFileAndEnvironment) {
  testing::TestDatabase db;
  const std::string dir = testing::MakeTempDir("config");
  std::ofstream(dir + "/ingest.toml") << "database-url = \"" << db.url() << "\"\n"
                                      << "listen = \"127.0.0.1:0\"\n"
                                      << "port-file = \"" << dir << "/ingest.port\"\n"
                                      << "plaintext = true\n"
                                      << "workers = 3\n";
  ChildProcess ingest(BinaryPath("sonar-ingest"), {"--config", dir + "/ingest.toml"},
                      dir + "/ingest.log");
  const int port = testing::WaitForPortFile(dir + "/ingest.port", 20s);
  ASSERT_GT(port, 0) << ReadFile(dir + "/ingest.log");
  std::string out;
  EXPECT_EQ(Ctl({"--addr", "127.0.0.1:" + std::to_string(port), "health"}, out), 0) << out;

  // The database URL from the environment (as the container image passes it).
  setenv("SONAR_DATABASE_URL", db.url().c_str(), 1);
  setenv("SONAR_PLAINTEXT", "true", 1);
  ChildProcess query(BinaryPath("sonar-query"),
                     {"--listen", "127.0.0.1:0", "--port-file", dir + "/query.port"},
                     dir + "/query.log");
  unsetenv("SONAR_DATABASE_URL");
  unsetenv("SONAR_PLAINTEXT");
  const int query_port = testing::WaitForPortFile(dir + "/query.port", 20s);
  ASSERT_GT(query_port, 0) << ReadFile(dir + "/query.log");
  EXPECT_EQ(
      Ctl({"--addr", "127.0.0.1:" + std::to_string(query_port), "live", "--region", "29"}, out), 0)
      << out;
  // A URL never appears in the logs (it may carry a password).
  EXPECT_EQ(ReadFile(dir + "/ingest.log").find(db.url()), std::string::npos);
  ingest.Signal(SIGTERM);
  query.Signal(SIGTERM);
  EXPECT_EQ(ingest.Wait(20s), 0);
  EXPECT_EQ(query.Wait(20s), 0);
}

// --realtime-priority (docs/scaling.md): every thread of the process runs in SCHED_RR, also
// those gRPC starts while serving.
TEST(Binaries, QueryThreadsRunInTheRealtimeClassWhenAsked) {
  bool permitted = false;
  std::thread([&] { permitted = service::UseRealtimePriority(1).ok(); }).join();
  if (!permitted) GTEST_SKIP() << "this process may not use SCHED_RR (no CAP_SYS_NICE)";
  testing::TestDatabase db;
  Server query = testing::StartServer(
      "sonar-query",
      {"--database-url", db.url(), "--plaintext", "--workers", "2", "--realtime-priority", "1"});
  std::string out;
  ASSERT_EQ(Ctl({"--addr", query.addr, "publish", "--quarter", "2022-Q3"}, out), 0) << out;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Ctl({"--addr", query.addr, "live", "--region", "29"}, out), 0) << out;
    ASSERT_EQ(Ctl({"--addr", query.addr, "report", "--quarter", "2022-Q3"}, out), 0) << out;
    ASSERT_EQ(Ctl({"--addr", query.addr, "report", "--quarter", "2022-Q3", "--provisional"}, out),
              0)
        << out;
  }
  std::map<std::string, int> classes = service::ThreadsByPolicy(query.process->pid());
  // The main thread, two database workers, the feed, and gRPC's threads.
  EXPECT_GE(classes["SCHED_RR"], 5);
  std::string seen;
  for (const auto& [policy, n] : classes) seen += policy + ": " + std::to_string(n) + "; ";
  EXPECT_EQ(classes.size(), 1u) << seen;
  const std::string log = ReadFile(query.log);
  EXPECT_NE(log.find(R"("event":"realtime_priority","policy":"SCHED_RR","priority":1)"),
            std::string::npos)
      << log;
  query.process->Signal(SIGTERM);
  EXPECT_EQ(query.process->Wait(20s), 0);
}

}  // namespace
}  // namespace sonar
