// A fixed pool of workers, each with its own BatchStore (one database connection), that commits
// queued batches. Bounded: Submit refuses work once `queue_capacity` batches wait, so memory
// stays bounded whatever producers do; streams keep a few batches in flight each on top of that.
//
// Persons are partitioned across the workers by a hash of their client_ref: a batch is split
// into one part per worker that has events for it, each part is committed by that worker, and
// `done` runs once, after every part has committed (results merged, rejections in request order)
// or once one has failed (then the batch must not be acknowledged; parts that did commit make a
// resend count their events as duplicates). So two transactions of one process never touch the
// same person and never wait for each other's row locks on `clients`. All occurrences of one
// (source, event_id) key in a batch go to the part of its first occurrence, so in-batch
// duplicates and conflicts are decided exactly as for an unsplit batch.
//
// A worker commits the parts queued for it together, in one transaction, while they hold at most
// `max_group_events` events (BatchProcessor::ProcessGroup: each part's outcome is what it would
// have been committed alone, after the ones before it). It takes only what is queued already, so
// it never waits to fill a group. A group is all or nothing: when it fails, each of its batches
// gets the error, and unless the failure was an outage or contention (UNAVAILABLE, ABORTED) the
// worker commits the next `queue_capacity` parts one at a time, so that a resent part that
// cannot be committed fails alone.
//
// Thread-safe. Completion callbacks run on a worker thread and must not block.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "core/reference_data.h"
#include "ingest/batch_processor.h"
#include "ingest/batch_store.h"

namespace sonar::ingest {

struct PipelineOptions {
  int workers = 2;
  size_t queue_capacity = 256;
  int max_attempts = 5;
  // A worker commits the parts queued for it together, in one transaction (a group), while
  // their events number at most this many; 0: one part per transaction. Fewer commits per event:
  // each commit waits for its WAL flush (BENCHMARKS.md, session 12).
  size_t max_group_events = 0;
  // Replaces client refs by keyed pseudonyms before storage; not owned; may be null.
  const Pseudonymizer* pseudonymizer = nullptr;
};

// Totals since start, for throughput logs.
struct PipelineStats {
  uint64_t batches_committed = 0;
  uint64_t batches_failed = 0;
  uint64_t events_accepted = 0;
  uint64_t events_duplicate = 0;
  uint64_t events_rejected = 0;
  // Committed parts that took more than one attempt: the optimistic attempt found a person or
  // key changed by another transaction (another ingest process), or locks contended.
  uint64_t parts_retried = 0;
  // Committed parts, and the transactions that committed them: a worker commits the parts queued
  // for it as one transaction (PipelineOptions::max_group_events), so parts per transaction shows
  // how full the groups are.
  uint64_t parts_committed = 0;
  uint64_t transactions_committed = 0;
  size_t queued = 0;
};

class IngestPipeline final {
 public:
  using StoreFactory = std::function<std::unique_ptr<BatchStore>(int worker)>;
  using Clock = std::function<core::Instant()>;
  using Done = std::function<void(absl::StatusOr<BatchResult>)>;

  IngestPipeline(StoreFactory factory, const core::ReferenceData& reference, Clock clock,
                 PipelineOptions options);
  ~IngestPipeline();  // Shutdown()
  IngestPipeline(const IngestPipeline&) = delete;
  IngestPipeline& operator=(const IngestPipeline&) = delete;

  // Queues a batch; `done` runs once with its outcome. False (and `done` never runs) when the
  // queue is full or the pipeline is shutting down. Batches complete in any order.
  [[nodiscard]] bool Submit(std::vector<IncomingEvent> events, BatchMeta meta, PayloadOf payload_of,
                            Done done);

  // Commits everything already queued, then stops the workers. Idempotent.
  void Shutdown();

  // True if at least one worker's last database interaction succeeded.
  [[nodiscard]] bool Healthy() const;
  [[nodiscard]] PipelineStats Stats() const;

 private:
  // A submitted batch, shared by its parts.
  struct Batch {
    BatchMeta meta;
    PayloadOf payload_of;
    Done done;
    int parts_unstarted = 0;  // guarded by the pipeline's mu_
    std::mutex mu;            // guards the rest
    int parts_pending = 0;
    absl::Status failure;
    BatchResult merged;
  };
  // One worker's share of a batch.
  struct Job {
    std::shared_ptr<Batch> batch;
    uint32_t part = 0;
    std::vector<IncomingEvent> events;
    std::vector<uint32_t> request_index;  // position of each event in the request
  };
  struct Worker {
    std::deque<Job> queue;
    std::condition_variable cv;
  };

  // The worker for each event of a batch (see the class comment).
  [[nodiscard]] std::vector<uint32_t> WorkerOf(const std::vector<IncomingEvent>& events) const;
  void RunWorker(int worker);
  void FinishPart(Job& job, absl::StatusOr<BatchResult> result);
  // One transaction committed `parts` parts (for Stats).
  void CountCommitted(size_t parts);

  const core::ReferenceData& reference_;
  StoreFactory factory_;
  Clock clock_;
  PipelineOptions options_;

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Worker>> workers_;  // the vector itself is fixed after construction
  size_t queued_batches_ = 0;                     // batches with a part not yet started
  bool stopping_ = false;
  std::vector<std::thread> threads_;

  std::atomic<int> healthy_workers_{0};
  std::atomic<uint64_t> batches_committed_{0}, batches_failed_{0};
  std::atomic<uint64_t> events_accepted_{0}, events_duplicate_{0}, events_rejected_{0};
  std::atomic<uint64_t> parts_retried_{0}, parts_committed_{0}, transactions_committed_{0};
};

}  // namespace sonar::ingest
