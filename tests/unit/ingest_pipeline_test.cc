// IngestPipeline: persons partitioned across workers, a batch split into per-worker parts that
// is acknowledged once, after all parts committed, with its results in request order.
#include "ingest/ingest_pipeline.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sonar::ingest {
namespace {

using core::Event;
using core::EventKind;
using core::Instant;
using std::chrono::hours;

// A committed database shared by all workers; a transaction buffers its writes and applies them
// at Commit. Enough isolation for these tests: parts of one batch never share a key or person.
struct SharedDb {
  std::mutex mu;
  std::map<std::pair<std::string, std::string>, Event> events;
  std::map<std::string, std::vector<Event>> histories;
  std::map<std::string, std::set<int>> workers_by_ref;  // who locked each person
  std::vector<QuarantinedEvent> quarantine;
  std::vector<BatchMeta> commits;  // one per part
  int transactions = 0;            // committed
  std::condition_variable gate_cv;
  bool gate_closed = false;  // LockHistories waits while it is closed
  int64_t position = 0;
  std::set<int> unavailable_workers;
  int aborts_left = 0;  // Commits that fail with ABORTED (a serialization failure) first
  bool groups = false;  // the stores commit groups of parts
};

class SharedTransaction final : public BatchTransaction {
 public:
  SharedTransaction(SharedDb& db, int worker) : db_(db), worker_(worker) {}

  absl::StatusOr<std::vector<std::vector<Event>>> LockHistories(
      std::span<const std::string_view> refs) override {
    std::unique_lock lock(db_.mu);
    db_.gate_cv.wait(lock, [&] { return !db_.gate_closed; });
    std::vector<std::vector<Event>> out;
    for (std::string_view view : refs) {
      const std::string ref(view);
      db_.workers_by_ref[ref].insert(worker_);
      out.push_back(db_.histories[ref]);
    }
    return out;
  }

  absl::StatusOr<std::vector<std::optional<Event>>> InsertEvents(
      std::span<const Event> events, std::span<const uint32_t> /*parts*/) override {
    std::lock_guard lock(db_.mu);
    std::vector<std::optional<Event>> out;
    for (const Event& e : events) {
      auto it = db_.events.find({e.source, e.event_id});
      out.push_back(it == db_.events.end() ? std::nullopt : std::optional<Event>(it->second));
      if (it == db_.events.end()) inserted_.push_back(e);
    }
    return out;
  }

  absl::Status StoreHistories(std::span<const std::string_view> refs,
                              std::span<const std::vector<Event>> histories) override {
    for (size_t i = 0; i < refs.size(); ++i) histories_[std::string(refs[i])] = histories[i];
    return absl::OkStatus();
  }

  absl::Status AddDeltas(const core::QuarterDeltas&, const core::LiveDeltas&) override {
    return absl::OkStatus();
  }

  absl::Status Quarantine(std::span<const QuarantinedEvent> events) override {
    quarantine_.assign(events.begin(), events.end());
    return absl::OkStatus();
  }

  absl::Status SetParts(size_t parts) override {
    if (!db_.groups) return BatchTransaction::SetParts(parts);
    parts_ = parts;
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> CommitGroup(std::span<const PartOutcome> parts) override {
    if (parts.size() != parts_) return absl::InternalError("not one outcome per part");
    std::vector<BatchMeta> metas;
    for (const PartOutcome& p : parts) metas.push_back(p.meta);
    return CommitParts(metas);
  }

  absl::StatusOr<int64_t> Commit(const BatchMeta& meta, uint32_t, uint32_t, uint32_t) override {
    return CommitParts({meta});
  }

 private:
  absl::StatusOr<int64_t> CommitParts(const std::vector<BatchMeta>& metas) {
    std::lock_guard lock(db_.mu);
    if (db_.unavailable_workers.count(worker_) != 0) {
      return absl::UnavailableError("commit outcome unknown");
    }
    if (db_.aborts_left > 0) {
      --db_.aborts_left;
      return absl::AbortedError("serialization failure");
    }
    for (const Event& e : inserted_) db_.events.try_emplace({e.source, e.event_id}, e);
    for (auto& [ref, h] : histories_) db_.histories[ref] = h;
    db_.quarantine.insert(db_.quarantine.end(), quarantine_.begin(), quarantine_.end());
    db_.commits.insert(db_.commits.end(), metas.begin(), metas.end());
    ++db_.transactions;
    return ++db_.position;
  }

  SharedDb& db_;
  int worker_;
  std::vector<Event> inserted_;
  std::map<std::string, std::vector<Event>> histories_;
  std::vector<QuarantinedEvent> quarantine_;
  size_t parts_ = 1;
};

class SharedStore final : public BatchStore {
 public:
  SharedStore(SharedDb& db, int worker) : db_(db), worker_(worker) {}
  absl::StatusOr<std::unique_ptr<BatchTransaction>> Begin() override {
    return std::make_unique<SharedTransaction>(db_, worker_);
  }
  bool Healthy() const override { return true; }

 private:
  SharedDb& db_;
  int worker_;
};

const Instant kNow = Instant{*core::ParseDate("2023-01-10")} + hours{12};

Event Make(const std::string& ref, const std::string& id) {
  return Event{"sonar",
               id,
               ref,
               Instant{*core::ParseDate("2022-02-01")} + hours{10},
               EventKind::kTargetGroupEntered,
               "GM0654",
               core::Registrant::kUnspecified};
}

// Waits for `done` outcomes.
struct Outcomes {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<absl::StatusOr<BatchResult>> results;

  IngestPipeline::Done Collector() {
    return [this](absl::StatusOr<BatchResult> r) {
      std::lock_guard lock(mu);
      results.push_back(std::move(r));
      cv.notify_all();
    };
  }
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return results.size() >= n; });
  }
};

std::unique_ptr<IngestPipeline> Pipeline(SharedDb& db, int workers, size_t max_group_events = 0) {
  return std::make_unique<IngestPipeline>(
      [&db](int w) { return std::make_unique<SharedStore>(db, w); }, core::ReferenceData::Builtin(),
      [] { return kNow; },
      PipelineOptions{.workers = workers,
                      .queue_capacity = 16,
                      .max_attempts = 3,
                      .max_group_events = max_group_events});
}

TEST(IngestPipeline, SplitBatchAcksOnceWithResultsInRequestOrder) {
  SharedDb db;
  auto pipeline = Pipeline(db, 3);
  std::vector<IncomingEvent> batch;
  std::vector<uint32_t> bsn_positions, conflict_positions, duplicate_positions;
  for (int i = 0; i < 60; ++i) {
    const std::string ref = "person-reference-" + std::to_string(i % 20);
    if (i % 13 == 5) {
      bsn_positions.push_back(batch.size());
      Event e = Make("123456789", "bsn-" + std::to_string(i));
      batch.push_back({e, std::nullopt, e.source, e.event_id});
    }
    Event e = Make(ref, "e-" + std::to_string(i));
    batch.push_back({e, std::nullopt, e.source, e.event_id});
  }
  // The same key again: once identical (duplicate), once for another person (conflict).
  duplicate_positions.push_back(batch.size());
  batch.push_back(batch[3]);
  conflict_positions.push_back(batch.size());
  Event other = *batch[7].event;
  other.client_ref = "person-reference-elsewhere";
  batch.push_back({other, std::nullopt, other.source, other.event_id});
  // One that could not be decoded.
  const auto undecodable = static_cast<uint32_t>(batch.size());
  batch.push_back({std::nullopt, core::Rejection{"malformed", "no kind"}, "sonar", "bad"});

  Outcomes outcomes;
  ASSERT_TRUE(pipeline->Submit(
      batch, {"s1", 7},
      [](size_t i, const ingest::Pseudonymizer*) { return "payload-" + std::to_string(i); },
      outcomes.Collector()));
  ASSERT_TRUE(outcomes.WaitFor(1));
  pipeline->Shutdown();
  ASSERT_EQ(outcomes.results.size(), 1u);  // acknowledged once
  const absl::StatusOr<BatchResult>& r = outcomes.results[0];
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 60u);
  EXPECT_EQ(r->duplicates, 1u);

  std::vector<std::pair<uint32_t, std::string>> expected;
  for (uint32_t i : bsn_positions) expected.emplace_back(i, "probable_bsn");
  expected.emplace_back(conflict_positions[0], "conflict");
  expected.emplace_back(undecodable, "malformed");
  std::vector<std::pair<uint32_t, std::string>> got;
  for (const EventRejection& x : r->rejections) got.emplace_back(x.index, x.code);
  EXPECT_EQ(got, expected);  // request positions, in request order
  for (const EventRejection& x : r->rejections) {
    if (x.code == "malformed") continue;
    EXPECT_EQ(x.event_id, batch[x.index].event_id);
  }

  std::lock_guard lock(db.mu);
  // Split into parts, one per worker; each person was handled by exactly one worker.
  ASSERT_EQ(db.commits.size(), 3u);
  std::set<uint32_t> parts;
  for (const BatchMeta& m : db.commits) {
    EXPECT_EQ(m.stream_id, "s1");
    EXPECT_EQ(m.batch_id, 7u);
    EXPECT_EQ(m.parts, 3u);
    parts.insert(m.part);
  }
  EXPECT_EQ(parts, (std::set<uint32_t>{0, 1, 2}));
  for (const auto& [ref, workers] : db.workers_by_ref) EXPECT_EQ(workers.size(), 1u) << ref;
  EXPECT_EQ(db.workers_by_ref.count("person-reference-elsewhere"), 0u);  // a repeat, never locked
  EXPECT_EQ(db.events.at({"sonar", "e-7"}).client_ref, "person-reference-7");  // the first stays
  // Quarantine records carry request positions and payloads.
  std::vector<std::pair<uint32_t, std::string>> quarantined;
  for (const QuarantinedEvent& q : db.quarantine) {
    EXPECT_EQ(q.payload, "payload-" + std::to_string(q.index));
    quarantined.emplace_back(q.index, q.code);
  }
  std::sort(quarantined.begin(), quarantined.end());
  EXPECT_EQ(quarantined, expected);
}

TEST(IngestPipeline, OnePersonsEventsStayInOneTransaction) {
  SharedDb db;
  auto pipeline = Pipeline(db, 2);
  std::vector<IncomingEvent> batch;
  for (int i = 0; i < 5; ++i) {
    Event e = Make("person-reference-single", "s-" + std::to_string(i));
    batch.push_back({e, std::nullopt, e.source, e.event_id});
  }
  Outcomes outcomes;
  ASSERT_TRUE(pipeline->Submit(batch, {"s1", 1}, nullptr, outcomes.Collector()));
  ASSERT_TRUE(outcomes.WaitFor(1));
  pipeline->Shutdown();
  ASSERT_TRUE(outcomes.results[0].ok());
  EXPECT_EQ(outcomes.results[0]->accepted, 5u);
  std::lock_guard lock(db.mu);
  ASSERT_EQ(db.commits.size(), 1u);
  EXPECT_EQ(db.commits[0].parts, 1u);
  EXPECT_EQ(db.histories.at("person-reference-single").size(), 5u);
}

TEST(IngestPipeline, AFailingPartFailsTheBatchOnce) {
  SharedDb db;
  db.unavailable_workers = {1};
  auto pipeline = Pipeline(db, 2);
  std::vector<IncomingEvent> batch;
  for (int i = 0; i < 40; ++i) {
    Event e = Make("person-reference-" + std::to_string(i), "f-" + std::to_string(i));
    batch.push_back({e, std::nullopt, e.source, e.event_id});
  }
  Outcomes outcomes;
  ASSERT_TRUE(pipeline->Submit(batch, {"s1", 1}, nullptr, outcomes.Collector()));
  ASSERT_TRUE(outcomes.WaitFor(1));
  pipeline->Shutdown();
  ASSERT_EQ(outcomes.results.size(), 1u);
  EXPECT_EQ(outcomes.results[0].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pipeline->Stats().batches_failed, 1u);
  EXPECT_EQ(pipeline->Stats().batches_committed, 0u);
}

TEST(IngestPipeline, PartsThatNeededARetryAreCounted) {
  SharedDb db;
  db.aborts_left = 1;
  auto pipeline = Pipeline(db, 1);
  Outcomes outcomes;
  for (uint64_t b = 1; b <= 2; ++b) {
    const Event e = Make("person-reference-r" + std::to_string(b), "r-" + std::to_string(b));
    ASSERT_TRUE(pipeline->Submit({{e, std::nullopt, e.source, e.event_id}}, {"s1", b}, nullptr,
                                 outcomes.Collector()));
  }
  ASSERT_TRUE(outcomes.WaitFor(2));
  pipeline->Shutdown();
  for (const auto& r : outcomes.results) ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(pipeline->Stats().batches_committed, 2u);
  EXPECT_EQ(pipeline->Stats().parts_retried, 1u);
}

TEST(IngestPipeline, ManyBatchesEachAckedOnce) {
  SharedDb db;
  auto pipeline = Pipeline(db, 3);
  Outcomes outcomes;
  for (int b = 0; b < 10; ++b) {
    std::vector<IncomingEvent> batch;
    for (int i = 0; i < 20; ++i) {
      Event e = Make("person-reference-" + std::to_string(i),
                     "m-" + std::to_string(b) + "-" + std::to_string(i));
      batch.push_back({e, std::nullopt, e.source, e.event_id});
    }
    ASSERT_TRUE(
        pipeline->Submit(batch, {"s1", static_cast<uint64_t>(b)}, nullptr, outcomes.Collector()));
  }
  ASSERT_TRUE(outcomes.WaitFor(10));
  pipeline->Shutdown();
  EXPECT_EQ(outcomes.results.size(), 10u);
  for (const auto& r : outcomes.results) {
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->accepted, 20u);
  }
  std::lock_guard lock(db.mu);
  for (const auto& [ref, h] : db.histories) EXPECT_EQ(h.size(), 10u) << ref;
}

// A worker commits the parts queued for it together while they hold at most max_group_events
// events; each batch is still acknowledged with its own result, and a group that fails fails
// every batch in it (none is acknowledged as stored).
TEST(IngestPipeline, QueuedPartsAreCommittedTogetherUpToTheGroupSize) {
  for (bool groups : {true, false}) {
    SharedDb db;
    db.groups = groups;
    auto pipeline = Pipeline(db, 1, /*max_group_events=*/6);
    Outcomes outcomes;
    auto submit = [&](int batch, int events) {
      std::vector<IncomingEvent> in;
      for (int i = 0; i < events; ++i) {
        Event e = Make("person-reference-" + std::to_string(batch),
                       "b" + std::to_string(batch) + "-" + std::to_string(i));
        in.push_back({e, std::nullopt, e.source, e.event_id});
      }
      if (batch == 3) in.push_back(in.front());  // a duplicate within the batch
      ASSERT_TRUE(
          pipeline->Submit(in, {"s", static_cast<uint64_t>(batch)}, nullptr, outcomes.Collector()));
    };
    {
      std::lock_guard lock(db.mu);
      db.gate_closed = true;  // the worker stops in the first batch's LockHistories
    }
    submit(1, 2);
    // Wait until the worker has taken batch 1, so that the others queue behind it.
    for (int i = 0; i < 1000 && pipeline->Stats().queued > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    submit(2, 2);  // batches 2-4 (6 events) form one group
    submit(3, 1);  // and its duplicate: 2 events
    submit(4, 2);
    submit(5, 2);  // beyond 6 events: the next group
    {
      std::lock_guard lock(db.mu);
      db.gate_closed = false;
    }
    db.gate_cv.notify_all();
    ASSERT_TRUE(outcomes.WaitFor(5));
    pipeline->Shutdown();
    std::lock_guard lock(db.mu);
    if (!groups) {
      // A store that commits one part per transaction: the group fails, every batch in it is
      // refused (never acknowledged as stored), and what follows is committed alone.
      int failed = 0;
      for (const auto& r : outcomes.results) failed += r.ok() ? 0 : 1;
      EXPECT_EQ(failed, 3);
      EXPECT_EQ(db.transactions, 2);
      EXPECT_EQ(db.commits.size(), 2u);
      EXPECT_EQ(pipeline->Stats().transactions_committed, 2u);
      EXPECT_EQ(pipeline->Stats().parts_committed, 2u);
      continue;
    }
    int accepted = 0;
    for (const auto& r : outcomes.results) {
      ASSERT_TRUE(r.ok()) << r.status();
      accepted += static_cast<int>(r->accepted);
    }
    EXPECT_EQ(accepted, 9);
    EXPECT_EQ(db.transactions, 3);  // {1}, {2, 3, 4}, {5}
    ASSERT_EQ(db.commits.size(), 5u);
    EXPECT_EQ(pipeline->Stats().transactions_committed, 3u);
    EXPECT_EQ(pipeline->Stats().parts_committed, 5u);
    std::vector<uint64_t> order;
    for (const BatchMeta& m : db.commits) order.push_back(m.batch_id);
    EXPECT_EQ(order, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
    int duplicates = 0;
    for (const auto& r : outcomes.results) duplicates += static_cast<int>(r->duplicates);
    EXPECT_EQ(duplicates, 1);
    EXPECT_EQ(db.events.size(), 9u);
  }
}

}  // namespace
}  // namespace sonar::ingest
