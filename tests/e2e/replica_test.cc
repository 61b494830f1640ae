// Read scale-out: sonar-query reading from a real PostgreSQL streaming replica (pg_basebackup -R)
// of the test cluster follows writes made through the primary, in reports and live watches;
// publications are read from the primary, so a replica that lags cannot hide one.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <pqxx/pqxx>
#include <thread>

#include "sonar/v1/query.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/support/server_process.h"
#include "tests/support/test_database.h"
#include "tests/support/test_servers.h"

namespace sonar {
namespace {

using namespace std::chrono_literals;
using testing::BinaryPath;
using testing::ReadFile;

std::string WithDatabase(const std::string& url, const std::string& db) {
  return url.substr(0, url.rfind('/') + 1) + db;
}

using Server = testing::ServerProcess;

Server Start(const std::string& program, std::vector<std::string> args) {
  args.push_back("--plaintext");
  return testing::StartServer(program, std::move(args));
}

TEST(Replica, QueryServiceOnAStreamingReplicaFollowsThePrimary) {
  testing::TestDatabase db;
  const std::string dir = testing::MakeTempDir("replica");
  const std::string script = "bash " + std::string(SONAR_SOURCE_DIR) + "/scripts/pg-throwaway.sh ";
  ASSERT_EQ(std::system((script + "replica " + dir + "/pg " + testing::TestClusterUrl() +
                         " >/dev/null 2>&1")
                            .c_str()),
            0);
  std::string replica_admin = ReadFile(dir + "/pg/url");
  replica_admin.erase(replica_admin.find_last_not_of('\n') + 1);
  const std::string replica_url = WithDatabase(replica_admin, db.name());
  {
    pqxx::connection replica(replica_url);
    pqxx::nontransaction tx(replica);
    EXPECT_EQ(tx.exec1("SELECT pg_is_in_recovery()")[0].as<bool>(), true);
  }

  Server ingest = Start("sonar-ingest", {"--database-url", db.url()});
  Server query =
      Start("sonar-query", {"--database-url", db.url(), "--read-database-url", replica_url});
  auto stub = v1::QueryService::NewStub(
      grpc::CreateChannel(query.addr, grpc::InsecureChannelCredentials()));
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() + 120s);
  v1::WatchLiveCountsRequest watch_req;
  watch_req.set_region("29");
  auto watch = stub->WatchLiveCounts(&watch_ctx, watch_req);
  v1::LiveCounts live;
  ASSERT_TRUE(watch->Read(&live));
  EXPECT_EQ(live.region().register_total(), 0);

  std::string out;
  const std::string events = dir + "/events.ndjson";
  ASSERT_EQ(testing::RunProgram(BinaryPath("sonarctl"),
                                {"generate-seed", "--no-noise", "--out", events}, out, 30s),
            0);
  ASSERT_EQ(testing::RunProgram(BinaryPath("sonarctl"),
                                {"--addr", ingest.addr, "ingest", "--file", events}, out, 60s),
            0)
      << out;

  // The watcher converges on the full figures through the replica.
  while (live.region().register_total() < 4125) ASSERT_TRUE(watch->Read(&live));
  EXPECT_EQ(live.region().total().total_in_sonar(), 2671);
  watch_ctx.TryCancel();
  (void)watch->Finish();

  // Provisional figures (from the read model, which follows the primary); publishing writes to the
  // primary.
  grpc::ClientContext report_ctx;
  v1::GetQuarterReportRequest report_req;
  report_req.set_region("29");
  report_req.set_quarter("2022-Q3");
  report_req.set_fresh(true);
  v1::QuarterReport report;
  ASSERT_TRUE(stub->GetQuarterReport(&report_ctx, report_req, &report).ok());
  EXPECT_EQ(report.region().register_total(), 4125);

  // The replica stops replaying WAL: it will not see the publication. The answer (and the latest
  // revision the service caches) must include it at once all the same.
  pqxx::connection replica_control(replica_admin);
  pqxx::nontransaction(replica_control).exec("SELECT pg_wal_replay_pause()");
  grpc::ClientContext publish_ctx;
  v1::PublishQuarterRequest publish_req;
  publish_req.set_quarter("2022-Q3");
  v1::Publication publication;
  const grpc::Status published = stub->PublishQuarter(&publish_ctx, publish_req, &publication);
  ASSERT_TRUE(published.ok()) << published.error_message();
  EXPECT_EQ(publication.revision(), 1u);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM publications"), "1");
  {
    pqxx::connection replica(replica_url);
    pqxx::nontransaction tx(replica);
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM publications")[0].as<int>(), 0);
  }
  auto latest = [&](bool fresh) {
    const v1::QuarterReport out = testing::GetReport(*stub, "29", "2022-Q3", fresh);
    return std::to_string(out.status()) + "/" + std::to_string(out.revision()) + "/" +
           std::to_string(out.region().register_total());
  };
  const std::string published1 = std::to_string(v1::REPORT_STATUS_PUBLISHED) + "/1/4125";
  EXPECT_EQ(latest(false), published1);
  EXPECT_EQ(latest(true), published1);
  std::this_thread::sleep_for(500ms);  // time for the publication's notification to reach the feed
  EXPECT_EQ(latest(false), published1);
  pqxx::nontransaction(replica_control).exec("SELECT pg_wal_replay_resume()");
  {
    pqxx::connection replica(replica_admin);
    pqxx::nontransaction tx(replica);
    EXPECT_GT(
        tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE datname = " + tx.quote(db.name()))[0]
            .as<int>(),
        0);  // the query service is connected to the replica (its health probe, at least)
  }
  for (Server* s : {&ingest, &query}) {
    s->process->Signal(SIGTERM);
    EXPECT_EQ(s->process->Wait(20s), 0);
  }
  (void)std::system((script + "destroy " + dir + "/pg >/dev/null 2>&1").c_str());
}

}  // namespace
}  // namespace sonar
