// The service roles of migration 0003: each service can do its work and nothing beyond it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include "core/reference_data.h"
#include "ingest/batch_processor.h"
#include "storage/migrator.h"
#include "storage/pg_batch_store.h"
#include "storage/pg_connection.h"
#include "storage/pg_counter_folder.h"
#include "storage/pg_counts_reader.h"
#include "storage/pg_publication_store.h"
#include "storage/pg_status.h"
#include "tests/support/test_database.h"

namespace sonar {
namespace {

// A login role in `group`, and the database URL that uses it.
std::string LoginAs(const testing::TestDatabase& db, const std::string& group) {
  const std::string role = group + "_login_" + std::to_string(getpid());
  pqxx::connection admin(db.url());
  pqxx::nontransaction tx(admin);
  tx.exec("DROP ROLE IF EXISTS " + role);
  tx.exec("CREATE ROLE " + role + " LOGIN IN ROLE " + group);
  std::string url = db.url();
  return url.replace(url.find("sonar@"), 6, role + "@");
}

bool Denied(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection conn(url);
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
    return false;
  } catch (const pqxx::insufficient_privilege&) {
    return true;
  }
}

core::Event Registered(const std::string& id) {
  return {"sonar",
          id,
          "LeastPrivilegePerson01",
          core::Instant{*core::ParseDate("2022-05-01")},
          core::EventKind::kClientRegistered,
          "GM0654",
          core::Registrant::kUwv};
}

TEST(LeastPrivilege, IngestRoleWritesEventsButCannotChangeSchemaOrReadPublications) {
  testing::TestDatabase db;
  const std::string url = LoginAs(db, "sonar_ingest");
  auto migrations = storage::ApplyMigrations(url);  // up to date: nothing to do, no DDL
  ASSERT_TRUE(migrations.ok()) << migrations.status();
  EXPECT_TRUE(migrations->empty());
  storage::PgBatchStore store(url);
  ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
  std::vector<ingest::IncomingEvent> events = {
      {Registered("lp-1"), std::nullopt, "sonar", "lp-1"},
      {std::nullopt, core::Rejection{"missing_kind", "x"}, "sonar", "lp-2"}};
  auto result = processor.Process(
      events, {"lp", 1}, core::Instant{*core::ParseDate("2026-01-01")},
      [](size_t, const ingest::Pseudonymizer*) { return std::string("payload"); });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->accepted, 1u);
  // The counter folder runs as this role too: folding and pruning must not need more.
  storage::PgCounterFolder folder(url);
  auto folded = folder.FoldOnce();
  ASSERT_TRUE(folded.ok()) << folded.status();
  EXPECT_EQ(folded->batches, 1);
  auto pruned = folder.Prune(std::chrono::seconds(0));
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 1);
  EXPECT_TRUE(Denied(url, "CREATE TABLE intruder (x int)"));
  EXPECT_TRUE(Denied(url, "ALTER TABLE events ADD COLUMN x int"));
  EXPECT_TRUE(Denied(url, "SELECT * FROM publication_figures"));
  EXPECT_TRUE(Denied(url, "SELECT * FROM rejected_events"));
  EXPECT_TRUE(Denied(url, "DELETE FROM events"));
}

// What the services make of a refusal: PERMISSION_DENIED with its SQLSTATE (libpqxx 6.4 leaves
// the SQLSTATE of insufficient_privilege empty; the message said "(SQLSTATE )").
TEST(LeastPrivilege, ARefusedStatementIsPermissionDeniedWithItsSqlstate) {
  testing::TestDatabase db;
  const std::string url = LoginAs(db, "sonar_query");
  absl::Status status;
  try {
    pqxx::connection conn(url);
    pqxx::nontransaction(conn).exec("DELETE FROM events");
  } catch (...) {
    status = storage::StatusFromCurrentException();
  }
  EXPECT_TRUE(absl::IsPermissionDenied(status)) << status;
  EXPECT_EQ(status.message(), "database: insufficient privilege (SQLSTATE 42501)");
}

TEST(LeastPrivilege, QueryRoleReadsCountersAndPublishesButCannotWriteEvents) {
  testing::TestDatabase db;
  const std::string url = LoginAs(db, "sonar_query");
  storage::PgConnection connection(url);
  storage::PgCountsReader counts(connection);
  storage::PgPublicationStore publications(connection);
  EXPECT_TRUE(counts.LiveCounts({}).ok());
  EXPECT_TRUE(counts.QuarterCounts(2022 * 4 + 2, {}).ok());
  auto published = publications.Publish({2022, 3}, [](std::span<const core::CounterRow>) {
    return std::vector<core::RegionFigures>{};
  });
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->revision, 1);
  EXPECT_TRUE(Denied(url,
                     "INSERT INTO events (source, event_id, client_ref, occurred_at, kind, "
                     "batch_seq) VALUES ('a', 'b', 'c', now(), 1, 1)"));
  EXPECT_TRUE(Denied(url, "SELECT * FROM events"));
  EXPECT_TRUE(Denied(url, "SELECT * FROM clients"));
  EXPECT_TRUE(Denied(url, "UPDATE publication_figures SET gemeente_with_profile = 0"));
  EXPECT_TRUE(Denied(url, "CREATE TABLE intruder (x int)"));
}

}  // namespace
}  // namespace sonar
