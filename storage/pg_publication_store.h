// Published quarters and their revisions. Not thread-safe: one store per worker thread; it uses
// (does not own) its worker's connections.
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
  // Reads use `read` (may be a replica); Publish uses `write` (the primary).
  PgPublicationStore(PgConnection& read, PgConnection& write);

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
  PgConnection& read_;
  PgConnection& write_;
};

}  // namespace sonar::storage
