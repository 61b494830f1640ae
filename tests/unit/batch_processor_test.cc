#include "ingest/batch_processor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ingest/pseudonymizer.h"

namespace sonar::ingest {
namespace {

using core::Event;
using core::EventKind;
using core::Instant;
using core::Registrant;
using std::chrono::hours;

// What a committed database holds.
struct Db {
  std::map<std::pair<std::string, std::string>, Event> events;  // by (source, event_id)
  std::map<std::string, std::vector<Event>> histories;          // by client_ref
  core::QuarterDeltas quarter;
  core::LiveDeltas live;
  std::vector<QuarantinedEvent> quarantine;
  int64_t position = 0;
  // Groups: each stored event's part, and the outcomes of every part committed.
  std::map<std::pair<std::string, std::string>, uint32_t> event_part;
  std::vector<PartOutcome> outcomes;
};

template <typename Map>
void Merge(Map& into, const Map& add) {
  for (const auto& [key, n] : add) {
    if ((into[key] += n) == 0) into.erase(key);
  }
}

class FakeStore;

// Works on a copy of the database; Commit replaces the database with it.
class FakeTransaction final : public BatchTransaction {
 public:
  FakeTransaction(FakeStore& store, Db snapshot) : store_(store), db_(std::move(snapshot)) {}

  absl::StatusOr<std::vector<std::vector<Event>>> LockHistories(
      std::span<const std::string_view> refs) override {
    EXPECT_TRUE(std::is_sorted(refs.begin(), refs.end()));
    EXPECT_EQ(std::adjacent_find(refs.begin(), refs.end()), refs.end());
    std::vector<std::vector<Event>> out;
    for (std::string_view view : refs) {
      const std::string ref(view);
      locked_.push_back(ref);
      out.push_back(db_.histories[ref]);
    }
    return out;
  }

  absl::Status SetParts(size_t parts) override {
    EXPECT_EQ(parts_, 1u) << "SetParts twice";
    parts_ = parts;
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::optional<Event>>> InsertEvents(
      std::span<const Event> events, std::span<const uint32_t> parts) override {
    EXPECT_TRUE(parts.empty() || parts.size() == events.size());
    std::vector<std::optional<Event>> out;
    for (size_t i = 0; i < events.size(); ++i) {
      const Event& e = events[i];
      auto [it, inserted] = db_.events.try_emplace({e.source, e.event_id}, e);
      out.push_back(inserted ? std::nullopt : std::optional<Event>(it->second));
      if (inserted) {
        const uint32_t part = parts.empty() ? 0 : parts[i];
        EXPECT_LT(part, parts_);
        db_.event_part[{e.source, e.event_id}] = part;
      }
    }
    return out;
  }

  absl::Status StoreHistories(std::span<const std::string_view> refs,
                              std::span<const std::vector<Event>> histories) override {
    EXPECT_EQ(refs.size(), histories.size());
    for (size_t i = 0; i < refs.size(); ++i) {
      EXPECT_NE(std::find(locked_.begin(), locked_.end(), refs[i]), locked_.end()) << refs[i];
      db_.histories[std::string(refs[i])] = histories[i];
    }
    return absl::OkStatus();
  }

  absl::Status AddDeltas(const core::QuarterDeltas& q, const core::LiveDeltas& l) override {
    Merge(db_.quarter, q);
    Merge(db_.live, l);
    return absl::OkStatus();
  }

  absl::Status Quarantine(std::span<const QuarantinedEvent> events) override {
    db_.quarantine.insert(db_.quarantine.end(), events.begin(), events.end());
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> Commit(const BatchMeta& meta, uint32_t accepted, uint32_t duplicates,
                                 uint32_t rejected) override;

  absl::StatusOr<int64_t> CommitGroup(std::span<const PartOutcome> parts) override {
    EXPECT_EQ(parts.size(), parts_);
    return CommitParts(parts);
  }

 private:
  absl::StatusOr<int64_t> CommitParts(std::span<const PartOutcome> parts);

  FakeStore& store_;
  Db db_;
  std::vector<std::string> locked_;
  size_t parts_ = 1;
};

class FakeStore final : public BatchStore {
 public:
  absl::StatusOr<std::unique_ptr<BatchTransaction>> Begin() override {
    ++begins;
    if (abort_begins > 0) {
      --abort_begins;
      return absl::AbortedError("serialization failure");
    }
    if (unavailable_begin) return absl::UnavailableError("no connection");
    return std::make_unique<FakeTransaction>(*this, db);
  }
  bool Healthy() const override { return true; }

  Db db;
  int begins = 0, commits = 0;
  int abort_begins = 0, abort_commits = 0;  // abort_*: fail the next N with ABORTED
  int created_concurrently = 0;  // fail the next N commits: a new person was created meanwhile
  bool unavailable_begin = false, unavailable_commit = false;
};

absl::StatusOr<int64_t> FakeTransaction::Commit(const BatchMeta& meta, uint32_t accepted,
                                                uint32_t duplicates, uint32_t rejected) {
  EXPECT_EQ(parts_, 1u);
  const PartOutcome part{meta, accepted, duplicates, rejected};
  return CommitParts(std::span<const PartOutcome>(&part, 1));
}

absl::StatusOr<int64_t> FakeTransaction::CommitParts(std::span<const PartOutcome> parts) {
  if (store_.abort_commits > 0) {
    --store_.abort_commits;
    return absl::AbortedError("deadlock detected");
  }
  if (store_.created_concurrently > 0) {
    --store_.created_concurrently;
    return absl::AbortedError(kNewPersonCreatedConcurrently);
  }
  if (store_.unavailable_commit) return absl::UnavailableError("commit outcome unknown");
  db_.outcomes.insert(db_.outcomes.end(), parts.begin(), parts.end());
  ++store_.commits;
  db_.position = store_.db.position + 1;
  store_.db = std::move(db_);
  return store_.db.position;
}

const Instant kNow = Instant{*core::ParseDate("2023-01-10")} + hours{12};
const std::string kAnn = "pseudonym-ann-000001", kBob = "pseudonym-bob-000002";

Instant Utc(const char* date) { return Instant{*core::ParseDate(date)} + hours{10}; }

Event Make(const std::string& ref, const char* id, const char* date, EventKind kind,
           const char* code = "", Registrant registrant = Registrant::kUnspecified) {
  return Event{"sonar", id, ref, Utc(date), kind, code, registrant};
}

std::vector<IncomingEvent> Batch(const std::vector<Event>& events) {
  std::vector<IncomingEvent> out;
  for (const Event& e : events) out.push_back({e, std::nullopt, e.source, e.event_id});
  return out;
}

using Codes = std::vector<std::pair<uint32_t, std::string>>;  // (index, code) per rejection

Codes CodesOf(const BatchResult& r) {
  Codes out;
  for (const EventRejection& x : r.rejections) out.emplace_back(x.index, x.code);
  return out;
}

std::string Payload(size_t i, const Pseudonymizer* /*pseudonymizer*/ = nullptr) {
  return "payload-" + std::to_string(i);
}

absl::StatusOr<BatchResult> Ingest(FakeStore& store, const std::vector<IncomingEvent>& batch,
                                   int max_attempts = 5) {
  BatchProcessor processor(store, core::ReferenceData::Builtin(), max_attempts);
  return processor.Process(batch, BatchMeta{"test", 1}, kNow, Payload);
}

// Ann: register (Q1), target group (Q2), profile (Q3), moved (Q4). Bob: register only.
std::vector<Event> AnnAndBob() {
  return {Make(kAnn, "a-1", "2022-02-01", EventKind::kClientRegistered, "GM0654", Registrant::kUwv),
          Make(kAnn, "a-2", "2022-05-01", EventKind::kTargetGroupEntered, "GM0654"),
          Make(kAnn, "a-3", "2022-08-01", EventKind::kProfileCompleted),
          Make(kAnn, "a-4", "2022-11-01", EventKind::kClientMoved, "GM0664"),
          Make(kBob, "b-1", "2022-03-01", EventKind::kTargetGroupEntered, "GM0677")};
}

// The deltas the events must add up to, computed from the core functions directly.
core::QuarterDeltas Expected(std::vector<Event> events) {
  std::map<std::string, std::vector<Event>> by_ref;
  for (Event& e : events) by_ref[e.client_ref].push_back(std::move(e));
  core::QuarterDeltas out;
  for (auto& [ref, h] : by_ref) {
    core::SortHistory(h);
    core::AddHistoryContribution(h, +1, out);
  }
  return out;
}

TEST(BatchProcessorTest, AcceptsNewEventsAndCountsReplayAsDuplicates) {
  FakeStore store;
  const auto batch = Batch(AnnAndBob());
  auto r = Ingest(store, batch);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 5u);
  EXPECT_EQ(r->duplicates, 0u);
  EXPECT_TRUE(r->rejections.empty());
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(r->position, 1);
  EXPECT_EQ(store.db.events.size(), 5u);
  EXPECT_EQ(store.db.histories[kAnn].size(), 4u);
  EXPECT_EQ(store.db.quarter, Expected(AnnAndBob()));
  const core::LiveDeltas live{{{"GM0664", core::Cell::kUwvWithProfile}, 1},
                              {{"GM0677", core::Cell::kRegisterOnly}, 1}};
  EXPECT_EQ(store.db.live, live);
  EXPECT_TRUE(store.db.quarantine.empty());

  const Db before = store.db;  // replay: all duplicates, nothing changes
  auto again = Ingest(store, batch);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->accepted, 0u);
  EXPECT_EQ(again->duplicates, 5u);
  EXPECT_TRUE(again->rejections.empty());
  EXPECT_EQ(again->position, 2);
  EXPECT_EQ(store.db.quarter, before.quarter);
  EXPECT_EQ(store.db.live, before.live);
  EXPECT_EQ(store.db.histories[kAnn].size(), 4u);
}

TEST(BatchProcessorTest, DuplicateWithinOneBatch) {
  FakeStore store;
  const std::vector<Event> events = AnnAndBob();
  auto r = Ingest(store, Batch({events[0], events[1], events[0], events[0]}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 2u);
  EXPECT_EQ(r->duplicates, 2u);
  EXPECT_TRUE(r->rejections.empty());
  EXPECT_EQ(store.db.quarter, Expected({events[0], events[1]}));
}

TEST(BatchProcessorTest, ConflictWithinOneBatchKeepsTheFirst) {
  FakeStore store;
  const Event first = AnnAndBob()[0];
  Event other = first;
  other.registrant = Registrant::kGemeente;
  auto r = Ingest(store, Batch({first, other}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 1u);
  EXPECT_EQ(r->duplicates, 0u);
  ASSERT_EQ(CodesOf(*r), (Codes{{1, "conflict"}}));
  EXPECT_EQ(r->rejections[0].event_id, "a-1");
  EXPECT_EQ(store.db.events.at({"sonar", "a-1"}).registrant, Registrant::kUwv);
  EXPECT_EQ(store.db.quarter, Expected({first}));
  ASSERT_EQ(store.db.quarantine.size(), 1u);
  EXPECT_EQ(store.db.quarantine[0].payload, "payload-1");
}

TEST(BatchProcessorTest, ConflictAgainstStoredKeepsTheFirst) {
  FakeStore store;
  const std::vector<Event> events = AnnAndBob();
  ASSERT_TRUE(Ingest(store, Batch({events[0]})).ok());
  Event other = events[0];
  other.occurred_at += hours{1};
  // The conflicting event twice, then one new event.
  auto r = Ingest(store, Batch({other, other, events[4]}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 1u);
  EXPECT_EQ(r->duplicates, 0u);
  EXPECT_EQ(CodesOf(*r), (Codes{{0, "conflict"}, {1, "conflict"}}));
  EXPECT_EQ(store.db.events.at({"sonar", "a-1"}).occurred_at, events[0].occurred_at);
  EXPECT_EQ(store.db.histories[kAnn].size(), 1u);
  EXPECT_EQ(store.db.quarter, Expected({events[0], events[4]}));
}

// The quarantine is in the database too: a processor that pseudonymises hands its pseudonymizer
// to whoever encodes the rejected event (service::QuarantinePayload keeps the pseudonym).
TEST(BatchProcessorTest, QuarantinePayloadsAreEncodedWithTheProcessorsPseudonymizer) {
  const auto pseudonymizer = Pseudonymizer::FromKey(std::string(32, 'k'));
  ASSERT_TRUE(pseudonymizer.ok()) << pseudonymizer.status();
  for (const Pseudonymizer* used : {static_cast<const Pseudonymizer*>(nullptr), &*pseudonymizer}) {
    FakeStore store;
    BatchProcessor processor(store, core::ReferenceData::Builtin(), 5, used);
    Event unknown = AnnAndBob()[4];
    unknown.municipality_code = "GM9999";
    std::vector<const Pseudonymizer*> asked;
    auto r = processor.Process(Batch({AnnAndBob()[0], unknown}), BatchMeta{"test", 1}, kNow,
                               [&](size_t i, const Pseudonymizer* p) {
                                 asked.push_back(p);
                                 return Payload(i);
                               });
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(CodesOf(*r), (Codes{{1, "unknown_municipality"}}));
    EXPECT_EQ(asked, std::vector<const Pseudonymizer*>{used});
  }
}

TEST(BatchProcessorTest, InvalidEventsAreRejectedAndTheRestCommits) {
  FakeStore store;
  const std::vector<Event> events = AnnAndBob();
  Event bsn = events[1];
  bsn.client_ref = "123456789";
  bsn.event_id = "x-1";
  Event unknown = events[4];
  unknown.municipality_code = "GM9999";
  Event bad_id = events[2];
  bad_id.event_id = "bad\nid";
  bad_id.source = "Bad Source";
  std::vector<IncomingEvent> batch = Batch({events[0], bsn, unknown, bad_id, events[3]});
  batch.push_back({std::nullopt, core::Rejection{"missing_kind", "no kind"}, "sonar", "d-1"});
  batch.push_back({std::nullopt, std::nullopt, "sonar", "d-2"});
  auto r = Ingest(store, batch);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 2u);
  const Codes want = {{1, "probable_bsn"},
                      {2, "unknown_municipality"},
                      {3, "invalid_event_id"},
                      {5, "missing_kind"},
                      {6, "malformed"}};
  ASSERT_EQ(CodesOf(*r), want);
  ASSERT_EQ(store.db.quarantine.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(store.db.quarantine[k].index, want[k].first);
    EXPECT_EQ(store.db.quarantine[k].code, want[k].second);
    EXPECT_EQ(store.db.quarantine[k].payload, Payload(want[k].first));
    EXPECT_EQ(store.db.quarantine[k].reason.find("123456789"), std::string::npos);
  }
  EXPECT_EQ(r->rejections[3].reason, "no kind");
  EXPECT_EQ(r->rejections[0].event_id, "x-1");
  EXPECT_EQ(r->rejections[2].event_id, "");  // not printable: not echoed or stored
  EXPECT_EQ(store.db.quarantine[2].event_id, "");
  EXPECT_EQ(store.db.quarantine[2].source, "Bad Source");
  EXPECT_EQ(store.db.quarter, Expected({events[0], events[3]}));
  EXPECT_EQ(store.db.histories.count("123456789"), 0u);
}

TEST(BatchProcessorTest, AbortedIsRetriedAndCountsStayExact) {
  for (bool at_begin : {false, true}) {
    FakeStore store;
    (at_begin ? store.abort_begins : store.abort_commits) = 1;
    auto r = Ingest(store, Batch(AnnAndBob()));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->attempts, 2);
    EXPECT_EQ(store.begins, 2);
    EXPECT_EQ(r->accepted, 5u);
    EXPECT_EQ(r->duplicates, 0u);
    EXPECT_EQ(store.db.events.size(), 5u);
    EXPECT_EQ(store.db.quarter, Expected(AnnAndBob()));
    EXPECT_EQ(store.db.position, 1);
  }
  FakeStore store;  // gives up after max_attempts
  store.abort_commits = 100;
  EXPECT_EQ(Ingest(store, Batch(AnnAndBob()), 3).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store.begins, 3);
  EXPECT_TRUE(store.db.events.empty());
}

TEST(BatchProcessorTest, PersonsCreatedConcurrentlyAreRetriedOncePerPersonBeyondMaxAttempts) {
  // Ann and Bob: two persons, so up to two such aborts plus one more attempt, whatever
  // max_attempts (1 here) says; each one leaves one more person existing for the retry.
  FakeStore store;
  store.created_concurrently = 2;
  auto r = Ingest(store, Batch(AnnAndBob()), 1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempts, 3);
  EXPECT_EQ(store.db.events.size(), 5u);
  FakeStore endless;  // more than one per person: not progress, give up
  endless.created_concurrently = 100;
  EXPECT_EQ(Ingest(endless, Batch(AnnAndBob()), 1).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(endless.begins, 3);
}

TEST(BatchProcessorTest, UnavailableIsReturnedWithoutRetryAndNothingApplied) {
  for (bool at_begin : {false, true}) {
    FakeStore store;
    (at_begin ? store.unavailable_begin : store.unavailable_commit) = true;
    auto r = Ingest(store, Batch(AnnAndBob()));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(store.begins, 1);
    EXPECT_TRUE(store.db.events.empty());
    EXPECT_TRUE(store.db.quarter.empty());
    EXPECT_TRUE(store.db.live.empty());
    EXPECT_EQ(store.db.position, 0);
  }
}

TEST(BatchProcessorTest, ReverseOrderAcrossBatchesGivesTheSameDeltas) {
  const std::vector<Event> events = AnnAndBob();
  FakeStore in_order;
  ASSERT_TRUE(Ingest(in_order, Batch(events)).ok());

  FakeStore reversed;
  auto late = Ingest(reversed, Batch({events[4], events[3], events[2]}));
  ASSERT_TRUE(late.ok()) << late.status();
  auto early = Ingest(reversed, Batch({events[1], events[0]}));
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(late->accepted + early->accepted, 5u);

  EXPECT_EQ(reversed.db.quarter, in_order.db.quarter);
  EXPECT_EQ(reversed.db.live, in_order.db.live);
  ASSERT_EQ(reversed.db.histories[kAnn].size(), in_order.db.histories[kAnn].size());
  for (size_t i = 0; i < in_order.db.histories[kAnn].size(); ++i) {
    EXPECT_EQ(reversed.db.histories[kAnn][i].event_id, in_order.db.histories[kAnn][i].event_id);
  }
  EXPECT_EQ(reversed.db.quarter, Expected(events));
}

// Parts committed as one group: one transaction, and each part's outcome what it would have been
// had the parts been committed alone, one after the other: a key stored by an earlier part is a
// duplicate (same content) or a conflict (other content) in a later one; rejections keep their
// positions in their own requests; the database ends the same.
TEST(BatchProcessorTest, GroupCommitsPartsAsIfOneAfterTheOther) {
  const std::vector<Event> e = AnnAndBob();
  Event conflicting = e[0];
  conflicting.registrant = Registrant::kGemeente;
  Event unknown = e[4];
  unknown.event_id = "b-x";
  unknown.municipality_code = "GM9999";
  struct Part {
    std::vector<Event> events;
    std::vector<uint32_t> request_index;
  };
  const std::vector<Part> parts = {
      {{e[0], e[1]}, {}},
      {{e[0], e[4], unknown}, {}},
      {{conflicting, e[2], e[3]}, {7, 8, 9}},  // a part of a larger request
  };
  auto payload = [](uint64_t batch) {
    return [batch](size_t i, const Pseudonymizer*) {
      return "payload-" + std::to_string(batch) + "-" + std::to_string(i);
    };
  };

  FakeStore alone;
  std::vector<BatchResult> want;
  {
    BatchProcessor processor(alone, core::ReferenceData::Builtin());
    for (size_t p = 0; p < parts.size(); ++p) {
      auto r = processor.Process(Batch(parts[p].events), BatchMeta{"s", p + 1}, kNow,
                                 payload(p + 1), parts[p].request_index);
      ASSERT_TRUE(r.ok()) << r.status();
      want.push_back(*r);
    }
  }
  FakeStore grouped;
  BatchProcessor processor(grouped, core::ReferenceData::Builtin());
  std::vector<GroupPart> group;
  for (size_t p = 0; p < parts.size(); ++p) {
    group.push_back({Batch(parts[p].events), BatchMeta{"s", p + 1, static_cast<uint32_t>(p), 5},
                     payload(p + 1), parts[p].request_index});
  }
  auto got = processor.ProcessGroup(std::move(group), kNow);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), parts.size());
  EXPECT_EQ(grouped.commits, 1);
  EXPECT_EQ(alone.commits, 3);
  for (size_t p = 0; p < parts.size(); ++p) {
    EXPECT_EQ((*got)[p].accepted, want[p].accepted) << p;
    EXPECT_EQ((*got)[p].duplicates, want[p].duplicates) << p;
    EXPECT_EQ(CodesOf((*got)[p]), CodesOf(want[p])) << p;
    EXPECT_EQ((*got)[p].position, 1);
  }
  // What those outcomes are.
  EXPECT_EQ((*got)[0].accepted, 2u);
  EXPECT_EQ((*got)[1].accepted, 1u);
  EXPECT_EQ((*got)[1].duplicates, 1u);
  EXPECT_EQ(CodesOf((*got)[1]), (Codes{{2, "unknown_municipality"}}));
  EXPECT_EQ((*got)[2].accepted, 2u);
  EXPECT_EQ(CodesOf((*got)[2]), (Codes{{7, "conflict"}}));

  EXPECT_EQ(grouped.db.events.size(), alone.db.events.size());
  ASSERT_EQ(grouped.db.histories.size(), alone.db.histories.size());
  for (const auto& [ref, history] : alone.db.histories) {
    const std::vector<Event>& other = grouped.db.histories.at(ref);
    ASSERT_EQ(other.size(), history.size()) << ref;
    for (size_t i = 0; i < history.size(); ++i) {
      EXPECT_TRUE(other[i].SameContent(history[i])) << ref << " " << i;
    }
  }
  EXPECT_EQ(grouped.db.quarter, alone.db.quarter);
  EXPECT_EQ(grouped.db.live, alone.db.live);
  EXPECT_EQ(grouped.db.quarter, Expected(e));
  // Each stored event and each rejection belongs to its part, with that part's payload.
  EXPECT_EQ(grouped.db.event_part.at({"sonar", "a-1"}), 0u);
  EXPECT_EQ(grouped.db.event_part.at({"sonar", "b-1"}), 1u);
  EXPECT_EQ(grouped.db.event_part.at({"sonar", "a-3"}), 2u);
  EXPECT_EQ(grouped.db.event_part.at({"sonar", "a-4"}), 2u);
  ASSERT_EQ(grouped.db.quarantine.size(), 2u);
  EXPECT_EQ(grouped.db.quarantine[0].part, 1u);
  EXPECT_EQ(grouped.db.quarantine[0].index, 2u);
  EXPECT_EQ(grouped.db.quarantine[0].payload, "payload-2-2");
  EXPECT_EQ(grouped.db.quarantine[1].part, 2u);
  EXPECT_EQ(grouped.db.quarantine[1].index, 7u);
  EXPECT_EQ(grouped.db.quarantine[1].payload, "payload-3-7");
  // One outcome per part, in order, with the part's own figures.
  ASSERT_EQ(grouped.db.outcomes.size(), 3u);
  for (size_t p = 0; p < parts.size(); ++p) {
    EXPECT_EQ(grouped.db.outcomes[p].meta.batch_id, p + 1);
    EXPECT_EQ(grouped.db.outcomes[p].meta.part, p);
    EXPECT_EQ(grouped.db.outcomes[p].accepted, want[p].accepted);
    EXPECT_EQ(grouped.db.outcomes[p].duplicates, want[p].duplicates);
    EXPECT_EQ(grouped.db.outcomes[p].rejected, want[p].rejections.size());
  }
}

// A group's transaction is all or nothing, and is retried as a whole.
TEST(BatchProcessorTest, GroupIsRetriedWholeAndFailsWhole) {
  const std::vector<Event> e = AnnAndBob();
  auto group = [&] {
    std::vector<GroupPart> parts;
    parts.push_back({Batch({e[0], e[1]}), BatchMeta{"s", 1}, Payload, {}});
    parts.push_back({Batch({e[4]}), BatchMeta{"s", 2}, Payload, {}});
    return parts;
  };
  FakeStore store;
  store.abort_commits = 1;
  BatchProcessor processor(store, core::ReferenceData::Builtin());
  auto r = processor.ProcessGroup(group(), kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].attempts, 2);
  EXPECT_EQ((*r)[1].attempts, 2);
  EXPECT_EQ((*r)[0].accepted + (*r)[1].accepted, 3u);
  EXPECT_EQ(store.commits, 1);

  FakeStore down;
  down.unavailable_commit = true;
  BatchProcessor other(down, core::ReferenceData::Builtin());
  auto failed = other.ProcessGroup(group(), kNow);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(down.db.events.empty());
  EXPECT_TRUE(down.db.outcomes.empty());
}

}  // namespace
}  // namespace sonar::ingest
