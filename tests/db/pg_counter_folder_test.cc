// PgCounterFolder against a real PostgreSQL: batches write their counter deltas insert-only, the
// folder adds them into the counter tables exactly once, one folder at a time, and prunes only
// folded change rows.
#include "storage/pg_counter_folder.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "core/reference_data.h"
#include "ingest/batch_processor.h"
#include "storage/pg_batch_store.h"
#include "storage/pg_verifier.h"
#include "tests/support/test_database.h"

namespace sonar {
namespace {

using core::Event;
using core::EventKind;

core::Instant At(const char* date) {
  return core::Instant{*core::ParseDate(date)} + std::chrono::hours(12);
}

// Three persons registered in one batch each, in two municipalities; one moved later.
void IngestThreeBatches(const std::string& url) {
  storage::PgBatchStore store(url);
  ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
  auto send = [&](uint64_t id, std::vector<Event> events) {
    std::vector<ingest::IncomingEvent> in;
    for (const Event& e : events) in.push_back({e, std::nullopt, e.source, e.event_id});
    auto r = processor.Process(in, {"fold-test", id}, At("2026-01-01"), nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
  };
  for (int p = 0; p < 3; ++p) {
    const std::string ref = "FoldTestPerson000000" + std::to_string(p);
    const char* code = p == 0 ? "GM0654" : "GM0664";
    send(static_cast<uint64_t>(p),
         {{"t", "in-" + std::to_string(p), ref, At("2022-04-01"), EventKind::kTargetGroupEntered,
           code, core::Registrant::kUnspecified},
          {"t", "reg-" + std::to_string(p), ref, At("2022-05-01"), EventKind::kClientRegistered,
           code, core::Registrant::kUwv}});
  }
  send(9, {{"t", "move-0", "FoldTestPerson0000000", At("2022-08-01"), EventKind::kClientMoved,
            "GM0664", core::Registrant::kUnspecified}});
}

// The invariant check: counters (folded or not) equal a recomputation from the events.
void ExpectVerified(const std::string& url) {
  auto verified = storage::VerifyCounters(url);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok()) << (verified->examples.empty() ? "" : verified->examples[0]);
}

TEST(PgCounterFolder, FoldsEachUnfoldedBatchIntoTheTablesOnce) {
  testing::TestDatabase db;
  IngestThreeBatches(db.url());
  // Written insert-only: the tables are untouched, the views hold the counts.
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM count_changes_unfolded"), "4");
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM live_counts"), "0");
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM quarter_deltas"), "0");
  const std::string live_view =
      "SELECT string_agg(municipality_code || ':' || cell || '=' || s, ' ' ORDER BY 1) FROM "
      "(SELECT municipality_code, cell, sum(n) s FROM live_counts_all GROUP BY 1, 2 "
      "HAVING sum(n) <> 0) x";
  const std::string before = db.Scalar(live_view);
  EXPECT_EQ(before,
            "GM0664:" + std::to_string(static_cast<int>(core::Cell::kUwvWithoutProfile)) + "=3");
  const std::string quarters_view =
      "SELECT string_agg(quarter || ':' || municipality_code || ':' || cell || '=' || s, ' ' "
      "ORDER BY 1) FROM (SELECT quarter, municipality_code, cell, sum(n) s FROM "
      "quarter_deltas_all GROUP BY 1, 2, 3 HAVING sum(n) <> 0) x";
  const std::string quarters_before = db.Scalar(quarters_view);

  storage::PgCounterFolder folder(db.url());
  auto first = folder.FoldOnce();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->skipped);
  EXPECT_EQ(first->batches, 4);
  // Summed per key before writing: GM0654 went +1 and -1 in the same quarter-free live key.
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM live_counts WHERE n <> 0"), "1");
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM count_changes_unfolded"), "0");
  EXPECT_EQ(db.Scalar(live_view), before);
  EXPECT_EQ(db.Scalar(quarters_view), quarters_before);
  EXPECT_EQ(db.Scalar("SELECT sum(n) FROM live_counts"), "3");

  auto second = folder.FoldOnce();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->batches, 0);
  EXPECT_EQ(db.Scalar(live_view), before);
  ExpectVerified(db.url());
}

// Migration 0009: the seven arrays of a change row are compressed with lz4 (this test cluster's
// server has it).
TEST(PgCounterFolder, ChangeRowsAreCompressedWithLz4) {
  testing::TestDatabase db;
  EXPECT_EQ(db.Scalar("SELECT string_agg(DISTINCT attcompression::text, ',') FROM pg_attribute "
                      "WHERE attrelid = 'count_changes'::regclass AND attname ~ '^[ql]_'"),
            "l");
  // A row as large as a batch part's is compressed when stored, with lz4.
  EXPECT_EQ(db.Scalar("INSERT INTO count_changes "
                      "(seq, q_quarters, q_codes, q_cells, q_n, l_codes, l_cells, l_n) "
                      "SELECT 1, array_agg(8076), array_agg('GM0' || (i % 400)), "
                      "array_agg(5::int2), array_agg(1::int8), array_agg('GM0' || (i % 400)), "
                      "array_agg(5::int2), array_agg(1::int8) FROM generate_series(1, 600) i "
                      "RETURNING seq"),
            "1");
  EXPECT_EQ(db.Scalar("SELECT pg_column_compression(q_codes) FROM count_changes"), "lz4");
}

TEST(PgCounterFolder, ASecondFolderSkipsWhileOneHoldsTheLock) {
  testing::TestDatabase db;
  IngestThreeBatches(db.url());
  pqxx::connection other(db.url());
  pqxx::work holding(other);
  holding.exec("SELECT pg_advisory_xact_lock(hashtext('sonar.fold'))");
  storage::PgCounterFolder folder(db.url());
  auto skipped = folder.FoldOnce();
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_TRUE(skipped->skipped);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM count_changes_unfolded"), "4");
  holding.abort();
  auto folded = folder.FoldOnce();
  ASSERT_TRUE(folded.ok()) << folded.status();
  EXPECT_FALSE(folded->skipped);
  EXPECT_EQ(folded->batches, 4);
}

TEST(PgCounterFolder, PrunesOnlyOldFoldedChangeRows) {
  testing::TestDatabase db;
  IngestThreeBatches(db.url());
  (void)db.Scalar(
      "UPDATE count_changes SET committed_at = committed_at - interval '1 hour' "
      "WHERE seq IN (SELECT seq FROM count_changes ORDER BY seq LIMIT 2)");
  storage::PgCounterFolder folder(db.url());
  // Old but not folded yet: kept (the counters still need them).
  auto kept = folder.Prune(std::chrono::seconds(600));
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(*kept, 0);
  ASSERT_TRUE(folder.FoldOnce().ok());
  auto pruned = folder.Prune(std::chrono::seconds(600));
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 2);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM count_changes"), "2");  // the recent ones stay
  ExpectVerified(db.url());
}

TEST(PgCounterFolder, FoldsInChunksOldestFirst) {
  testing::TestDatabase db;
  IngestThreeBatches(db.url());
  const std::string oldest_two = db.Scalar(
      "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM (SELECT seq FROM "
      "count_changes_unfolded ORDER BY seq LIMIT 2) s");
  storage::PgCounterFolder folder(db.url());
  auto first = folder.FoldOnce(2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->batches, 2);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM count_changes_unfolded"), "2");
  EXPECT_EQ(
      db.Scalar("SELECT count(*) FROM count_changes_unfolded WHERE seq IN (" + oldest_two + ")"),
      "0");
  auto rest = folder.FoldOnce(2);
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(rest->batches, 2);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM count_changes_unfolded"), "0");
  ExpectVerified(db.url());
}

// What an ingest process of a release before migration 0006 would do during a rolling update:
// prune change rows by age alone. The foreign key refuses it while a row is not folded.
TEST(PgCounterFolder, AnUnfoldedChangeRowCannotBeDeleted) {
  testing::TestDatabase db;
  IngestThreeBatches(db.url());
  pqxx::connection conn(db.url());
  {
    pqxx::work tx(conn);
    EXPECT_THROW(tx.exec("DELETE FROM count_changes"), pqxx::foreign_key_violation);
  }
  storage::PgCounterFolder folder(db.url());
  ASSERT_TRUE(folder.FoldOnce().ok());
  pqxx::work tx(conn);
  EXPECT_EQ(tx.exec("DELETE FROM count_changes").affected_rows(), 4u);
}

TEST(PgCounterFolder, UnreachableDatabaseIsUnavailable) {
  storage::PgCounterFolder folder("postgresql://127.0.0.1:1/none?connect_timeout=2");
  auto r = folder.FoldOnce();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace sonar
