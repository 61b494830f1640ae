#include "ingest/batch_processor.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "core/validation.h"
#include "ingest/event_key.h"

namespace sonar::ingest {
namespace {

// Identifiers are echoed back and stored only when they are plain printable ASCII of a sane
// length; anything else (invalid UTF-8, control bytes) could break a log line or a text column.
std::string Printable(std::string_view id, size_t max_size) {
  const bool ok = !id.empty() && id.size() <= max_size &&
                  std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x20 && c <= 0x7E; });
  return ok ? std::string(id) : std::string();
}

}  // namespace

BatchProcessor::Triage BatchProcessor::TriageBatch(std::span<const IncomingEvent> events,
                                                   core::Instant now,
                                                   const core::ReferenceData& reference) {
  Triage t;
  // Keys point into `events`; validation has not changed source or event_id.
  absl::flat_hash_map<EventKey, size_t, EventKeyHash> first_by_key;
  first_by_key.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const IncomingEvent& in = events[i];
    if (!in.event) {
      t.rejected.emplace_back(
          i, in.decode_error.value_or(core::Rejection{"malformed", "malformed event"}));
      continue;
    }
    if (auto rejection = core::ValidateEvent(*in.event, now, reference)) {
      t.rejected.emplace_back(i, *std::move(rejection));
      continue;
    }
    auto [it, inserted] =
        first_by_key.try_emplace(EventKey{in.event->source, in.event->event_id}, i);
    if (inserted) {
      t.candidates.push_back(i);
    } else {
      t.repeats.emplace_back(i, it->second);
    }
  }
  return t;
}

namespace {

core::Rejection ConflictRejection() {
  return {"conflict",
          "an event with this source and event_id but different content was already received; "
          "the first one stays"};
}

}  // namespace

std::vector<std::optional<core::Event>> BatchProcessor::StoredPerHistories(
    std::span<const std::string_view> refs, std::span<const std::vector<core::Event>> histories,
    std::span<const IncomingEvent> events, std::span<const size_t> candidates) {
  // Views into `histories`, which stay unchanged while this runs.
  absl::flat_hash_map<EventKey, std::pair<size_t, const core::Event*>, EventKeyHash> known;
  for (size_t p = 0; p < histories.size(); ++p) {
    for (const core::Event& e : histories[p]) known.try_emplace({e.source, e.event_id}, p, &e);
  }
  std::vector<std::optional<core::Event>> stored(candidates.size());
  if (known.empty()) return stored;
  for (size_t c = 0; c < candidates.size(); ++c) {
    const core::Event& candidate = *events[candidates[c]].event;
    const auto it = known.find(EventKey{candidate.source, candidate.event_id});
    if (it == known.end()) continue;
    core::Event e = *it->second.second;
    e.client_ref = refs[it->second.first];  // histories are keyed by their person
    stored[c] = std::move(e);
  }
  return stored;
}

BatchProcessor::BatchProcessor(BatchStore& store, const core::ReferenceData& reference,
                               int max_attempts, const Pseudonymizer* pseudonymizer)
    : store_(store),
      reference_(reference),
      max_attempts_(max_attempts),
      pseudonymizer_(pseudonymizer) {}

absl::StatusOr<BatchResult> BatchProcessor::Process(std::vector<IncomingEvent> events,
                                                    const BatchMeta& meta, core::Instant now,
                                                    const PayloadOf& payload_of,
                                                    std::span<const uint32_t> request_index) {
  const PartInfo part{&meta, &payload_of, request_index, 0};
  auto results = Run(events, std::span<const PartInfo>(&part, 1), {}, now);
  if (!results.ok()) return results.status();
  return std::move(results->front());
}

absl::StatusOr<std::vector<BatchResult>> BatchProcessor::ProcessGroup(std::vector<GroupPart> parts,
                                                                      core::Instant now) {
  size_t total = 0;
  for (const GroupPart& part : parts) total += part.events.size();
  std::vector<IncomingEvent> events;
  std::vector<uint32_t> part_of;
  std::vector<PartInfo> infos;
  events.reserve(total);
  part_of.reserve(total);
  infos.reserve(parts.size());
  for (size_t p = 0; p < parts.size(); ++p) {
    infos.push_back({&parts[p].meta, &parts[p].payload_of, parts[p].request_index, events.size()});
    for (IncomingEvent& e : parts[p].events) events.push_back(std::move(e));
    part_of.insert(part_of.end(), parts[p].events.size(), static_cast<uint32_t>(p));
  }
  return Run(events, infos, part_of, now);
}

absl::StatusOr<std::vector<BatchResult>> BatchProcessor::Run(std::vector<IncomingEvent>& events,
                                                             std::span<const PartInfo> parts,
                                                             std::span<const uint32_t> part_of,
                                                             core::Instant now) {
  // Validation sees what the producer sent (the BSN guard must); everything after it, and the
  // database, only the pseudonyms.
  const Triage triage = TriageBatch(events, now, reference_);
  if (pseudonymizer_ != nullptr) {
    for (size_t i : triage.candidates) {
      events[i].event->client_ref = pseudonymizer_->Apply(events[i].event->client_ref);
    }
    for (const auto& [i, first] : triage.repeats) {
      events[i].event->client_ref = pseudonymizer_->Apply(events[i].event->client_ref);
    }
  }
  absl::Status last;
  // A person created concurrently by another transaction: each such abort leaves one more of the
  // batch's persons existing (locked on the retry), so at most one per distinct person.
  std::vector<std::string_view> persons;  // views into `events`, sorted, each once
  for (size_t i : triage.candidates) persons.push_back(events[i].event->client_ref);
  std::sort(persons.begin(), persons.end());
  persons.erase(std::unique(persons.begin(), persons.end()), persons.end());
  const auto person_count = static_cast<int>(persons.size());
  int attempt = 0, contended = 0, created_concurrently = 0;
  // First optimistically (no locks, keys checked against the histories); any abort of that
  // attempt is retried with locks, which then follow the rules below.
  bool optimistic = optimistic_;
  while (contended < max_attempts_ && created_concurrently <= person_count) {
    ++attempt;
    auto results = Attempt(events, persons, triage, parts, part_of, optimistic);
    if (results.ok()) {
      for (BatchResult& r : *results) r.attempts = attempt;
      return results;
    }
    last = results.status();
    if (optimistic && (last.code() == absl::StatusCode::kAborted ||
                       (last.code() == absl::StatusCode::kUnimplemented &&
                        last.message() == kNoOptimisticTransactions))) {
      if (last.code() == absl::StatusCode::kUnimplemented) {
        optimistic_ = false;  // the store has none: not an attempt, and not tried again
        --attempt;
      }
      optimistic = false;
      continue;
    }
    if (last.code() != absl::StatusCode::kAborted) return last;
    if (last.message() == kNewPersonCreatedConcurrently) {
      ++created_concurrently;
    } else {
      ++contended;
    }
  }
  return last;
}

absl::StatusOr<std::vector<BatchResult>> BatchProcessor::Attempt(
    std::span<const IncomingEvent> events, std::span<const std::string_view> refs, Triage triage,
    std::span<const PartInfo> parts, std::span<const uint32_t> part_of, bool optimistic) {
  auto tx = optimistic ? store_.BeginOptimistic() : store_.Begin();
  if (!tx.ok()) return tx.status();
  BatchTransaction& txn = **tx;
  if (parts.size() > 1) {
    if (auto s = txn.SetParts(parts.size()); !s.ok()) return s;
  }
  auto part = [&](size_t i) -> uint32_t { return part_of.empty() ? 0 : part_of[i]; };

  // 1. Every person the batch touches (`refs`, sorted): locked (one order, so no deadlocks
  //    between batches), or read as they are (optimistic).
  auto histories = optimistic ? txn.ReadHistories(refs) : txn.LockHistories(refs);
  if (!histories.ok()) return histories.status();

  // 2. Which keys are stored already, and as what. Locking: insert the events, the database
  //    answers. Optimistic: a person's history holds every stored event of theirs, so a key found
  //    in the histories read is stored (as a duplicate or a conflict); the others are taken for
  //    new, and inserting them fails if one is not (stored for a person outside this batch, or by
  //    a concurrent transaction).
  absl::StatusOr<std::vector<std::optional<core::Event>>> stored;
  if (optimistic) {
    stored = StoredPerHistories(refs, *histories, events, triage.candidates);
  } else {
    std::vector<core::Event> candidate_events;
    std::vector<uint32_t> candidate_parts;
    candidate_events.reserve(triage.candidates.size());
    for (size_t i : triage.candidates) {
      candidate_events.push_back(*events[i].event);
      if (!part_of.empty()) candidate_parts.push_back(part(i));
    }
    stored = txn.InsertEvents(candidate_events, candidate_parts);
  }
  if (!stored.ok()) return stored.status();

  std::vector<BatchResult> results(parts.size());
  // (client_ref, event) for every inserted event, sorted by ref below.
  std::vector<std::pair<std::string_view, const core::Event*>> added;
  added.reserve(triage.candidates.size());
  // What each key holds after this batch: the stored event, or the one this batch inserted; by
  // the index of the key's first occurrence.
  std::vector<const core::Event*> content_by_first_index(triage.repeats.empty() ? 0
                                                                                : events.size());
  for (size_t c = 0; c < triage.candidates.size(); ++c) {
    const size_t i = triage.candidates[c];
    const std::optional<core::Event>& existing = (*stored)[c];
    if (!content_by_first_index.empty()) {
      content_by_first_index[i] = existing ? &*existing : &*events[i].event;
    }
    if (!existing) {
      ++results[part(i)].accepted;
      added.emplace_back(events[i].event->client_ref, &*events[i].event);
    } else if (existing->SameContent(*events[i].event)) {
      ++results[part(i)].duplicates;
    } else {
      triage.rejected.emplace_back(i, ConflictRejection());
    }
  }
  for (const auto& [i, first] : triage.repeats) {
    if (events[i].event->SameContent(*content_by_first_index[first])) {
      ++results[part(i)].duplicates;
    } else {
      triage.rejected.emplace_back(i, ConflictRejection());
    }
  }

  // 3. Fold each changed person's history and turn the change into counter deltas.
  core::QuarterDeltas quarter_deltas;
  core::LiveDeltas live_deltas;
  std::vector<std::string_view> changed_refs;
  std::vector<std::vector<core::Event>> changed_histories;
  std::stable_sort(added.begin(), added.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  auto next_added = added.begin();
  for (size_t p = 0; p < refs.size() && next_added != added.end(); ++p) {
    if (next_added->first != refs[p]) continue;  // refs is sorted and holds every added ref
    // The history is extended in place. The stored events earlier than every added one are a
    // prefix that both versions share; the rest of it (usually nothing: new events are mostly
    // the person's latest) is the tail that changes, and the only part copied.
    std::vector<core::Event>& history = (*histories)[p];
    core::SortHistory(history);
    std::vector<core::Event> after_tail;
    for (; next_added != added.end() && next_added->first == refs[p]; ++next_added) {
      const core::Event& e = *next_added->second;
      // Without the client_ref: the history row is keyed by the person already.
      after_tail.push_back(
          {e.source, e.event_id, {}, e.occurred_at, e.kind, e.municipality_code, e.registrant});
    }
    const core::Instant earliest =
        std::min_element(after_tail.begin(), after_tail.end(), [](const auto& a, const auto& b) {
          return a.occurred_at < b.occurred_at;
        })->occurred_at;
    const auto split = std::find_if(history.begin(), history.end(), [earliest](const auto& e) {
      return e.occurred_at >= earliest;
    });
    after_tail.insert(after_tail.end(), split, history.end());
    core::SortHistory(after_tail);
    const auto shared = static_cast<size_t>(split - history.begin());
    const std::span<const core::Event> before(history);
    core::AddHistoryChange(before.first(shared), before.subspan(shared), after_tail, quarter_deltas,
                           live_deltas);
    history.erase(split, history.end());
    history.insert(history.end(), std::make_move_iterator(after_tail.begin()),
                   std::make_move_iterator(after_tail.end()));
    changed_refs.push_back(refs[p]);
    changed_histories.push_back(std::move(history));
  }
  if (optimistic) {
    // Existing persons, then event keys (new persons at Commit): the locking order too.
    if (auto s = txn.WriteHistoriesIfUnchanged(changed_refs, changed_histories); !s.ok()) {
      return s;
    }
    std::vector<const core::Event*> inserted;
    std::vector<uint32_t> inserted_parts;
    inserted.reserve(triage.candidates.size());
    for (size_t c = 0; c < triage.candidates.size(); ++c) {
      if ((*stored)[c]) continue;
      inserted.push_back(&*events[triage.candidates[c]].event);
      if (!part_of.empty()) inserted_parts.push_back(part(triage.candidates[c]));
    }
    if (auto s = txn.InsertNewEvents(inserted, inserted_parts); !s.ok()) return s;
  } else if (auto s = txn.StoreHistories(changed_refs, changed_histories); !s.ok()) {
    return s;
  }
  if (auto s = txn.AddDeltas(quarter_deltas, live_deltas); !s.ok()) return s;

  // 4. Keep every rejected event, with its reason, for inspection.
  std::sort(triage.rejected.begin(), triage.rejected.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<QuarantinedEvent> quarantine;
  for (const auto& [i, rejection] : triage.rejected) {
    const IncomingEvent& in = events[i];
    const uint32_t p = part(i);
    const PartInfo& info = parts[p];
    const size_t local = i - info.begin;
    const auto index =
        static_cast<uint32_t>(info.request_index.empty() ? local : info.request_index[local]);
    const std::string echo_id = Printable(in.sent_event_id(), 128);
    results[p].rejections.push_back({index, echo_id, rejection.code, rejection.reason});
    quarantine.push_back(
        {p, index, Printable(in.sent_source(), 64), echo_id, rejection.code, rejection.reason,
         *info.payload_of ? (*info.payload_of)(index, pseudonymizer_) : std::string()});
  }
  if (auto s = txn.Quarantine(quarantine); !s.ok()) return s;

  // One outcome per part (a single part goes to Commit through CommitGroup's default).
  std::vector<PartOutcome> outcomes;
  outcomes.reserve(parts.size());
  for (size_t p = 0; p < parts.size(); ++p) {
    outcomes.push_back({*parts[p].meta, results[p].accepted, results[p].duplicates,
                        static_cast<uint32_t>(results[p].rejections.size())});
  }
  const absl::StatusOr<int64_t> position = txn.CommitGroup(outcomes);
  if (!position.ok()) return position.status();
  for (BatchResult& r : results) r.position = *position;
  return results;
}

}  // namespace sonar::ingest
