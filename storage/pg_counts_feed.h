// The query service's in-memory read model of the counters (core::CountsModel), kept current
// from the database's change feed:
//   - on (re)connect: LISTEN sonar_counts and sonar_publications, then load a snapshot of
//     quarter_deltas_all and live_counts_all (folded and unfolded deltas) in one REPEATABLE READ
//     transaction, with the seqs of the count_changes rows it already contains;
//   - every committed ingest batch NOTIFYs its seq (in commit order); the feed fetches those
//     batches' count_changes rows and adds their deltas, skipping batches the snapshot contains;
//   - a notified batch whose row is gone (pruned: the feed fell minutes behind) forces a reload.
// Readers see the counters as of the last notification processed: they lag a commit by the
// notification latency (about a millisecond on one host). Sync() closes that gap when a caller
// needs every commit made before its call (read-your-writes).
// Runs on its own thread with its own connection to the primary; reconnects with backoff.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/status/status.h"
#include "core/counts_model.h"
#include "storage/pg_connection.h"

namespace sonar::storage {

class PgCountsFeed final {
 public:
  struct Stats {
    uint64_t reloads = 0;          // snapshots loaded (connects and forced reloads)
    uint64_t forced_reloads = 0;   // reloads because a notified change was no longer stored
    uint64_t batches_applied = 0;  // change rows applied
    uint64_t ignored = 0;          // notifications with a payload not understood
    double last_reload_ms = 0;     // how long the last snapshot took to load
  };

  explicit PgCountsFeed(std::string database_url);
  ~PgCountsFeed();  // Stop()
  PgCountsFeed(const PgCountsFeed&) = delete;
  PgCountsFeed& operator=(const PgCountsFeed&) = delete;

  // Starts the feed's thread (once). `on_change` runs on it after changes were applied, after
  // every reload and when the feed loses its connection; it must not block.
  void Start(std::function<void()> on_change);
  void Stop();

  // Runs `read` on the model under a shared lock and returns true, or returns false without
  // running it when the feed has no current model (not connected, or still loading).
  bool Read(const std::function<void(const core::CountsModel&)>& read) const;

  [[nodiscard]] bool ready() const;
  [[nodiscard]] bool connected() const { return connected_.load(); }
  // Changes on every reload and every publication notification; a cached "latest revision of a
  // quarter" is valid while it is unchanged and the feed is ready.
  [[nodiscard]] uint64_t publication_epoch() const;
  [[nodiscard]] Stats stats() const;

  // Returns OK once everything committed before the call (batches and publications) is in the
  // model: sends a marker NOTIFY through `primary` (a connection to the database the feed
  // listens on) and waits until the feed has processed it. UNAVAILABLE when the feed is not
  // ready, the marker cannot be sent, or `timeout` passes: read from the database instead.
  [[nodiscard]] absl::Status Sync(PgConnection& primary, std::chrono::milliseconds timeout);

 private:
  struct Pending {
    enum class Kind { kBatch, kPublication, kSync } kind;
    int64_t value;  // batch seq, or sync token
  };
  friend class FeedReceiver;

  void Run();
  void OnNotification(const std::string& channel, const std::string& payload);
  void Reload(pqxx::connection& conn, bool forced);
  // Applies pending notifications in order; false when a reload is needed.
  bool ApplyPending(pqxx::connection& conn);
  void MarkSyncsDone(const std::vector<int64_t>& tokens);

  const std::string url_;
  std::function<void()> on_change_;
  const std::string feed_id_;  // distinguishes this process's sync markers

  // Feed thread only.
  std::vector<Pending> pending_;
  std::unordered_set<int64_t> snapshot_seqs_;

  mutable std::shared_mutex mu_;
  std::condition_variable_any synced_;
  core::CountsModel model_;
  bool ready_ = false;
  uint64_t epoch_ = 0;
  uint64_t reloads_started_ = 0;   // reloads whose snapshot began
  uint64_t installed_reload_ = 0;  // the reloads_started_ value of the installed snapshot
  std::set<int64_t> waiting_, done_;
  Stats stats_;

  std::atomic<int64_t> next_token_{1};
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

}  // namespace sonar::storage
