// PgCountsFeed against a real PostgreSQL: its model equals the counter tables after concurrent
// batches, a lost change row forces a reload, a killed connection is reconnected and reloaded,
// publications move the epoch, and Sync() waits for commits made before it.
#include "storage/pg_counts_feed.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "core/reference_data.h"
#include "ingest/batch_processor.h"
#include "sim/seed_population.h"
#include "storage/pg_batch_store.h"
#include "storage/pg_counts_reader.h"
#include "tests/support/test_database.h"

namespace sonar {
namespace {

using namespace std::chrono_literals;
using Totals = std::map<std::pair<std::string, int>, int64_t>;

Totals AsMap(const std::vector<core::CounterRow>& rows) {
  Totals out;
  for (const core::CounterRow& r : rows) {
    out[{r.municipality_code, static_cast<int>(r.cell)}] += r.n;
  }
  return out;
}

std::vector<core::Event> Events(uint64_t seed) {
  sim::PopulationOptions options;
  options.quarter = {2022, 3};
  options.rows = sim::ZeelandSeedRows();
  options.register_only = 1454;
  options.sonar_only = 37;
  options.now = core::Instant{*core::ParseDate("2022-11-20")};
  options.seed = seed;
  return sim::GeneratePopulation(options, core::ReferenceData::Builtin()).events;
}

// Writes `events` in batches of `batch` through two concurrent writers.
void Ingest(const std::string& url, const std::vector<core::Event>& events, size_t batch) {
  const core::Instant now = core::Instant{*core::ParseDate("2026-01-01")};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      storage::PgBatchStore store(url);
      ingest::BatchProcessor processor(store, core::ReferenceData::Builtin(), 20);
      for (size_t i = w * batch; i < events.size(); i += 2 * batch) {
        std::vector<ingest::IncomingEvent> part;
        for (size_t j = i; j < std::min(events.size(), i + batch); ++j) {
          part.push_back({events[j], std::nullopt, events[j].source, events[j].event_id});
        }
        auto r = processor.Process(part, {"feed-test", i}, now, nullptr);
        ASSERT_TRUE(r.ok()) << r.status();
      }
    });
  }
  for (auto& t : writers) t.join();
}

// The model equals what PgCountsReader reads from the tables, live and for several quarters.
void ExpectModelEqualsDatabase(const storage::PgCountsFeed& feed, const std::string& url) {
  storage::PgConnection conn(url);
  storage::PgCountsReader reader(conn);
  Totals live;
  std::map<int, Totals> quarters;
  const std::vector<int> indexes = {core::Quarter{2021, 4}.Index(), core::Quarter{2022, 3}.Index(),
                                    core::Quarter{2022, 4}.Index()};
  ASSERT_TRUE(feed.Read([&](const core::CountsModel& m) {
    live = AsMap(m.LiveRows());
    for (int q : indexes) quarters[q] = AsMap(m.QuarterRows(q));
  }));
  auto db_live = reader.LiveCounts({});
  ASSERT_TRUE(db_live.ok());
  EXPECT_EQ(live, AsMap(db_live->rows));
  EXPECT_FALSE(live.empty());
  for (int q : indexes) {
    auto db_quarter = reader.QuarterCounts(q, {});
    ASSERT_TRUE(db_quarter.ok());
    EXPECT_EQ(quarters[q], AsMap(db_quarter->rows)) << "quarter " << q;
  }
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
  for (auto deadline = std::chrono::steady_clock::now() + timeout;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(10ms)) {
    if (condition()) return true;
  }
  return condition();
}

// Starts `feed` (no change callback) and waits for its first snapshot.
bool StartedAndReady(storage::PgCountsFeed& feed) {
  feed.Start({});
  return WaitFor([&] { return feed.ready(); });
}

TEST(PgCountsFeed, FollowsConcurrentBatchesAndEqualsTheTables) {
  testing::TestDatabase db;
  const std::vector<core::Event> events = Events(3);
  const size_t half = events.size() / 2;
  Ingest(db.url(), {events.begin(), events.begin() + half}, 300);  // before the feed: snapshot

  storage::PgCountsFeed feed(db.url());
  std::atomic<int> changes{0};
  feed.Start([&] { ++changes; });
  ASSERT_TRUE(WaitFor([&] { return feed.ready(); }));
  Ingest(db.url(), {events.begin() + half, events.end()}, 170);  // after: the change feed

  storage::PgConnection primary(db.url());
  ASSERT_TRUE(feed.Sync(primary, 5s).ok());
  ExpectModelEqualsDatabase(feed, db.url());
  EXPECT_EQ(feed.stats().reloads, 1u);
  EXPECT_GT(feed.stats().batches_applied, 0u);
  EXPECT_GT(changes.load(), 1);
}

TEST(PgCountsFeed, ReloadsWhenANotifiedChangeIsNoLongerStored) {
  testing::TestDatabase db;
  storage::PgCountsFeed feed(db.url());
  ASSERT_TRUE(StartedAndReady(feed));
  const std::vector<core::Event> events = Events(5);
  Ingest(db.url(), {events.begin(), events.begin() + events.size() / 2}, 500);
  // A batch whose row is gone (as if pruned while the feed lagged): the feed must reload.
  static_cast<void>(db.Scalar("SELECT pg_notify('sonar_counts', '987654321')"));
  ASSERT_TRUE(WaitFor([&] { return feed.stats().forced_reloads == 1; }));
  Ingest(db.url(), {events.begin() + events.size() / 2, events.end()}, 500);
  storage::PgConnection primary(db.url());
  ASSERT_TRUE(feed.Sync(primary, 5s).ok());
  ExpectModelEqualsDatabase(feed, db.url());
  EXPECT_EQ(feed.stats().reloads, 2u);
}

TEST(PgCountsFeed, ReconnectsAndReloadsAfterItsConnectionIsKilled) {
  testing::TestDatabase db;
  storage::PgCountsFeed feed(db.url());
  ASSERT_TRUE(StartedAndReady(feed));
  const uint64_t epoch = feed.publication_epoch();
  static_cast<void>(
      db.Scalar("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"));
  // While it is gone, batches commit; their notifications are lost, the reload covers them.
  Ingest(db.url(), Events(9), 400);
  ASSERT_TRUE(WaitFor([&] { return feed.ready() && feed.stats().reloads == 2; }));
  EXPECT_GT(feed.publication_epoch(), epoch);  // cached latest revisions are invalid now
  storage::PgConnection primary(db.url());
  ASSERT_TRUE(feed.Sync(primary, 5s).ok());
  ExpectModelEqualsDatabase(feed, db.url());
}

TEST(PgCountsFeed, PublicationsMoveTheEpochAndSyncNeedsAConnection) {
  testing::TestDatabase db;
  storage::PgCountsFeed feed(db.url());
  ASSERT_TRUE(StartedAndReady(feed));
  const uint64_t epoch = feed.publication_epoch();
  static_cast<void>(db.Scalar("SELECT pg_notify('sonar_publications', '8090')"));
  storage::PgConnection primary(db.url());
  ASSERT_TRUE(feed.Sync(primary, 5s).ok());  // the marker comes after the publication
  EXPECT_EQ(feed.publication_epoch(), epoch + 1);

  storage::PgCountsFeed unreachable("postgresql://sonar@127.0.0.1:1/none?connect_timeout=1");
  unreachable.Start({});
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(unreachable.ready());
  EXPECT_FALSE(unreachable.Read([](const core::CountsModel&) {}));
  const absl::Status s = unreachable.Sync(primary, 1s);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace sonar
