// Quarterly reports, publications and revisions over real gRPC and PostgreSQL (SPEC §4-5).
#include "core/publication.h"

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <sstream>

#include "service/proto_mapping.h"
#include "service/sonarctl_ingest.h"
#include "sim/seed_population.h"
#include "tests/support/test_database.h"
#include "tests/support/test_servers.h"

namespace sonar {
namespace {

const core::Quarter kQ3{2022, 3};

core::Instant At(const char* date, int hour = 12) {
  return core::Instant{*core::ParseDate(date)} + std::chrono::hours(hour);
}

v1::RenderedReport Render(testing::TestServers& servers, const std::string& region,
                          const std::string& quarter, bool provisional = false,
                          unsigned revision = 0, const std::string& format = "text") {
  return servers.Render(region, quarter,
                        {.provisional = provisional, .revision = revision, .format = format});
}

grpc::Status Publish(testing::TestServers& servers, const std::string& quarter,
                     v1::Publication* out) {
  auto stub = servers.QueryStub();
  grpc::ClientContext ctx;
  v1::PublishQuarterRequest req;
  req.set_quarter(quarter);
  return stub->PublishQuarter(&ctx, req, out);
}

std::string ExpectedZeelandText() {
  std::ifstream in(std::string(SONAR_TEST_DATA_DIR) +
                   "/transparantie-klantprofielen-zeeland-2022-q3.txt");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

core::Event Ev(const std::string& id, const std::string& ref, core::Instant at,
               core::EventKind kind, const std::string& code = "",
               core::Registrant r = core::Registrant::kUnspecified) {
  return {"sonar", id, ref, at, kind, code, r};
}

TEST(Publication, ZeelandQuarterRevisionsAndLateEvents) {
  testing::TestDatabase db;
  testing::TestServers servers(db.url());
  sim::PopulationOptions options;
  options.quarter = kQ3;
  options.rows = sim::ZeelandSeedRows();
  options.register_only = 1454;
  options.sonar_only = 37;
  options.now = At("2022-11-20");  // events up to 30 days after the quarter's end
  const sim::Population population =
      sim::GeneratePopulation(options, core::ReferenceData::Builtin());
  servers.Send(population.events);

  // Provisional figures as of the end of Q3 (Amsterdam time): exactly the seed publication,
  // although events after the end moved, deregistered and removed persons since.
  const v1::RenderedReport provisional = Render(servers, "29", "2022-Q3");
  EXPECT_EQ(provisional.report().status(), v1::REPORT_STATUS_PROVISIONAL);
  EXPECT_EQ(provisional.content(), ExpectedZeelandText());
  EXPECT_EQ(provisional.report().cutoff().seconds(), 1664575200);  // 2022-09-30T22:00:00Z
  EXPECT_EQ(Render(servers, "AM24", "2022Q3").content(), ExpectedZeelandText());

  v1::Publication rev1;
  ASSERT_TRUE(Publish(servers, "2022-Q3", &rev1).ok());
  EXPECT_EQ(rev1.revision(), 1u);
  EXPECT_GT(rev1.ingest_position(), 0);
  const v1::RenderedReport published1 = Render(servers, "29", "2022-Q3");
  EXPECT_EQ(published1.report().status(), v1::REPORT_STATUS_PUBLISHED);
  EXPECT_EQ(published1.report().revision(), 1u);
  EXPECT_EQ(published1.content(), ExpectedZeelandText());

  // A late event: a new UWV client with a profile in Borsele, registered in September, arriving
  // after publication; and one in Goes whose events lie after the quarter's end.
  const std::string late = "LateArrivalPerson00001";
  const std::string after = "AfterQuarterPerson0001";
  servers.Send(
      {Ev("late-1", late, At("2022-09-10"), core::EventKind::kTargetGroupEntered, "GM0654"),
       Ev("late-2", late, At("2022-09-11"), core::EventKind::kClientRegistered, "GM0654",
          core::Registrant::kUwv),
       Ev("late-3", late, At("2022-09-12"), core::EventKind::kProfileCompleted),
       Ev("after-1", after, At("2022-10-01", 0), core::EventKind::kTargetGroupEntered, "GM0664")});

  // Published figures unchanged, byte for byte; provisional ones include the late event.
  EXPECT_EQ(Render(servers, "29", "2022-Q3").content(), published1.content());
  const v1::RenderedReport now = Render(servers, "29", "2022-Q3", true);
  EXPECT_NE(now.content(), published1.content());
  EXPECT_NE(now.content().find("29 Zeeland\tBorsele\t0\t45\t58\t30\t133"), std::string::npos);
  EXPECT_NE(now.content().find("in totaal 4.126 personen"), std::string::npos);

  auto stub = servers.QueryStub();
  grpc::ClientContext ctx;
  v1::GetRevisionDiffRequest diff_req;
  diff_req.set_quarter("2022-Q3");
  v1::RevisionDiff diff;
  ASSERT_TRUE(stub->GetRevisionDiff(&ctx, diff_req, &diff).ok());
  EXPECT_EQ(diff.revision(), 1u);
  ASSERT_EQ(diff.changes_size(), 1);
  EXPECT_EQ(diff.changes(0).municipality_code(), "GM0654");
  EXPECT_EQ(diff.changes(0).cell(), "uwv_with_profile");
  EXPECT_EQ(diff.changes(0).published(), 57);
  EXPECT_EQ(diff.changes(0).provisional(), 58);

  v1::Publication rev2;
  ASSERT_TRUE(Publish(servers, "2022-Q3", &rev2).ok());
  EXPECT_EQ(rev2.revision(), 2u);
  EXPECT_GT(rev2.ingest_position(), rev1.ingest_position());
  EXPECT_EQ(Render(servers, "29", "2022-Q3").content(), now.content());
  EXPECT_EQ(Render(servers, "29", "2022-Q3", false, 1).content(), published1.content());

  // The national report: every region, Zeeland's row carrying the same totals.
  const v1::RenderedReport national = Render(servers, "", "2022-Q3", false, 0, "csv");
  EXPECT_EQ(national.report().regions_size(), 35);
  EXPECT_NE(national.content().find("29 Zeeland,,90,833,1240,509,2672,4126"), std::string::npos)
      << national.content();
}

TEST(Publication, RefusesQuarterThatHasNotEndedAndUnknownRevisions) {
  testing::TestDatabase db;
  testing::TestServerOptions options;
  options.query_clock = [] { return At("2022-09-30", 20); };
  testing::TestServers servers(db.url(), options);
  v1::Publication pub;
  EXPECT_EQ(Publish(servers, "2022-Q3", &pub).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Publish(servers, "2022-Q7", &pub).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Publish(servers, "2022-Q2", &pub).ok());

  auto stub = servers.QueryStub();
  grpc::ClientContext ctx;
  v1::GetQuarterReportRequest req;
  req.set_region("29");
  req.set_quarter("2022-Q2");
  req.set_revision(5);
  v1::QuarterReport report;
  EXPECT_EQ(stub->GetQuarterReport(&ctx, req, &report).error_code(), grpc::StatusCode::NOT_FOUND);
  // Revisions beyond the database's integer range cannot exist either (they once wrapped to a
  // negative number and answered the provisional figures), from the cache or not.
  for (const uint32_t revision : {uint32_t{1} << 31, std::numeric_limits<uint32_t>::max()}) {
    for (const bool fresh : {false, true}) {
      SCOPED_TRACE(std::to_string(revision) + (fresh ? " fresh" : ""));
      grpc::ClientContext report_ctx;
      req.set_revision(revision);
      req.set_fresh(fresh);
      const grpc::Status s = stub->GetQuarterReport(&report_ctx, req, &report);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << report.status();
      grpc::ClientContext render_ctx;
      v1::RenderQuarterReportRequest render;
      *render.mutable_report() = req;
      v1::RenderedReport rendered;
      EXPECT_EQ(stub->RenderQuarterReport(&render_ctx, render, &rendered).error_code(),
                grpc::StatusCode::NOT_FOUND);
    }
  }

  grpc::ClientContext ctx2;
  v1::GetRevisionDiffRequest diff_req;
  diff_req.set_quarter("2021-Q1");
  v1::RevisionDiff diff;
  EXPECT_EQ(stub->GetRevisionDiff(&ctx2, diff_req, &diff).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(Publication, MergedMunicipalityCountsUnderItsSuccessorAtTheQuarterEnd) {
  testing::TestDatabase db;
  testing::TestServers servers(db.url());
  // Uden (GM0856) until 2022-01-01, then Maashorst (GM1991), region 27 Noordoost-Brabant.
  std::vector<core::Event> events;
  for (int i = 0; i < 3; ++i) {
    const std::string ref = "UdenResidentNumber000" + std::to_string(i);
    events.push_back(Ev("u" + std::to_string(i) + "a", ref, At("2021-03-01"),
                        core::EventKind::kTargetGroupEntered, "GM0856"));
    events.push_back(Ev("u" + std::to_string(i) + "b", ref, At("2021-04-01"),
                        core::EventKind::kClientRegistered, "GM0856", core::Registrant::kGemeente));
  }
  servers.Send(events);
  const v1::RenderedReport q3 = Render(servers, "27", "2022-Q3", true, 0, "csv");
  EXPECT_NE(q3.content().find("27 Noordoost-Brabant,Maashorst,0,3,0,0,3,3"), std::string::npos)
      << q3.content();
  EXPECT_EQ(q3.content().find("Uden"), std::string::npos);
  const v1::RenderedReport q4_2021 = Render(servers, "27", "2021-Q4", true, 0, "csv");
  EXPECT_NE(q4_2021.content().find("27 Noordoost-Brabant,Uden,0,3,0,0,3,3"), std::string::npos)
      << q4_2021.content();
  EXPECT_EQ(q4_2021.content().find("Maashorst"), std::string::npos);
  // Before they registered in Sonar (2021-Q1): register only.
  const v1::RenderedReport q1_2021 = Render(servers, "27", "2021-Q1", true, 0, "csv");
  EXPECT_NE(q1_2021.content().find("27 Noordoost-Brabant,Uden,0,0,0,0,0,3"), std::string::npos);
}

}  // namespace
}  // namespace sonar
