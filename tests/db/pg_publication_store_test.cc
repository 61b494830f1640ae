// PgPublicationStore against a real PostgreSQL: a failure after the COMMIT of a publication does
// not turn a stored revision into an error (a retry would store it twice).
#include "storage/pg_publication_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <pqxx/pqxx>
#include <thread>

#include "tests/support/test_database.h"

namespace sonar {
namespace {

using namespace std::chrono_literals;

std::vector<core::RegionFigures> NoFigures(std::span<const core::CounterRow>) { return {}; }

TEST(PgPublicationStore, FailureAfterTheCommitStillAnswersTheStoredRevision) {
  testing::TestDatabase db;
  // A login role of the query service that may not call the one-key pg_advisory_unlock in this
  // database: releasing the publishing lock, the statement after the COMMIT, fails (the lock
  // that waits for ingest transactions, released before the COMMIT, has two keys).
  const std::string role = "sonar_query_publisher_" + std::to_string(getpid());
  {
    pqxx::connection admin(db.url());
    pqxx::nontransaction tx(admin);
    tx.exec("DROP ROLE IF EXISTS " + role);
    tx.exec("CREATE ROLE " + role + " LOGIN IN ROLE sonar_query");
    tx.exec("REVOKE EXECUTE ON FUNCTION pg_advisory_unlock(bigint) FROM PUBLIC");
  }
  std::string url = db.url();
  url.replace(url.find("sonar@"), 6, role + "@");
  storage::PgConnection connection(url);
  storage::PgPublicationStore publications(connection);
  const std::string advisory_locks =
      "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
      "(SELECT oid FROM pg_database WHERE datname = current_database())";

  for (int revision : {1, 2}) {
    SCOPED_TRACE(revision);
    auto published = publications.Publish({2022, 3}, NoFigures);
    ASSERT_TRUE(published.ok()) << published.status();
    EXPECT_EQ(published->revision, revision);
    EXPECT_EQ(db.Scalar("SELECT max(revision) FROM publications"), std::to_string(revision));
    // The lock was not released by its statement: it dies with the session, which is closed.
    std::string held = db.Scalar(advisory_locks);
    for (int i = 0; i < 500 && held != "0"; ++i) {
      std::this_thread::sleep_for(10ms);
      held = db.Scalar(advisory_locks);
    }
    EXPECT_EQ(held, "0");
  }
}

// An ingest transaction that does not end (a dead client's session the server has not noticed
// yet) would stop all ingest while a publisher waits for it: the wait is bounded, publishing
// answers UNAVAILABLE, and ingest goes on.
TEST(PgPublicationStore, PublishingGivesUpOnAnIngestTransactionThatDoesNotEnd) {
  testing::TestDatabase db;
  pqxx::connection stuck_conn(db.url());
  pqxx::work stuck(stuck_conn);
  stuck.exec("SELECT pg_advisory_xact_lock_shared(hashtext('sonar'), hashtext('ingest_position'))");
  storage::PgConnection primary(db.url());
  storage::PgPublicationStore publications(primary);
  const auto before = std::chrono::steady_clock::now();
  auto refused = publications.Publish({2022, 3}, NoFigures);
  const auto waited = std::chrono::steady_clock::now() - before;
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("55P03"), std::string::npos) << refused.status();
  EXPECT_GE(waited, 4s);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM publications"), "0");
  // Nothing of the attempt is left to block ingest: another ingest transaction takes the lock.
  {
    pqxx::connection conn(db.url());
    pqxx::work other(conn);
    other.exec("SET LOCAL lock_timeout = '2s'");
    other.exec(
        "SELECT pg_advisory_xact_lock_shared(hashtext('sonar'), hashtext('ingest_position'))");
  }
  stuck.commit();
  auto published = publications.Publish({2022, 3}, NoFigures);
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->revision, 1);
}

}  // namespace
}  // namespace sonar
