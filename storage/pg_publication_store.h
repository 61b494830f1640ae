// Published quarters and their revisions, on the primary. Not thread-safe: one store per worker
// thread; it uses (does not own) its worker's connection.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "core/figures.h"
#include "core/time.h"
#include "storage/pg_connection.h"

namespace sonar::storage {

struct PublicationInfo {
  core::Quarter quarter;
  int revision = 0;
  core::Instant published_at{};
  int64_t ingest_position = 0;   // highest ingest batch seq visible in the frozen snapshot
  int64_t batches_included = 0;  // committed batches in that snapshot
};

class PgPublicationStore final {
 public:
  // Every statement, reads included, runs on `primary`, never on a streaming replica: the query
  // service caches what Find and Figures answer (the latest revision of a quarter until its change
  // feed, which listens on the primary, notifies the next publication; a revision's figures for
  // good), and a replica that has not replayed a publication yet would answer "none" or no
  // figures after the notification, which would then stay cached. Publications are few and small.
  explicit PgPublicationStore(PgConnection& primary);

  // Turns the raw totals at the quarter's end into the figures to freeze (core's mapping).
  using Freeze = std::function<std::vector<core::RegionFigures>(std::span<const core::CounterRow>)>;

  // Freezes the quarter as its next revision. The counts and the ingest position come from one
  // snapshot; concurrent publishers of any quarter are serialised by an advisory lock. Once the
  // revision is committed the answer is that revision, whatever fails after (the lock then dies
  // with the connection, which is dropped). UNAVAILABLE, with a message that says so, when the
  // connection is lost during COMMIT: the revision may or may not be stored, and publishing again
  // without looking at the latest revision could store it twice.
  [[nodiscard]] absl::StatusOr<PublicationInfo> Publish(core::Quarter quarter,
                                                        const Freeze& freeze);

  // The given revision, or the latest when `revision` is 0; nullopt if there is none.
  [[nodiscard]] absl::StatusOr<std::optional<PublicationInfo>> Find(core::Quarter quarter,
                                                                    int revision);

  // The frozen figures of a revision, by region number (only `region` when set), municipalities
  // in publication order.
  [[nodiscard]] absl::StatusOr<std::vector<core::RegionFigures>> Figures(core::Quarter quarter,
                                                                         int revision,
                                                                         std::optional<int> region);

 private:
  PgConnection& primary_;
};

}  // namespace sonar::storage
