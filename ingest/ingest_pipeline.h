// A fixed pool of workers, each with its own BatchStore (one database connection), that commits
// queued batches. Bounded: Submit refuses work once `queue_capacity` batches wait, so memory
// stays bounded whatever producers do; streams keep a few batches in flight each on top of that.
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
  // queue is full or the pipeline is shutting down.
  [[nodiscard]] bool Submit(std::vector<IncomingEvent> events, BatchMeta meta, PayloadOf payload_of,
                            Done done);

  // Commits everything already queued, then stops the workers. Idempotent.
  void Shutdown();

  // True if at least one worker's last database interaction succeeded.
  [[nodiscard]] bool Healthy() const;
  [[nodiscard]] PipelineStats Stats() const;

 private:
  struct Job {
    std::vector<IncomingEvent> events;
    BatchMeta meta;
    PayloadOf payload_of;
    Done done;
  };

  void RunWorker(int worker);

  const core::ReferenceData& reference_;
  StoreFactory factory_;
  Clock clock_;
  PipelineOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;

  std::atomic<int> healthy_workers_{0};
  std::atomic<uint64_t> batches_committed_{0}, batches_failed_{0};
  std::atomic<uint64_t> events_accepted_{0}, events_duplicate_{0}, events_rejected_{0};
};

}  // namespace sonar::ingest
