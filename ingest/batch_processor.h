// Applies one batch of events in one transaction: deduplicates, detects conflicts, folds each
// touched person's history with the new events and writes the resulting counter deltas.
//
// Not thread-safe; one per worker (it is bound to one BatchStore, i.e. one connection).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/event.h"
#include "core/reference_data.h"
#include "core/validation.h"
#include "ingest/batch_store.h"
#include "ingest/pseudonymizer.h"

namespace sonar::ingest {

// One event of a request: either decoded into a domain event, or already rejected while
// decoding (e.g. no kind set).
struct IncomingEvent {
  std::optional<core::Event> event;
  std::optional<core::Rejection> decode_error;
  // As sent, for the rejection record (may be invalid); needed only when `event` is empty, since
  // a decoded event carries them unchanged (validation and pseudonymisation do not touch them).
  std::string source;
  std::string event_id;

  [[nodiscard]] std::string_view sent_source() const { return event ? event->source : source; }
  [[nodiscard]] std::string_view sent_event_id() const {
    return event ? event->event_id : event_id;
  }
};

class Pseudonymizer;

// The event at an index as received, for quarantine; called only for rejected events. It must
// leave out any value that may never be stored (a BSN-like client_ref), and with a
// `pseudonymizer` (the processor's, when it has one) store a client_ref only as its pseudonym.
using PayloadOf = std::function<std::string(size_t index, const Pseudonymizer* pseudonymizer)>;

struct EventRejection {
  uint32_t index = 0;
  std::string event_id;  // empty when the sent id was not valid to echo
  std::string code;
  std::string reason;
};

struct BatchResult {
  uint32_t accepted = 0;
  uint32_t duplicates = 0;
  std::vector<EventRejection> rejections;
  int64_t position = 0;
  int attempts = 0;
};

// One part of a group that BatchProcessor::ProcessGroup commits in one transaction.
struct GroupPart {
  std::vector<IncomingEvent> events;  // taken: client refs are pseudonymised in place
  BatchMeta meta;
  PayloadOf payload_of;
  std::vector<uint32_t> request_index;  // each event's position in its request; empty: identity
};

class BatchProcessor final {
 public:
  // `pseudonymizer` (optional, not owned) replaces client refs after validation.
  // `max_attempts` bounds the attempts lost to serialization failures and deadlocks; aborts
  // because another transaction created one of the batch's new persons are retried once per
  // distinct person besides (each leaves one more person existing; see batch_store.h).
  BatchProcessor(BatchStore& store, const core::ReferenceData& reference, int max_attempts = 5,
                 const Pseudonymizer* pseudonymizer = nullptr);

  // Commits the batch; on error nothing of it is stored (and it must not be acknowledged).
  // `request_index` (empty: the identity) gives each event's position in the request when
  // `events` is a part of it; rejections, quarantine records and `payload_of` use those positions.
  // The events are taken (not copied): their client refs are pseudonymised in place.
  [[nodiscard]] absl::StatusOr<BatchResult> Process(std::vector<IncomingEvent> events,
                                                    const BatchMeta& meta, core::Instant now,
                                                    const PayloadOf& payload_of,
                                                    std::span<const uint32_t> request_index = {});

  // Commits several parts (of different requests) in one transaction, each with the outcome it
  // would have had if the parts had been committed one after the other in this order (a key an
  // earlier part stores is a duplicate, or a conflict, in a later one), each with its own
  // ingest_batches row. All or nothing: on error nothing of any part is stored. UNIMPLEMENTED
  // when the store commits one part per transaction.
  [[nodiscard]] absl::StatusOr<std::vector<BatchResult>> ProcessGroup(std::vector<GroupPart> parts,
                                                                      core::Instant now);

 private:
  // A part of the events being committed: [begin, end of the next part) of them.
  struct PartInfo {
    const BatchMeta* meta = nullptr;
    const PayloadOf* payload_of = nullptr;
    std::span<const uint32_t> request_index;
    size_t begin = 0;
  };
  // Process and ProcessGroup: `part_of` gives each event's part (empty: all of part 0).
  [[nodiscard]] absl::StatusOr<std::vector<BatchResult>> Run(std::vector<IncomingEvent>& events,
                                                             std::span<const PartInfo> parts,
                                                             std::span<const uint32_t> part_of,
                                                             core::Instant now);
  // The batch after validation and in-batch deduplication.
  struct Triage {
    std::vector<size_t> candidates;                  // first occurrences of valid events
    std::vector<std::pair<size_t, size_t>> repeats;  // (index, index of its first occurrence)
    std::vector<std::pair<size_t, core::Rejection>> rejected;
  };
  [[nodiscard]] static Triage TriageBatch(std::span<const IncomingEvent> events, core::Instant now,
                                          const core::ReferenceData& reference);
  // `refs`: the candidates' persons, sorted bytewise, each once (views into `events`).
  [[nodiscard]] absl::StatusOr<std::vector<BatchResult>> Attempt(
      std::span<const IncomingEvent> events, std::span<const std::string_view> refs, Triage triage,
      std::span<const PartInfo> parts, std::span<const uint32_t> part_of, bool optimistic);
  // For each candidate (an index into `events`): the stored event under its key as far as the
  // histories (of `refs`, in that order) show, else nullopt.
  [[nodiscard]] static std::vector<std::optional<core::Event>> StoredPerHistories(
      std::span<const std::string_view> refs, std::span<const std::vector<core::Event>> histories,
      std::span<const IncomingEvent> events, std::span<const size_t> candidates);

  BatchStore& store_;
  const core::ReferenceData& reference_;
  int max_attempts_;
  const Pseudonymizer* pseudonymizer_;
  bool optimistic_ = true;  // until the store turns out to have no optimistic transactions
};

}  // namespace sonar::ingest
