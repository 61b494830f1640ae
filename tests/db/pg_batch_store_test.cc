// BatchProcessor + PgBatchStore against a real PostgreSQL: one transaction per batch, idempotency,
// conflicts, quarantine, and exact counters under concurrent writers.
#include "storage/pg_batch_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "core/client_state.h"
#include "core/reference_data.h"
#include "ingest/batch_processor.h"
#include "storage/migrator.h"
#include "storage/pg_counter_folder.h"
#include "storage/pg_publication_store.h"
#include "storage/pg_verifier.h"
#include "tests/support/test_database.h"

namespace sonar {
namespace {

using core::Event;
using core::EventKind;
using core::Instant;

Instant At(const char* date, int hour = 12) {
  return core::Instant{*core::ParseDate(date)} + std::chrono::hours(hour);
}

Event Make(std::string id, std::string ref, Instant at, EventKind kind, std::string code = "",
           core::Registrant registrant = core::Registrant::kUnspecified) {
  return Event{"sonar", std::move(id), std::move(ref), at, kind, std::move(code), registrant};
}

std::vector<ingest::IncomingEvent> Incoming(const std::vector<Event>& events) {
  std::vector<ingest::IncomingEvent> out;
  for (const Event& e : events) out.push_back({e, std::nullopt, e.source, e.event_id});
  return out;
}

const Instant kNow = At("2026-01-01");

// The live counts (folded rows plus the deltas not folded yet), by (code, cell).
std::map<std::pair<std::string, int>, int64_t> LiveCounts(const std::string& url) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  std::map<std::pair<std::string, int>, int64_t> out;
  for (const auto& row : tx.exec("SELECT municipality_code, cell, sum(n)::int8 FROM "
                                 "live_counts_all GROUP BY 1, 2 HAVING sum(n) <> 0")) {
    out[{row[0].as<std::string>(), row[1].as<int>()}] = row[2].as<int64_t>();
  }
  return out;
}

// The same, recomputed from the stored events alone (the invariant check).
std::map<std::pair<std::string, int>, int64_t> RecomputeFromEvents(const std::string& url) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  std::map<std::string, std::vector<Event>> by_ref;
  for (const auto& row : tx.exec("SELECT source, event_id, client_ref, "
                                 "(EXTRACT(EPOCH FROM occurred_at) * 1000000)::int8, kind, "
                                 "municipality_code, registrant FROM events")) {
    Event e{row[0].as<std::string>(),
            row[1].as<std::string>(),
            row[2].as<std::string>(),
            Instant{std::chrono::microseconds{row[3].as<int64_t>()}},
            static_cast<EventKind>(row[4].as<int>()),
            row[5].as<std::string>(),
            static_cast<core::Registrant>(row[6].as<int>())};
    by_ref[e.client_ref].push_back(std::move(e));
  }
  std::map<std::pair<std::string, int>, int64_t> out;
  for (const auto& [ref, history] : by_ref) {
    const core::Placement p = core::PlacementOf(core::FoldHistory(history));
    if (p.cell != core::Cell::kNone) ++out[{p.municipality_code, static_cast<int>(p.cell)}];
  }
  return out;
}

// The stored counters pass the independent check (storage::VerifyCounters).
void ExpectCountersVerified(const std::string& url) {
  auto verified = storage::VerifyCounters(url);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok()) << (verified->examples.empty() ? "" : verified->examples[0]);
}

// A server that turned read-only (a standby: the old primary after a failover) is UNAVAILABLE,
// which producers retry, not INTERNAL, which they take for a bug; the store drops the connection,
// so it writes again once it reaches a writable server.
TEST(PgBatchStore, AReadOnlyServerIsUnavailableAndTheStoreRecovers) {
  testing::TestDatabase db;
  storage::PgBatchStore store(db.url());
  ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
  const auto payload_of = [](size_t, const ingest::Pseudonymizer*) { return std::string(); };
  const std::vector<Event> first = {
      Make("ro-1", "ReadOnlyTestPerson0001", At("2022-04-01"), EventKind::kProfileCompleted)};
  ASSERT_TRUE(processor.Process(Incoming(first), {"ro", 1}, kNow, payload_of).ok());
  const auto read_only = [&](bool on) {
    pqxx::connection conn(db.url());
    pqxx::nontransaction(conn).exec("SET default_transaction_read_only = off");
    pqxx::nontransaction(conn).exec("ALTER DATABASE " + db.name() +
                                    " SET default_transaction_read_only = " + (on ? "on" : "off"));
    // Sessions that are open keep their setting: end them, as a failover would.
    pqxx::nontransaction(conn).exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()");
  };
  read_only(true);
  const std::vector<Event> second = {
      Make("ro-2", "ReadOnlyTestPerson0001", At("2022-05-01"), EventKind::kProfileWithdrawn)};
  // The first attempt may meet the terminated connection; each later one a read-only session.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto refused = processor.Process(Incoming(second), {"ro", 2}, kNow, payload_of);
    ASSERT_FALSE(refused.ok());
    EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  }
  read_only(false);
  absl::StatusOr<ingest::BatchResult> written;
  for (int attempt = 0; attempt < 3 && !written.ok(); ++attempt) {
    written = processor.Process(Incoming(second), {"ro", 2}, kNow, payload_of);
  }
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->accepted, 1u);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events"), "2");
}

TEST(PgBatchStore, CommitsAcceptsDuplicatesAndQuarantinesRejections) {
  testing::TestDatabase db;
  storage::PgBatchStore store(db.url());
  ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
  const std::string ref = "PseudonymAbcdefgh0001";
  std::vector<Event> events = {
      Make("a1", ref, At("2022-04-01"), EventKind::kTargetGroupEntered, "GM0654"),
      Make("a2", ref, At("2022-05-01"), EventKind::kClientRegistered, "GM0654",
           core::Registrant::kUwv),
      Make("a2", ref, At("2022-05-01"), EventKind::kClientRegistered, "GM0654",
           core::Registrant::kUwv),  // duplicate within the batch
      Make("a3", "123456789", At("2022-05-01"), EventKind::kProfileCompleted),  // BSN
  };
  auto payload_of = [](size_t i, const ingest::Pseudonymizer*) {
    return "payload-" + std::to_string(i);
  };
  auto result = processor.Process(Incoming(events), {"test", 1}, kNow, payload_of);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->accepted, 2u);
  EXPECT_EQ(result->duplicates, 1u);
  ASSERT_EQ(result->rejections.size(), 1u);
  EXPECT_EQ(result->rejections[0].index, 3u);
  EXPECT_EQ(result->rejections[0].code, "probable_bsn");
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events"), "2");
  EXPECT_EQ(db.Scalar("SELECT code || ':' || item_index || ':' || encode(payload, 'escape') "
                      "FROM rejected_events"),
            "probable_bsn:3:payload-3");
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events WHERE client_ref = '123456789'"), "0");

  // Resent: all duplicates; a changed event under a known key is a conflict, the first stays.
  events[1].municipality_code = "GM0664";
  events.resize(2);
  auto again = processor.Process(Incoming(events), {"test", 2}, kNow, payload_of);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->attempts, 1);  // duplicate and conflict told apart by the history alone
  EXPECT_EQ(again->accepted, 0u);
  EXPECT_EQ(again->duplicates, 1u);
  ASSERT_EQ(again->rejections.size(), 1u);
  EXPECT_EQ(again->rejections[0].code, "conflict");
  EXPECT_EQ(db.Scalar("SELECT municipality_code FROM events WHERE event_id = 'a2'"), "GM0654");
  const auto live = LiveCounts(db.url());
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ((live.at({"GM0654", static_cast<int>(core::Cell::kUwvWithoutProfile)})), 1);
  EXPECT_EQ(live, RecomputeFromEvents(db.url()));
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM ingest_batches"), "2");
}

TEST(PgBatchStore, EventsAreStoredExactlyAsAccepted) {
  // The first attempt is optimistic and copies the events in (COPY's text format): every column
  // must come back as sent, microseconds, empty codes and the batch's position included.
  testing::TestDatabase db;
  storage::PgBatchStore store(db.url());
  ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
  std::vector<Event> events = {
      Make("k-2", "PseudonymAbcdefgh0002", At("2022-03-27", 1) + std::chrono::microseconds{1},
           EventKind::kTargetGroupEntered, "GM0654"),
      Make("k-1", "PseudonymAbcdefgh0001", At("2019-01-01", 0) - std::chrono::microseconds{1},
           EventKind::kClientRegistered, "GM0687", core::Registrant::kGemeente),
      Make("k+3", "Pseudonym_Abc-defgh=0003", At("2024-12-31", 23) + std::chrono::minutes{59},
           EventKind::kProfileCompleted),
  };
  events[0].source = "upstream.a-1";
  auto result =
      processor.Process(Incoming(events), {"exact", 7}, kNow,
                        [](size_t, const ingest::Pseudonymizer*) { return std::string(); });
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->accepted, events.size());
  EXPECT_EQ(result->attempts, 1);
  const std::string seq = db.Scalar("SELECT seq FROM ingest_batches");
  pqxx::connection conn(db.url());
  pqxx::nontransaction tx(conn);
  std::map<std::string, std::string> stored;  // event_id -> the row as text
  for (const auto& row :
       tx.exec("SELECT event_id, source || '|' || client_ref || '|' || "
               "(EXTRACT(EPOCH FROM occurred_at) * 1000000)::int8 || '|' || kind || '|' || "
               "municipality_code || '|' || registrant || '|' || batch_seq FROM events")) {
    stored[row[0].as<std::string>()] = row[1].as<std::string>();
  }
  ASSERT_EQ(stored.size(), events.size());
  for (const Event& e : events) {
    SCOPED_TRACE(e.event_id);
    EXPECT_EQ(stored[e.event_id], e.source + "|" + e.client_ref + "|" +
                                      std::to_string(e.occurred_at.time_since_epoch().count()) +
                                      "|" + std::to_string(static_cast<int>(e.kind)) + "|" +
                                      e.municipality_code + "|" +
                                      std::to_string(static_cast<int>(e.registrant)) + "|" + seq);
  }
}

TEST(PgBatchStore, MigrationsAreAppliedOnceEvenConcurrently) {
  testing::TestDatabase db;  // already migrated once
  std::vector<std::thread> threads;
  std::atomic<int> applied{0}, failed{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto r = storage::ApplyMigrations(db.url());
      if (!r.ok())
        ++failed;
      else
        applied += static_cast<int>(r->size());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(applied.load(), 0);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM schema_migrations"),
            std::to_string(storage::BuiltinMigrations().size()));
}

// Random histories over a few Zeeland municipalities, for concurrency tests.
std::vector<Event> RandomEvents(int persons, int per_person, uint32_t seed) {
  static const char* kCodes[] = {"GM0654", "GM0664", "GM0677", "GM0678", "GM0687"};
  std::mt19937 rng(seed);
  std::vector<Event> out;
  for (int p = 0; p < persons; ++p) {
    const std::string ref = "ConcurrentPerson" + std::to_string(100000 + p);
    for (int k = 0; k < per_person; ++k) {
      const auto kind = static_cast<EventKind>(1 + rng() % 8);
      const Instant at = At("2020-01-01") + std::chrono::hours(rng() % 40000);
      std::string code;
      auto registrant = core::Registrant::kUnspecified;
      if (kind == EventKind::kClientRegistered || kind == EventKind::kClientMoved ||
          kind == EventKind::kTargetGroupEntered) {
        code = kCodes[rng() % 5];
      }
      if (kind == EventKind::kClientRegistered || kind == EventKind::kRegistrantChanged) {
        registrant = rng() % 2 ? core::Registrant::kUwv : core::Registrant::kGemeente;
      }
      out.push_back(
          Make("c" + std::to_string(p) + "-" + std::to_string(k), ref, at, kind, code, registrant));
    }
  }
  return out;
}

TEST(PgBatchStore, ConcurrentWritersKeepCountersExact) {
  testing::TestDatabase db;
  const std::vector<Event> events = RandomEvents(300, 6, 42);
  // Four writers each replay every event, in their own shuffled order and batch sizes, so the
  // same persons and keys are hit by several transactions at once.
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  std::atomic<uint64_t> accepted{0};
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      storage::PgBatchStore store(db.url());
      ingest::BatchProcessor processor(store, core::ReferenceData::Builtin(), 20);
      std::vector<Event> mine = events;
      std::shuffle(mine.begin(), mine.end(), std::mt19937(w));
      const size_t batch = 50 + 37 * w;
      for (size_t i = 0; i < mine.size(); i += batch) {
        std::vector<Event> part(mine.begin() + i, mine.begin() + std::min(mine.size(), i + batch));
        auto r = processor.Process(Incoming(part), {"w" + std::to_string(w), i}, kNow, nullptr);
        if (!r.ok()) {
          ++failures;
          ADD_FAILURE() << r.status();
        } else {
          accepted += r->accepted;
        }
      }
    });
  }
  // Meanwhile the counters are folded again and again (and a second folder competes for the
  // lock): a fold must never lose or double a batch's deltas.
  std::atomic<bool> writing{true};
  std::atomic<int64_t> folded_batches{0};
  std::vector<std::thread> folders;
  for (int f = 0; f < 2; ++f) {
    folders.emplace_back([&] {
      storage::PgCounterFolder folder(db.url());
      while (writing) {
        auto r = folder.FoldOnce();
        if (!r.ok()) {
          ++failures;
          ADD_FAILURE() << r.status();
          return;
        }
        folded_batches += r->batches;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  for (auto& t : writers) t.join();
  writing = false;
  for (auto& t : folders) t.join();
  EXPECT_GT(folded_batches.load(), 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(accepted.load(), events.size());  // each event accepted exactly once overall
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events"), std::to_string(events.size()));
  // Checked with some batches still unfolded, then again after a last fold has emptied them.
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "before the last fold" : "after the last fold");
    if (round == 1) {
      storage::PgCounterFolder folder(db.url());
      ASSERT_TRUE(folder.FoldOnce().ok());
      EXPECT_EQ(db.Scalar("SELECT count(*) FROM count_changes_unfolded"), "0");
      // Everything is in the tables themselves now.
      EXPECT_EQ(db.Scalar("SELECT count(*) FROM (SELECT municipality_code, cell, sum(n) s FROM "
                          "live_counts GROUP BY 1, 2) t FULL JOIN (SELECT municipality_code, "
                          "cell, sum(n) s FROM live_counts_all GROUP BY 1, 2) v USING "
                          "(municipality_code, cell) WHERE coalesce(t.s, 0) <> coalesce(v.s, 0)"),
                "0");
    }
    EXPECT_EQ(LiveCounts(db.url()), RecomputeFromEvents(db.url()));
    // Quarter deltas summed over all quarters equal the live counts.
    EXPECT_EQ(db.Scalar("SELECT count(*) FROM (SELECT municipality_code, cell, sum(n) s FROM "
                        "quarter_deltas_all GROUP BY 1, 2) q FULL JOIN (SELECT "
                        "municipality_code, cell, sum(n) s FROM live_counts_all GROUP BY 1, 2) l "
                        "USING (municipality_code, cell) WHERE coalesce(q.s, 0) <> "
                        "coalesce(l.s, 0)"),
              "0");
    // The change feed holds one row per committed batch, and its deltas add up to the counters.
    EXPECT_EQ(db.Scalar("SELECT count(*) FROM count_changes"),
              db.Scalar("SELECT count(*) FROM ingest_batches"));
    EXPECT_EQ(db.Scalar("SELECT count(*) FROM (SELECT q, m, c, sum(n) s FROM count_changes, "
                        "unnest(q_quarters, q_codes, q_cells, q_n) AS u(q, m, c, n) GROUP BY 1, "
                        "2, 3) f FULL JOIN (SELECT quarter q, municipality_code m, cell c, sum(n) "
                        "s FROM quarter_deltas_all GROUP BY 1, 2, 3) d USING (q, m, c) "
                        "WHERE coalesce(f.s, 0) <> coalesce(d.s, 0)"),
              "0");
    EXPECT_EQ(db.Scalar("SELECT count(*) FROM (SELECT m, c, sum(n) s FROM count_changes, "
                        "unnest(l_codes, l_cells, l_n) AS u(m, c, n) GROUP BY 1, 2) f FULL JOIN "
                        "(SELECT municipality_code m, cell c, sum(n) s FROM live_counts_all "
                        "GROUP BY 1, 2) d USING (m, c) WHERE coalesce(f.s, 0) <> coalesce(d.s, 0)"),
              "0");
    ExpectCountersVerified(db.url());
  }
}

// A store whose first transaction, right after locking (or reading, when `optimistic`), lets
// `interleave` run: to make another transaction commit at exactly that point. Without
// `optimistic` it offers locking transactions only.
class InterleavingStore final : public ingest::BatchStore {
 public:
  InterleavingStore(ingest::BatchStore& inner, std::function<void()> interleave,
                    bool optimistic = false)
      : inner_(inner), interleave_(std::move(interleave)), optimistic_(optimistic) {}
  absl::StatusOr<std::unique_ptr<ingest::BatchTransaction>> Begin() override {
    return Wrap(inner_.Begin());
  }
  absl::StatusOr<std::unique_ptr<ingest::BatchTransaction>> BeginOptimistic() override {
    if (!optimistic_) return ingest::BatchStore::BeginOptimistic();
    return Wrap(inner_.BeginOptimistic());
  }
  bool Healthy() const override { return inner_.Healthy(); }

 private:
  class Tx final : public ingest::BatchTransaction {
   public:
    Tx(std::unique_ptr<ingest::BatchTransaction> inner, std::function<void()> interleave)
        : inner_(std::move(inner)), interleave_(std::move(interleave)) {}
    absl::StatusOr<std::vector<std::vector<Event>>> LockHistories(
        std::span<const std::string_view> refs) override {
      auto r = inner_->LockHistories(refs);
      if (interleave_) interleave_();
      return r;
    }
    absl::StatusOr<std::vector<std::vector<Event>>> ReadHistories(
        std::span<const std::string_view> refs) override {
      auto r = inner_->ReadHistories(refs);
      if (interleave_) interleave_();
      return r;
    }
    absl::Status WriteHistoriesIfUnchanged(std::span<const std::string_view> refs,
                                           std::span<const std::vector<Event>> histories) override {
      return inner_->WriteHistoriesIfUnchanged(refs, histories);
    }
    absl::Status SetParts(size_t parts) override { return inner_->SetParts(parts); }
    absl::Status InsertNewEvents(std::span<const Event* const> events,
                                 std::span<const uint32_t> parts) override {
      return inner_->InsertNewEvents(events, parts);
    }
    absl::StatusOr<std::vector<std::optional<Event>>> InsertEvents(
        std::span<const Event> events, std::span<const uint32_t> parts) override {
      return inner_->InsertEvents(events, parts);
    }
    absl::Status StoreHistories(std::span<const std::string_view> refs,
                                std::span<const std::vector<Event>> histories) override {
      return inner_->StoreHistories(refs, histories);
    }
    absl::Status AddDeltas(const core::QuarterDeltas& q, const core::LiveDeltas& l) override {
      return inner_->AddDeltas(q, l);
    }
    absl::Status Quarantine(std::span<const ingest::QuarantinedEvent> events) override {
      return inner_->Quarantine(events);
    }
    absl::StatusOr<int64_t> Commit(const ingest::BatchMeta& meta, uint32_t a, uint32_t d,
                                   uint32_t r) override {
      return inner_->Commit(meta, a, d, r);
    }
    absl::StatusOr<int64_t> CommitGroup(std::span<const ingest::PartOutcome> parts) override {
      return inner_->CommitGroup(parts);
    }

   private:
    std::unique_ptr<ingest::BatchTransaction> inner_;
    std::function<void()> interleave_;
  };

  absl::StatusOr<std::unique_ptr<ingest::BatchTransaction>> Wrap(
      absl::StatusOr<std::unique_ptr<ingest::BatchTransaction>> tx) {
    if (!tx.ok()) return tx.status();
    return std::unique_ptr<ingest::BatchTransaction>(
        std::make_unique<Tx>(std::move(*tx), begins_++ == 0 ? interleave_ : nullptr));
  }

  ingest::BatchStore& inner_;
  std::function<void()> interleave_;
  bool optimistic_;
  int begins_ = 0;
};

// With a locking first attempt (the person was not there to lock), and with an optimistic one
// (the person was not there to read): either way the retry, with locks, sees their history.
TEST(PgBatchStore, NewPersonCreatedConcurrentlyIsRetriedWithTheirHistory) {
  for (const bool optimistic : {false, true}) {
    SCOPED_TRACE(optimistic ? "optimistic" : "locking");
    testing::TestDatabase db;
    const std::string ref = "PseudonymAbcdefgh0042";
    // Another writer (another process, say) creates the person after this batch looked for them.
    storage::PgBatchStore other_store(db.url());
    ingest::BatchProcessor other(other_store, core::ReferenceData::Builtin());
    std::vector<Event> theirs = {Make("c1", ref, At("2022-03-01"), EventKind::kClientRegistered,
                                      "GM0654", core::Registrant::kUwv)};
    absl::StatusOr<ingest::BatchResult> their_result;
    storage::PgBatchStore store(db.url());
    InterleavingStore interleaving(
        store,
        [&] {
          their_result = other.Process(Incoming(theirs), {"other", 1}, kNow, nullptr);
        },
        optimistic);
    ingest::BatchProcessor processor(interleaving, core::ReferenceData::Builtin());
    std::vector<Event> ours = {
        Make("c2", ref, At("2022-04-01"), EventKind::kTargetGroupEntered, "GM0654")};
    auto result = processor.Process(Incoming(ours), {"test", 1}, kNow, nullptr);
    ASSERT_TRUE(their_result.ok()) << their_result.status();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->attempts, 2);  // the first attempt found the person created meanwhile
    EXPECT_EQ(result->accepted, 1u);
    // One history with both events, and counts as if the two had come in one batch.
    EXPECT_EQ(db.Scalar("SELECT count(*) FROM clients"), "1");
    EXPECT_EQ(db.Scalar("SELECT count(*) FROM events"), "2");
    EXPECT_EQ(db.Scalar("SELECT count(*) FROM ingest_batches"), "2");
    const auto live = LiveCounts(db.url());
    EXPECT_EQ(live, RecomputeFromEvents(db.url()));
    ASSERT_EQ(live.size(), 1u);
    EXPECT_EQ((live.at({"GM0654", static_cast<int>(core::Cell::kUwvWithoutProfile)})), 1);
    ExpectCountersVerified(db.url());  // the stored history holds both events
  }
}

// A publication's ingest position is a watermark: every batch with a seq up to it is in the
// revision (or was never committed). Batches take their seq when they begin and commit in any
// order, so publishing waits for the ones in progress: here batch 1 (the lower seq) is still
// open when batch 2 has committed and publishing starts.
TEST(PgBatchStore, PublishingWaitsForBatchesInProgressSoItsPositionIsAWatermark) {
  testing::TestDatabase db;
  storage::PgBatchStore store(db.url()), other_store(db.url());
  ingest::BatchProcessor other(other_store, core::ReferenceData::Builtin());
  storage::PgConnection primary(db.url());
  storage::PgPublicationStore publications(primary);
  const core::Quarter q2{2022, 2};
  absl::StatusOr<ingest::BatchResult> second;
  absl::StatusOr<storage::PublicationInfo> published;
  int64_t frozen_persons = -1;
  std::thread publisher;
  InterleavingStore interleaving(store, [&] {
    second = other.Process(Incoming({Make("w2", "WatermarkPerson000002", At("2022-04-02"),
                                          EventKind::kTargetGroupEntered, "GM0654")}),
                           {"other", 1}, kNow, nullptr);
    publisher = std::thread([&] {
      published = publications.Publish(q2, [&](std::span<const core::CounterRow> rows) {
        frozen_persons = 0;
        for (const core::CounterRow& row : rows) frozen_persons += row.n;
        return std::vector<core::RegionFigures>{};
      });
    });
    // Time for a publisher that does not wait to finish without batch 1.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  });
  ingest::BatchProcessor processor(interleaving, core::ReferenceData::Builtin());
  auto first = processor.Process(Incoming({Make("w1", "WatermarkPerson000001", At("2022-04-01"),
                                                EventKind::kTargetGroupEntered, "GM0654")}),
                                 {"test", 1}, kNow, nullptr);
  publisher.join();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_LT(first->position, second->position);  // batch 1 began first: the lower seq
  EXPECT_EQ(published->ingest_position, second->position);
  EXPECT_EQ(published->batches_included, 2);
  EXPECT_EQ(frozen_persons, 2);  // both persons are in the register at the quarter's end
}

TEST(PgBatchStore, OptimisticBatchRetriesWithLocksWhenTheHistoryChangedMeanwhile) {
  testing::TestDatabase db;
  const std::string ref = "PseudonymAbcdefgh0043";
  storage::PgBatchStore store(db.url());
  ingest::BatchProcessor first(store, core::ReferenceData::Builtin());
  auto created = first.Process(
      Incoming({Make("h1", ref, At("2022-03-01"), EventKind::kTargetGroupEntered, "GM0654")}),
      {"test", 1}, kNow, nullptr);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->attempts, 1);
  // Another writer changes the person's history after this batch read it, before it writes.
  storage::PgBatchStore other_store(db.url());
  ingest::BatchProcessor other(other_store, core::ReferenceData::Builtin());
  absl::StatusOr<ingest::BatchResult> their_result;
  InterleavingStore interleaving(
      store,
      [&] {
        their_result =
            other.Process(Incoming({Make("h2", ref, At("2022-04-01"), EventKind::kClientRegistered,
                                         "GM0654", core::Registrant::kUwv)}),
                          {"other", 1}, kNow, nullptr);
      },
      /*optimistic=*/true);
  ingest::BatchProcessor processor(interleaving, core::ReferenceData::Builtin());
  auto result =
      processor.Process(Incoming({Make("h3", ref, At("2022-05-01"), EventKind::kProfileCompleted)}),
                        {"test", 2}, kNow, nullptr);
  ASSERT_TRUE(their_result.ok()) << their_result.status();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->attempts, 2);  // the optimistic write found another version of the row
  EXPECT_EQ(result->accepted, 1u);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events"), "3");
  const auto live = LiveCounts(db.url());
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ((live.at({"GM0654", static_cast<int>(core::Cell::kUwvWithProfile)})), 1);
  EXPECT_EQ(live, RecomputeFromEvents(db.url()));
  ExpectCountersVerified(db.url());
}

// Histories are read back from their bytea column in PostgreSQL's hex form, decoded by the store
// itself; a server configured for the escape form must give the same histories (through libpq).
TEST(PgBatchStore, HistoriesReadBackWhateverTheServersByteaOutput) {
  for (const std::string output : {"hex", "escape"}) {
    SCOPED_TRACE(output);
    testing::TestDatabase db;
    (void)db.Scalar("ALTER DATABASE " + db.name() + " SET bytea_output = '" + output + "'");
    storage::PgBatchStore store(db.url());
    ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
    const std::string ref = "PseudonymAbcdefgh0077";
    // In time order, then one late event between them, then a resend of the first: each batch
    // reads the history the one before wrote.
    const std::vector<Event> batches = {
        Make("b1", ref, At("2022-03-01"), EventKind::kTargetGroupEntered, "GM0654"),
        Make("b2", ref, At("2022-06-01"), EventKind::kClientRegistered, "GM0664",
             core::Registrant::kGemeente),
        Make("b3", ref, At("2022-04-01"), EventKind::kClientMoved, "GM0677"),
        Make("b1", ref, At("2022-03-01"), EventKind::kTargetGroupEntered, "GM0654")};
    for (size_t i = 0; i < batches.size(); ++i) {
      auto result = processor.Process(Incoming({batches[i]}), {"test", i + 1}, kNow, nullptr);
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_EQ(result->accepted, i < 3 ? 1u : 0u) << "batch " << i;
      EXPECT_EQ(result->duplicates, i < 3 ? 0u : 1u) << "batch " << i;
    }
    EXPECT_EQ(db.Scalar("SELECT current_setting('bytea_output')"), output);
    const auto live = LiveCounts(db.url());
    ASSERT_EQ(live.size(), 1u);
    EXPECT_EQ((live.at({"GM0664", static_cast<int>(core::Cell::kGemeenteWithoutProfile)})), 1);
    EXPECT_EQ(live, RecomputeFromEvents(db.url()));
    ExpectCountersVerified(db.url());
  }
}

TEST(PgBatchStore, OptimisticBatchRetriesWithLocksWhenAKeyIsStoredForAnotherPerson) {
  testing::TestDatabase db;
  storage::PgBatchStore store(db.url());
  ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
  const std::string a = "PseudonymAbcdefgh0044", b = "PseudonymAbcdefgh0045";
  auto first = processor.Process(
      Incoming({Make("k1", a, At("2022-03-01"), EventKind::kTargetGroupEntered, "GM0654")}),
      {"test", 1}, kNow, nullptr);
  ASSERT_TRUE(first.ok()) << first.status();
  // The same key for another person: b's (empty) history cannot show it; the insert does.
  auto second = processor.Process(
      Incoming({Make("k1", b, At("2022-03-01"), EventKind::kTargetGroupEntered, "GM0654"),
                Make("k2", b, At("2022-03-02"), EventKind::kTargetGroupEntered, "GM0664")}),
      {"test", 2}, kNow, nullptr);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->attempts, 2);
  EXPECT_EQ(second->accepted, 1u);
  ASSERT_EQ(second->rejections.size(), 1u);
  EXPECT_EQ(second->rejections[0].index, 0u);
  EXPECT_EQ(second->rejections[0].code, "conflict");
  EXPECT_EQ(db.Scalar("SELECT client_ref FROM events WHERE event_id = 'k1'"), a);
  EXPECT_EQ(LiveCounts(db.url()), RecomputeFromEvents(db.url()));
  ExpectCountersVerified(db.url());
}

// Parts of different requests committed as one group: one transaction, but each part with its
// own ingest_batches row (its own seq and figures), its events and rejections under that seq,
// and one count_changes row for the transaction, on the optimistic path and, when a key turns
// out to be stored for another person, on the locking one.
TEST(PgBatchStore, GroupCommitsEachPartUnderItsOwnSeq) {
  testing::TestDatabase db;
  storage::PgBatchStore store(db.url());
  ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
  const std::string a = "PseudonymAbcdefgh0061", b = "PseudonymAbcdefgh0062";
  auto payload = [](size_t i, const ingest::Pseudonymizer*) {
    return "payload-" + std::to_string(i);
  };
  auto group = [&](uint64_t first_batch, std::vector<std::vector<Event>> parts) {
    std::vector<ingest::GroupPart> out;
    for (size_t p = 0; p < parts.size(); ++p) {
      out.push_back(
          {Incoming(parts[p]), {"s", first_batch + p, static_cast<uint32_t>(p), 2}, payload, {}});
    }
    return out;
  };
  const Event a1 = Make("g1", a, At("2022-03-01"), EventKind::kTargetGroupEntered, "GM0654");
  const Event a2 = Make("g2", a, At("2022-04-01"), EventKind::kClientRegistered, "GM0654",
                        core::Registrant::kUwv);
  const Event b1 = Make("g3", b, At("2022-03-05"), EventKind::kTargetGroupEntered, "GM0664");
  Event unknown = b1;
  unknown.event_id = "g4";
  unknown.municipality_code = "GM9999";
  auto first = processor.ProcessGroup(group(1, {{a1, a2}, {b1, unknown, a1}}), kNow);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].accepted, 2u);
  EXPECT_EQ((*first)[1].accepted, 1u);
  EXPECT_EQ((*first)[1].duplicates, 1u);  // a1, stored by the first part
  ASSERT_EQ((*first)[1].rejections.size(), 1u);
  EXPECT_EQ((*first)[1].rejections[0].index, 1u);
  EXPECT_EQ((*first)[0].attempts, 1);  // optimistic
  EXPECT_EQ((*first)[0].position, (*first)[1].position);
  EXPECT_EQ(db.Scalar("SELECT string_agg(batch_id || ':' || accepted || '/' || duplicates || '/' "
                      "|| rejected || ':' || part || '/' || parts, ' ' ORDER BY seq) "
                      "FROM ingest_batches"),
            "1:2/0/0:0/2 2:1/1/1:1/2");
  const std::string seq1 = db.Scalar("SELECT seq FROM ingest_batches WHERE batch_id = 1");
  const std::string seq2 = db.Scalar("SELECT seq FROM ingest_batches WHERE batch_id = 2");
  EXPECT_NE(seq1, seq2);
  EXPECT_EQ(seq1, std::to_string((*first)[0].position));
  EXPECT_EQ(db.Scalar("SELECT string_agg(event_id || ':' || batch_seq, ' ' ORDER BY event_id) "
                      "FROM events"),
            "g1:" + seq1 + " g2:" + seq1 + " g3:" + seq2);
  EXPECT_EQ(db.Scalar("SELECT batch_seq || ':' || item_index || ':' || code || ':' || "
                      "encode(payload, 'escape') FROM rejected_events"),
            seq2 + ":1:unknown_municipality:payload-1");
  EXPECT_EQ(db.Scalar("SELECT string_agg(seq::text, ' ') FROM count_changes"), seq1);

  // A key of the second part is stored for another person: the optimistic attempt fails on it,
  // and the group is committed on the locking path, each part still under its own seq.
  const Event stolen = Make("g3", a, At("2022-03-05"), EventKind::kTargetGroupEntered, "GM0664");
  const Event a3 = Make("g5", a, At("2022-06-01"), EventKind::kProfileCompleted);
  const Event c1 = Make("g6", "PseudonymAbcdefgh0063", At("2022-06-01"),
                        EventKind::kTargetGroupEntered, "GM0677");  // b, who holds g3, is not read
  auto second = processor.ProcessGroup(group(3, {{c1}, {stolen, a3}}), kNow);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)[0].attempts, 2);
  EXPECT_EQ((*second)[0].accepted, 1u);
  EXPECT_EQ((*second)[1].accepted, 1u);
  ASSERT_EQ((*second)[1].rejections.size(), 1u);
  EXPECT_EQ((*second)[1].rejections[0].code, "conflict");
  const std::string seq3 = db.Scalar("SELECT seq FROM ingest_batches WHERE batch_id = 3");
  const std::string seq4 = db.Scalar("SELECT seq FROM ingest_batches WHERE batch_id = 4");
  EXPECT_EQ(db.Scalar("SELECT batch_seq FROM events WHERE event_id = 'g6'"), seq3);
  EXPECT_EQ(db.Scalar("SELECT batch_seq FROM events WHERE event_id = 'g5'"), seq4);
  EXPECT_EQ(db.Scalar("SELECT batch_seq FROM rejected_events WHERE code = 'conflict'"), seq4);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM count_changes"), "2");
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM ingest_batches"), "4");
  EXPECT_EQ(LiveCounts(db.url()), RecomputeFromEvents(db.url()));
  ExpectCountersVerified(db.url());
}

// EXPLAIN's text for a statement on `conn`, one line per plan node.
std::string PlanOf(pqxx::connection& conn, const std::string& statement) {
  std::string plan;
  for (const auto& row : pqxx::nontransaction(conn).exec("EXPLAIN " + statement)) {
    plan += std::string(row[0].c_str()) + "\n";
  }
  return plan;
}

// A batch connection plans each statement once, by its keys. Under the server's defaults, once
// the statistics said `clients` was small (an ANALYZE of a new deployment's first rows),
// PostgreSQL would keep a generic plan that scans the whole table for every batch's persons until
// the next ANALYZE; the control connection, with those defaults, shows that plan. The batch
// session's plans find persons by the key whatever the statistics said, and it keeps them: no
// statement is planned again for each batch's arrays (that cost 7-9% of PostgreSQL's work per
// event, session 12).
TEST(PgBatchStore, SessionPlansOnceByTheKeysWhateverTheStatisticsSaidBefore) {
  testing::TestDatabase db;
  pqxx::connection setup(db.url());
  pqxx::nontransaction(setup).exec0("ALTER TABLE clients SET (autovacuum_enabled = false)");
  std::string refs = "{";
  for (int i = 1; i <= 60; ++i) refs += (i > 1 ? ",p" : "p") + std::to_string(i);
  refs += "}";
  struct Seen {
    std::string read_plan, lock_plan;
    int64_t custom_plans = 0, generic_plans = 0;
  };
  auto after_growth = [&](bool server_defaults) {
    // A small table, and statistics that say so.
    pqxx::nontransaction(setup).exec0("TRUNCATE clients");
    pqxx::nontransaction(setup).exec0(
        "INSERT INTO clients (client_ref) SELECT 'p' || i FROM generate_series(1, 100) i");
    pqxx::nontransaction(setup).exec0("ANALYZE clients");
    pqxx::connection conn(db.url());
    storage::PrepareBatchSession(conn);
    if (server_defaults) {
      pqxx::nontransaction(conn).exec0("RESET plan_cache_mode");
      pqxx::nontransaction(conn).exec0("RESET enable_seqscan");
    }
    for (int i = 0; i < 8; ++i) {
      EXPECT_EQ(pqxx::nontransaction(conn).exec_prepared("sonar_read_clients", refs).size(), 60u);
      EXPECT_EQ(pqxx::nontransaction(conn).exec_prepared("sonar_lock_clients", refs).size(), 60u);
    }
    // The table grows (no ANALYZE yet), and the next batch is planned, or not.
    pqxx::nontransaction(setup).exec0(
        "INSERT INTO clients (client_ref) SELECT 'q' || i || '-' || random() "
        "FROM generate_series(1, 20000) i");
    Seen seen;
    seen.read_plan = PlanOf(conn, "EXECUTE sonar_read_clients('" + refs + "')");
    seen.lock_plan = PlanOf(conn, "EXECUTE sonar_lock_clients('" + refs + "')");
    const pqxx::row counts = pqxx::nontransaction(conn).exec1(
        "SELECT sum(custom_plans), sum(generic_plans) FROM pg_prepared_statements "
        "WHERE name IN ('sonar_read_clients', 'sonar_lock_clients')");
    seen.custom_plans = counts[0].as<int64_t>();
    seen.generic_plans = counts[1].as<int64_t>();
    return seen;
  };
  const Seen control = after_growth(true);
  EXPECT_NE(control.read_plan.find("Seq Scan on clients"), std::string::npos) << control.read_plan;
  EXPECT_GE(control.custom_plans, 10);  // the first five executions of each
  const Seen batch_session = after_growth(false);
  for (const std::string& plan : {batch_session.read_plan, batch_session.lock_plan}) {
    EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << plan;
    EXPECT_NE(plan.find("clients_pkey"), std::string::npos) << plan;
  }
  EXPECT_EQ(batch_session.custom_plans, 0);
  EXPECT_GE(batch_session.generic_plans, 16);
}

// Every statement of a batch session, planned while its tables are empty (a new deployment's
// first batch), finds its rows by a key or a ctid: none scans `clients` or `events`.
TEST(PgBatchStore, SessionStatementsNeverScanATable) {
  // sonar_finish_batch's 27 parameters: four arrays, the seq, 22 arrays.
  static constexpr char kFinishArgs[] =
      "('{}', '{}', '{}', '{}', 1, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', "
      "'{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')";
  testing::TestDatabase db;
  pqxx::connection conn(db.url());
  storage::PrepareBatchSession(conn);
  const std::pair<const char*, const char*> statements[] = {
      {"sonar_lock_clients", "('{}')"},
      {"sonar_read_clients", "('{}')"},
      {"sonar_write_clients", "('{}', '{}', '{}', '{}')"},
      {"sonar_insert_events", "('{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')"},
      {"sonar_more_seqs", "(2)"},
      {"sonar_select_events", "('{}', '{}')"},
      {"sonar_finish_batch", kFinishArgs},
  };
  for (const auto& [name, args] : statements) {
    conn.prepare_now(name);
    const std::string plan = PlanOf(conn, std::string("EXECUTE ") + name + args);
    EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << name << ":\n" << plan;
  }
  // The plans that read persons or events use their keys (the optimistic write takes the row by
  // its ctid once the statistics say `clients` is large, by its key before).
  const std::string write = PlanOf(conn, "EXECUTE sonar_write_clients('{}', '{}', '{}', '{}')");
  EXPECT_TRUE(write.find("Tid Scan") != std::string::npos ||
              write.find("clients_pkey") != std::string::npos)
      << write;
  EXPECT_NE(PlanOf(conn, "EXECUTE sonar_select_events('{}', '{}')").find("events_key"),
            std::string::npos);
  EXPECT_NE(
      PlanOf(conn, std::string("EXECUTE sonar_finish_batch") + kFinishArgs).find("clients_pkey"),
      std::string::npos);
}

// A batch connection never JIT-compiles its statements: where the planner has no statistics for
// a key its cost estimate can pass jit_above_cost, and compiling then cost ~80 ms a statement.
// Here the threshold is 0 for both connections; the control shows this server would compile.
TEST(PgBatchStore, SessionNeverCompilesItsStatements) {
  testing::TestDatabase db;
  pqxx::connection control(db.url());
  pqxx::nontransaction(control).exec0("SET jit = on");
  pqxx::nontransaction(control).exec0("SET jit_above_cost = 0");
  const std::string control_plan = PlanOf(control, "SELECT count(*) FROM clients");
  if (control_plan.find("JIT:") == std::string::npos) {
    GTEST_SKIP() << "this server has no JIT: " << control_plan;
  }
  pqxx::connection conn(db.url());
  storage::PrepareBatchSession(conn);
  pqxx::nontransaction(conn).exec0("SET jit_above_cost = 0");
  // libpqxx prepares on first use.
  EXPECT_EQ(pqxx::nontransaction(conn).exec_prepared("sonar_read_clients", "{a,b}").size(), 0u);
  const std::string plan = PlanOf(conn, "EXECUTE sonar_read_clients('{a,b}')");
  EXPECT_EQ(plan.find("JIT:"), std::string::npos) << plan;
  EXPECT_NE(plan.find("clients"), std::string::npos) << plan;
}

// The key (migration 0008) is exact: a second row with the same (source, event_id) is refused,
// whatever else it holds; another event id of the same source is not.
TEST(PgBatchStore, EventKeyAdmitsEachSourceAndIdOnce) {
  testing::TestDatabase db;
  pqxx::connection conn(db.url());
  const std::string insert =
      "INSERT INTO events (source, event_id, client_ref, occurred_at, kind, batch_seq) "
      "VALUES ('src', $1, $2, now(), 1, 1)";
  pqxx::nontransaction(conn).exec_params0(insert, "k1", "PseudonymAbcdefgh0001");
  pqxx::nontransaction(conn).exec_params0(insert, "k2", "PseudonymAbcdefgh0001");
  try {
    pqxx::nontransaction(conn).exec_params0(insert, "k1", "PseudonymAbcdefgh0002");
    ADD_FAILURE() << "a second row with key (src, k1) was stored";
  } catch (const pqxx::integrity_constraint_violation& e) {
    EXPECT_EQ(e.sqlstate(), "23P01");
  }
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events"), "2");
}

// A database of an earlier release (the B-tree primary key, migrations up to 0007) with events
// in it: migration 0008 keeps them and their keys, and resends are duplicates afterwards.
TEST(PgBatchStore, HashKeyMigrationKeepsStoredEventsAndTheirKeys) {
  testing::TestDatabase db;
  const std::string ref = "PseudonymAbcdefgh0001";
  const std::vector<Event> events = {
      Make("m1", ref, At("2022-04-01"), EventKind::kTargetGroupEntered, "GM0654"),
      Make("m2", ref, At("2022-05-01"), EventKind::kClientRegistered, "GM0654",
           core::Registrant::kUwv)};
  {
    storage::PgBatchStore store(db.url());
    ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
    auto first = processor.Process(Incoming(events), {"test", 1}, kNow, nullptr);
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_EQ(first->accepted, 2u);
  }
  {
    // Back to the schema an earlier release left (the rows are the same in both).
    pqxx::connection conn(db.url());
    pqxx::work tx(conn);
    tx.exec0(
        "ALTER TABLE events DROP CONSTRAINT events_key; DROP TYPE event_key; "
        "ALTER TABLE events ADD PRIMARY KEY (source, event_id); "
        "DELETE FROM schema_migrations WHERE version = 8");
    tx.commit();
  }
  auto applied = storage::ApplyMigrations(db.url());
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, std::vector<int>{8});
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM pg_constraint WHERE conname = 'events_pkey'"), "0");
  EXPECT_EQ(db.Scalar("SELECT contype FROM pg_constraint WHERE conname = 'events_key'"), "x");
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events"), "2");

  storage::PgBatchStore store(db.url());
  ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
  auto again = processor.Process(Incoming(events), {"test", 2}, kNow, nullptr);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->accepted, 0u);
  EXPECT_EQ(again->duplicates, 2u);
  // A stored key for another person: only the key, through the new constraint, can tell.
  auto other = processor.Process(Incoming({Make("m1", "PseudonymAbcdefgh0002", At("2022-04-01"),
                                                EventKind::kTargetGroupEntered, "GM0654")}),
                                 {"test", 3}, kNow, nullptr);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->attempts, 2);
  ASSERT_EQ(other->rejections.size(), 1u);
  EXPECT_EQ(other->rejections[0].code, "conflict");
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events"), "2");
  EXPECT_EQ(LiveCounts(db.url()), RecomputeFromEvents(db.url()));
}

// Migration 0010: the persons' key compares pseudonyms bytewise (COLLATE "C"), also in a database
// whose default collation is a language's (here ICU's en-US, which sorts letters before case and
// punctuation apart; the official postgres image's default is libc's en_US.utf8), and an
// earlier release's database keeps its persons through the migration.
TEST(PgBatchStore, PersonsKeyComparesPseudonymsBytewiseWhateverTheDatabasesCollation) {
  testing::TestDatabase db("TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'");
  ASSERT_EQ(db.Scalar("SELECT datlocprovider FROM pg_database WHERE datname = current_database()"),
            "i");
  const std::string p = "PseudonymAbcdefgh";
  const std::vector<std::string> refs = {p + "a", p + "B", p + "_", p + "-", p + "Z"};
  std::vector<Event> events;
  for (const std::string& ref : refs) {
    events.push_back(
        Make("c" + ref, ref, At("2022-04-01"), EventKind::kTargetGroupEntered, "GM0654"));
  }
  {
    storage::PgBatchStore store(db.url());
    ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
    auto first = processor.Process(Incoming(events), {"test", 1}, kNow, nullptr);
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_EQ(first->accepted, refs.size());
  }
  {
    // Back to the key an earlier release left: the database's default collation.
    pqxx::connection conn(db.url());
    pqxx::work tx(conn);
    tx.exec0(
        "ALTER TABLE clients ALTER COLUMN client_ref TYPE text COLLATE \"default\"; "
        "DELETE FROM schema_migrations WHERE version = 10");
    tx.commit();
  }
  const std::string by_key = "SELECT string_agg(client_ref, ' ' ORDER BY client_ref) FROM clients";
  EXPECT_EQ(db.Scalar(by_key), p + "_ " + p + "- " + p + "a " + p + "B " + p + "Z");  // en-US
  auto applied = storage::ApplyMigrations(db.url());
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, std::vector<int>{10});
  // Bytewise: 2D 42 5A 5F 61.
  EXPECT_EQ(db.Scalar(by_key), p + "- " + p + "B " + p + "Z " + p + "_ " + p + "a");
  EXPECT_EQ(db.Scalar("SELECT c.collname FROM pg_index i JOIN pg_collation c "
                      "ON c.oid = i.indcollation[0] WHERE i.indexrelid = 'clients_pkey'::regclass"),
            "C");
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM clients"), std::to_string(refs.size()));
  // The persons are found through the rebuilt key: resends are duplicates.
  storage::PgBatchStore store(db.url());
  ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
  auto again = processor.Process(Incoming(events), {"test", 2}, kNow, nullptr);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->accepted, 0u);
  EXPECT_EQ(again->duplicates, refs.size());
  EXPECT_EQ(LiveCounts(db.url()), RecomputeFromEvents(db.url()));
}

// Migration 0011: the pages of clients keep room for the next versions of their rows, so a
// person's history update stays on the person's page (a HOT update: no new entry in clients_pkey,
// no second page written) even when new persons filled the page. With full pages (the default
// fillfactor) the first page's rows move at their first update (checked).
TEST(PgBatchStore, HistoryUpdatesStayOnTheirPersonsPage) {
  testing::TestDatabase db;
  EXPECT_EQ(db.Scalar("SELECT array_to_string(reloptions, ',') FROM pg_class "
                      "WHERE oid = 'clients'::regclass"),
            "fillfactor=70");
  std::vector<std::string> refs;
  for (int i = 0; i < 120; ++i) refs.push_back("PseudonymAbcdefgh" + std::to_string(1000 + i));
  storage::PgBatchStore store(db.url());
  ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
  // New persons with three events each, in one batch: they fill the pages as far as allowed.
  std::vector<Event> first;
  for (const std::string& ref : refs) {
    first.push_back(
        Make("a" + ref, ref, At("2022-04-01"), EventKind::kTargetGroupEntered, "GM0654"));
    first.push_back(Make("b" + ref, ref, At("2022-04-02"), EventKind::kClientRegistered, "GM0654",
                         core::Registrant::kUwv));
    first.push_back(Make("c" + ref, ref, At("2022-04-03"), EventKind::kProfileCompleted));
  }
  auto created = processor.Process(Incoming(first), {"test", 1}, kNow, nullptr);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(created->accepted, first.size());
  const std::string blocks =
      "SELECT string_agg(client_ref || ':' || (ctid::text::point)[0]::int, ' ' "
      "ORDER BY client_ref) FROM clients";
  const std::string before = db.Scalar(blocks);
  ASSERT_NE(db.Scalar("SELECT count(DISTINCT (ctid::text::point)[0]) FROM clients"), "1");
  // Then one more event for each of the first page's first six persons, in one transaction:
  // their longer versions fit in the room the page kept (without depending on when PostgreSQL
  // prunes the old ones; a full page has no room for even one).
  ASSERT_EQ(db.Scalar("SELECT count(DISTINCT (ctid::text::point)[0]) FROM clients "
                      "WHERE client_ref <= 'PseudonymAbcdefgh1005'"),
            "1");
  std::vector<Event> more;
  for (size_t i = 0; i < 6; ++i) {
    more.push_back(Make("d" + refs[i], refs[i], At("2022-05-01"), EventKind::kProfileWithdrawn));
  }
  auto added = processor.Process(Incoming(more), {"test", 2}, kNow, nullptr);
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_EQ(added->accepted, 6u);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events"), std::to_string(first.size() + 6));
  EXPECT_EQ(db.Scalar(blocks), before);
  EXPECT_EQ(LiveCounts(db.url()), RecomputeFromEvents(db.url()));
}

// The locking transaction looks up the stored events of its conflicting keys; that must be one
// probe of the key's index per key, never a scan of events (which the planner chose for a join
// on the key's expression, in a database whose statistics still described a small table).
TEST(PgBatchStore, StoredEventsAreLookedUpThroughTheKeyIndex) {
  testing::TestDatabase db;
  pqxx::connection setup(db.url());
  pqxx::nontransaction(setup).exec0("ALTER TABLE events SET (autovacuum_enabled = false)");
  pqxx::nontransaction(setup).exec0(
      "INSERT INTO events (source, event_id, client_ref, occurred_at, kind, batch_seq) "
      "SELECT 'src', 'e' || i, 'PseudonymAbcdefgh0001', now(), 1, 1 "
      "FROM generate_series(1, 100) i");
  pqxx::nontransaction(setup).exec0("ANALYZE events");
  pqxx::nontransaction(setup).exec0(
      "INSERT INTO events (source, event_id, client_ref, occurred_at, kind, batch_seq) "
      "SELECT 'src', 'f' || i, 'PseudonymAbcdefgh0001', now(), 1, 1 "
      "FROM generate_series(1, 50000) i");
  std::string sources = "{", ids = "{";
  for (int i = 1; i <= 200; ++i) {
    sources += (i > 1 ? ",src" : "src");
    ids += (i > 1 ? ",f" : "f") + std::to_string(i * 7);
  }
  sources += "}";
  ids += "}";
  pqxx::connection conn(db.url());
  storage::PrepareBatchSession(conn);
  // (Also what makes libpqxx prepare it: it does so at the first execution.)
  EXPECT_EQ(pqxx::nontransaction(conn).exec_prepared("sonar_select_events", sources, ids).size(),
            200u);
  const std::string plan =
      PlanOf(conn, "EXECUTE sonar_select_events('" + sources + "', '" + ids + "')");
  EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << plan;
  EXPECT_NE(plan.find("events_key"), std::string::npos) << plan;
}

TEST(PgBatchStore, UnreachableDatabaseIsUnavailable) {
  storage::PgBatchStore store("postgresql://sonar@127.0.0.1:1/none?connect_timeout=2");
  ingest::BatchProcessor processor(store, core::ReferenceData::Builtin());
  std::vector<Event> events = {Make("x1", "PseudonymAbcdefgh0002", At("2022-04-01"),
                                    EventKind::kTargetGroupEntered, "GM0654")};
  auto r = processor.Process(Incoming(events), {"test", 1}, kNow, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace sonar
