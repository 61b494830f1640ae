#include "ingest/batch_processor.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

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
  std::unordered_map<EventKey, size_t, EventKeyHash> first_by_key;
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

BatchProcessor::BatchProcessor(BatchStore& store, const core::ReferenceData& reference,
                               int max_attempts, const Pseudonymizer* pseudonymizer)
    : store_(store),
      reference_(reference),
      max_attempts_(max_attempts),
      pseudonymizer_(pseudonymizer) {}

absl::StatusOr<BatchResult> BatchProcessor::Process(std::span<const IncomingEvent> events,
                                                    const BatchMeta& meta, core::Instant now,
                                                    const PayloadOf& payload_of,
                                                    std::span<const uint32_t> request_index) {
  // Validation sees what the producer sent (the BSN guard must); everything after it, and the
  // database, only the pseudonyms.
  const Triage triage = TriageBatch(events, now, reference_);
  std::vector<IncomingEvent> pseudonymized;
  if (pseudonymizer_ != nullptr) {
    pseudonymized.assign(events.begin(), events.end());
    for (size_t i : triage.candidates) {
      pseudonymized[i].event->client_ref = pseudonymizer_->Apply(events[i].event->client_ref);
    }
    for (const auto& [i, first] : triage.repeats) {
      pseudonymized[i].event->client_ref = pseudonymizer_->Apply(events[i].event->client_ref);
    }
    events = pseudonymized;
  }
  absl::Status last;
  // A person created concurrently by another transaction: each such abort leaves one more of the
  // batch's persons existing (locked on the retry), so at most one per distinct person.
  std::vector<std::string_view> persons;
  for (size_t i : triage.candidates) persons.push_back(events[i].event->client_ref);
  std::sort(persons.begin(), persons.end());
  const auto person_count =
      static_cast<int>(std::unique(persons.begin(), persons.end()) - persons.begin());
  int attempt = 0, contended = 0, created_concurrently = 0;
  while (contended < max_attempts_ && created_concurrently <= person_count) {
    ++attempt;
    auto result = Attempt(events, triage, meta, payload_of, request_index);
    if (result.ok()) {
      result->attempts = attempt;
      return result;
    }
    last = result.status();
    if (last.code() != absl::StatusCode::kAborted) return last;
    if (last.message() == kNewPersonCreatedConcurrently) {
      ++created_concurrently;
    } else {
      ++contended;
    }
  }
  return last;
}

absl::StatusOr<BatchResult> BatchProcessor::Attempt(std::span<const IncomingEvent> events,
                                                    Triage triage, const BatchMeta& meta,
                                                    const PayloadOf& payload_of,
                                                    std::span<const uint32_t> request_index) {
  auto tx = store_.Begin();
  if (!tx.ok()) return tx.status();
  BatchTransaction& txn = **tx;

  // 1. Lock every person the batch touches, in one sorted order (no deadlocks between batches).
  std::vector<std::string> refs;
  for (size_t i : triage.candidates) refs.push_back(events[i].event->client_ref);
  std::sort(refs.begin(), refs.end());
  refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
  auto histories = txn.LockHistories(refs);
  if (!histories.ok()) return histories.status();

  // 2. Store new events; a key seen before is a duplicate or a conflict.
  std::vector<core::Event> candidate_events;
  candidate_events.reserve(triage.candidates.size());
  for (size_t i : triage.candidates) candidate_events.push_back(*events[i].event);
  auto stored = txn.InsertEvents(candidate_events);
  if (!stored.ok()) return stored.status();

  BatchResult result;
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
      ++result.accepted;
      added.emplace_back(events[i].event->client_ref, &*events[i].event);
    } else if (existing->SameContent(*events[i].event)) {
      ++result.duplicates;
    } else {
      triage.rejected.emplace_back(i, ConflictRejection());
    }
  }
  for (const auto& [i, first] : triage.repeats) {
    if (events[i].event->SameContent(*content_by_first_index[first])) {
      ++result.duplicates;
    } else {
      triage.rejected.emplace_back(i, ConflictRejection());
    }
  }

  // 3. Fold each changed person's history and turn the change into counter deltas.
  core::QuarterDeltas quarter_deltas;
  core::LiveDeltas live_deltas;
  std::vector<std::string> changed_refs;
  std::vector<std::vector<core::Event>> changed_histories;
  std::stable_sort(added.begin(), added.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  auto next_added = added.begin();
  for (size_t p = 0; p < refs.size() && next_added != added.end(); ++p) {
    if (next_added->first != refs[p]) continue;  // refs is sorted and holds every added ref
    std::vector<core::Event>& before = (*histories)[p];
    core::SortHistory(before);
    std::vector<core::Event> after;
    after.reserve(before.size() + 1);
    after = before;
    for (; next_added != added.end() && next_added->first == refs[p]; ++next_added) {
      after.push_back(*next_added->second);
      after.back().client_ref.clear();  // the history row is keyed by the person already
    }
    core::SortHistory(after);
    core::AddHistoryChange(before, after, quarter_deltas, live_deltas);
    changed_refs.push_back(refs[p]);
    changed_histories.push_back(std::move(after));
  }
  if (auto s = txn.StoreHistories(changed_refs, changed_histories); !s.ok()) return s;
  if (auto s = txn.AddDeltas(quarter_deltas, live_deltas); !s.ok()) return s;

  // 4. Keep every rejected event, with its reason, for inspection.
  std::sort(triage.rejected.begin(), triage.rejected.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<QuarantinedEvent> quarantine;
  for (const auto& [i, rejection] : triage.rejected) {
    const IncomingEvent& in = events[i];
    const std::string echo_id = Printable(in.event_id, 128);
    const uint32_t index = request_index.empty() ? static_cast<uint32_t>(i) : request_index[i];
    result.rejections.push_back({index, echo_id, rejection.code, rejection.reason});
    quarantine.push_back({index, Printable(in.source, 64), echo_id, rejection.code,
                          rejection.reason, payload_of ? payload_of(index) : std::string()});
  }
  if (auto s = txn.Quarantine(quarantine); !s.ok()) return s;

  auto position = txn.Commit(meta, result.accepted, result.duplicates,
                             static_cast<uint32_t>(result.rejections.size()));
  if (!position.ok()) return position.status();
  result.position = *position;
  return result;
}

}  // namespace sonar::ingest
