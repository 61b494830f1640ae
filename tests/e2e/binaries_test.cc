// The real programs, as an operator runs them: sonar-ingest and sonar-query processes on a real
// database, driven by sonarctl.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "google/protobuf/util/json_util.h"
#include "service/sonarctl_ingest.h"
#include "tests/support/process.h"
#include "tests/support/test_database.h"

namespace sonar {
namespace {

using namespace std::chrono_literals;
using testing::BinaryPath;
using testing::ChildProcess;
using testing::ReadFile;

struct Server {
  std::unique_ptr<ChildProcess> process;
  std::string log;
  std::string addr;
};

Server Start(const std::string& program, const std::string& url, const std::string& dir) {
  Server s;
  s.log = dir + "/" + program + ".log";
  const std::string port_file = dir + "/" + program + ".port";
  s.process = std::make_unique<ChildProcess>(
      BinaryPath(program),
      std::vector<std::string>{"--database-url", url, "--listen", "127.0.0.1:0", "--port-file",
                               port_file},
      s.log);
  const int port = testing::WaitForPortFile(port_file, 20s);
  EXPECT_GT(port, 0) << ReadFile(s.log);
  s.addr = "127.0.0.1:" + std::to_string(port);
  return s;
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

TEST(Binaries, SeedEventsThroughSonarctlGiveTheSeedTable) {
  testing::TestDatabase db;
  const std::string dir = testing::MakeTempDir("e2e");
  Server ingest = Start("sonar-ingest", db.url(), dir);
  Server query = Start("sonar-query", db.url(), dir);
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
  Server ingest2 = Start("sonar-ingest", clean.url(), dir + "/..");
  Server query2 = Start("sonar-query", clean.url(), dir + "/..");
  const std::string plain = dir + "/plain.ndjson";
  ASSERT_EQ(Ctl({"generate-seed", "--no-noise", "--out", plain}, out), 0) << out;
  ASSERT_EQ(Ctl({"--addr", ingest2.addr, "ingest", "--file", plain, "--batch-size", "333"}, out), 0);
  ASSERT_EQ(Ctl({"--addr", query2.addr, "live", "--region", "29"}, out), 0) << out;
  EXPECT_NE(out.find("Borsele                                   0         45         57         30        132"),
            std::string::npos) << out;
  EXPECT_NE(out.find("TOTAAL AMR                               90        833      1.239        509      2.671      4.125"),
            std::string::npos) << out;

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
  Server ingest = Start("sonar-ingest", db.url(), dir);
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
  std::thread producer([&] {
    (void)service::StreamEvents(ingest.addr, events, 20, 4, summary, errors);
  });
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
