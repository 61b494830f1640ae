// The query service's in-memory read model against the database path, over real gRPC and
// PostgreSQL: default reads converge on the database's figures, `fresh` reads include every
// commit made before them, and a publication made by another process replaces the cached latest
// revision.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "core/reference_data.h"
#include "service/proto_mapping.h"
#include "service/sonarctl_ingest.h"
#include "sim/seed_population.h"
#include "tests/support/test_database.h"
#include "tests/support/test_servers.h"

namespace sonar {
namespace {

using namespace std::chrono_literals;

core::Instant At(const char* date, int hour = 12) {
  return core::Instant{*core::ParseDate(date)} + std::chrono::hours(hour);
}

sim::Population Zeeland(uint64_t seed) {
  sim::PopulationOptions options;
  options.quarter = {2022, 3};
  options.rows = sim::ZeelandSeedRows();
  options.register_only = 1454;
  options.sonar_only = 37;
  options.now = At("2022-11-20");
  options.seed = seed;
  return sim::GeneratePopulation(options, core::ReferenceData::Builtin());
}

// One report request as the figures and status it answers, serialized for comparison.
std::string Report(testing::TestServers& servers, const std::string& region,
                   const std::string& quarter, bool fresh, bool provisional = false,
                   unsigned revision = 0) {
  const v1::RenderedReport resp = servers.Render(
      region, quarter,
      {.provisional = provisional, .revision = revision, .fresh = fresh, .format = "csv"});
  v1::QuarterReport r = resp.report();
  r.clear_published_at();  // compared separately where it matters
  return r.SerializeAsString() + "\n" + resp.content();
}

std::string Live(testing::TestServers& servers, const std::string& region, bool fresh) {
  auto stub = servers.QueryStub();
  grpc::ClientContext ctx;
  v1::GetLiveCountsRequest req;
  req.set_region(region);
  req.set_fresh(fresh);
  v1::LiveCounts resp;
  const grpc::Status s = stub->GetLiveCounts(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.region().SerializeAsString();
}

// Polls `read` until it returns `want` (or 10 s pass); returns the last answer.
template <typename F>
std::string Converges(F read, const std::string& want) {
  std::string got;
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(5ms)) {
    got = read();
    if (got == want) break;
  }
  return got;
}

TEST(ReadModel, DefaultAndFreshReadsEqualTheDatabase) {
  testing::TestDatabase db;
  testing::TestServers model(db.url());
  testing::TestServers database(db.url(), {.read_model = false});
  const sim::Population population = Zeeland(7);
  const size_t half = population.events.size() / 2;
  model.Send({population.events.begin(), population.events.begin() + half});
  database.Send({population.events.begin() + half, population.events.end()});

  struct Case {
    std::string region, quarter;
  };
  for (const Case& c :
       {Case{"29", "2022-Q3"}, Case{"", "2022-Q3"}, Case{"AM24", "2021-Q4"}, Case{"", "2022-Q4"}}) {
    SCOPED_TRACE(c.region + " " + c.quarter);
    const std::string want = Report(database, c.region, c.quarter, false);
    // Fresh: equal at once, although half the batches went through the other process.
    EXPECT_EQ(Report(model, c.region, c.quarter, true), want);
    EXPECT_EQ(Converges([&] { return Report(model, c.region, c.quarter, false); }, want), want);
  }
  const std::string live = Live(database, "29", false);
  EXPECT_EQ(Live(model, "29", true), live);
  EXPECT_EQ(Converges([&] { return Live(model, "29", false); }, live), live);
  EXPECT_NE(live.find("Zeeland"), std::string::npos);

  // A late event for 2022-Q3 arriving now moves the provisional figures of that quarter.
  const std::string before = Report(model, "29", "2022-Q3", true);
  database.Send({{"sonar", "late-1", "LateArrivalPerson00001", At("2022-09-10"),
                  core::EventKind::kTargetGroupEntered, "GM0654", core::Registrant::kUnspecified}});
  const std::string after = Report(model, "29", "2022-Q3", true);
  EXPECT_NE(after, before);
  EXPECT_EQ(after, Report(database, "29", "2022-Q3", false));
  EXPECT_GT(model.feed().stats().batches_applied, 0u);
  EXPECT_EQ(model.feed().stats().forced_reloads, 0u);
}

TEST(ReadModel, PublicationByAnotherProcessReplacesTheCachedLatestRevision) {
  testing::TestDatabase db;
  testing::TestServers reader(db.url());
  testing::TestServers publisher(db.url());
  reader.Send(Zeeland(11).events);

  // The reader caches "never published" for 2022-Q3.
  const std::string provisional = Report(reader, "29", "2022-Q3", true);
  EXPECT_EQ(Report(reader, "29", "2022-Q3", false), provisional);

  auto publish = [&] {
    auto stub = publisher.QueryStub();
    grpc::ClientContext ctx;
    v1::PublishQuarterRequest req;
    req.set_quarter("2022-Q3");
    v1::Publication out;
    EXPECT_TRUE(stub->PublishQuarter(&ctx, req, &out).ok());
    return out.revision();
  };
  auto status_of = [&](bool fresh) {
    const v1::QuarterReport out = testing::GetReport(*reader.QueryStub(), "29", "2022-Q3", fresh);
    return std::to_string(out.status()) + "/" + std::to_string(out.revision());
  };
  const std::string published1 =
      std::to_string(v1::REPORT_STATUS_PUBLISHED) + "/" + std::to_string(1);
  ASSERT_EQ(publish(), 1u);
  EXPECT_EQ(status_of(true), published1);  // fresh: at once
  EXPECT_EQ(Converges([&] { return status_of(false); }, published1), published1);

  // A late event, then revision 2 from the other process: the reader's default reads move on.
  publisher.Send(
      {{"sonar", "late-1", "LateArrivalPerson00001", At("2022-09-10"),
        core::EventKind::kTargetGroupEntered, "GM0654", core::Registrant::kUnspecified}});
  ASSERT_EQ(publish(), 2u);
  const std::string published2 =
      std::to_string(v1::REPORT_STATUS_PUBLISHED) + "/" + std::to_string(2);
  EXPECT_EQ(Converges([&] { return status_of(false); }, published2), published2);
  // Revision 1 stays what it was, from the cache or not.
  EXPECT_EQ(Report(reader, "29", "2022-Q3", false, false, 1),
            Report(reader, "29", "2022-Q3", true, false, 1));
  EXPECT_NE(Report(reader, "29", "2022-Q3", false, false, 1),
            Report(reader, "29", "2022-Q3", false, false, 2));
}

}  // namespace
}  // namespace sonar
