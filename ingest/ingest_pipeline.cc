#include "ingest/ingest_pipeline.h"

namespace sonar::ingest {

IngestPipeline::IngestPipeline(StoreFactory factory, const core::ReferenceData& reference,
                               Clock clock, PipelineOptions options)
    : reference_(reference),
      factory_(std::move(factory)),
      clock_(std::move(clock)),
      options_(options) {
  for (int w = 0; w < options_.workers; ++w) threads_.emplace_back([this, w] { RunWorker(w); });
}

IngestPipeline::~IngestPipeline() { Shutdown(); }

bool IngestPipeline::Submit(std::vector<IncomingEvent> events, BatchMeta meta, PayloadOf payload_of,
                            Done done) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) return false;
    queue_.push_back({std::move(events), std::move(meta), std::move(payload_of), std::move(done)});
  }
  cv_.notify_one();
  return true;
}

void IngestPipeline::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  std::lock_guard lock(mu_);
  threads_.clear();
}

bool IngestPipeline::Healthy() const { return healthy_workers_.load() > 0; }

PipelineStats IngestPipeline::Stats() const {
  PipelineStats s;
  s.batches_committed = batches_committed_.load();
  s.batches_failed = batches_failed_.load();
  s.events_accepted = events_accepted_.load();
  s.events_duplicate = events_duplicate_.load();
  s.events_rejected = events_rejected_.load();
  std::lock_guard lock(mu_);
  s.queued = queue_.size();
  return s;
}

void IngestPipeline::RunWorker(int worker) {
  std::unique_ptr<BatchStore> store = factory_(worker);
  BatchProcessor processor(*store, reference_, options_.max_attempts, options_.pseudonymizer);
  bool counted_healthy = false;
  auto set_healthy = [&](bool healthy) {
    if (healthy != counted_healthy) {
      healthy_workers_ += healthy ? 1 : -1;
      counted_healthy = healthy;
    }
  };
  set_healthy(store->Healthy());
  while (true) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping, and everything queued is done
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    auto result = processor.Process(job.events, job.meta, clock_(), job.payload_of);
    if (result.ok()) {
      ++batches_committed_;
      events_accepted_ += result->accepted;
      events_duplicate_ += result->duplicates;
      events_rejected_ += result->rejections.size();
    } else {
      ++batches_failed_;
    }
    set_healthy(store->Healthy());
    job.done(std::move(result));
  }
  set_healthy(false);
}

}  // namespace sonar::ingest
