#include "ingest/ingest_pipeline.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "ingest/event_key.h"

namespace sonar::ingest {
namespace {

constexpr uint32_t kNoWorker = ~uint32_t{0};

}  // namespace

IngestPipeline::IngestPipeline(StoreFactory factory, const core::ReferenceData& reference,
                               Clock clock, PipelineOptions options)
    : reference_(reference),
      factory_(std::move(factory)),
      clock_(std::move(clock)),
      options_(options) {
  const int workers = std::max(options_.workers, 1);
  for (int w = 0; w < workers; ++w) workers_.push_back(std::make_unique<Worker>());
  for (int w = 0; w < workers; ++w) threads_.emplace_back([this, w] { RunWorker(w); });
}

IngestPipeline::~IngestPipeline() { Shutdown(); }

// A person's events go to the worker given by a hash of their client_ref. The ref is hashed as
// sent: the pseudonym is a function of it, so this partitions pseudonymised persons alike,
// without computing a MAC on the caller's thread. Repeats of a (source, event_id) key follow its
// first occurrence; events that could not be decoded join the first part.
std::vector<uint32_t> IngestPipeline::WorkerOf(const std::vector<IncomingEvent>& events) const {
  const size_t n = workers_.size();
  std::vector<uint32_t> out(events.size(), 0);
  if (n <= 1) return out;
  absl::flat_hash_map<EventKey, uint32_t, EventKeyHash> by_key;
  by_key.reserve(events.size());
  uint32_t first_worker = kNoWorker;
  for (size_t i = 0; i < events.size(); ++i) {
    if (!events[i].event) {
      out[i] = kNoWorker;
      continue;
    }
    const core::Event& e = *events[i].event;
    const auto worker = static_cast<uint32_t>(std::hash<std::string_view>()(e.client_ref) % n);
    out[i] = by_key.try_emplace(EventKey{e.source, e.event_id}, worker).first->second;
    if (first_worker == kNoWorker) first_worker = out[i];
  }
  if (first_worker == kNoWorker) first_worker = 0;
  for (uint32_t& w : out) {
    if (w == kNoWorker) w = first_worker;
  }
  return out;
}

bool IngestPipeline::Submit(std::vector<IncomingEvent> events, BatchMeta meta, PayloadOf payload_of,
                            Done done) {
  auto batch = std::make_shared<Batch>();
  batch->meta = std::move(meta);
  batch->payload_of = std::move(payload_of);
  batch->done = std::move(done);

  std::vector<std::pair<uint32_t, Job>> jobs;  // (worker, part)
  const std::vector<uint32_t> worker_of = WorkerOf(events);
  if (std::all_of(worker_of.begin(), worker_of.end(),
                  [&](uint32_t w) { return w == worker_of.front(); })) {
    // One part: the request as it is (an empty request_index means positions are unchanged).
    jobs.emplace_back(worker_of.empty() ? 0 : worker_of.front(), Job{});
    jobs.back().second.events = std::move(events);
  } else {
    std::vector<Job> by_worker(workers_.size());
    for (size_t i = 0; i < events.size(); ++i) {
      Job& job = by_worker[worker_of[i]];
      job.events.push_back(std::move(events[i]));
      job.request_index.push_back(static_cast<uint32_t>(i));
    }
    for (uint32_t w = 0; w < by_worker.size(); ++w) {
      if (!by_worker[w].events.empty()) jobs.emplace_back(w, std::move(by_worker[w]));
    }
  }
  const auto parts = static_cast<uint32_t>(jobs.size());
  batch->meta.parts = parts;
  batch->parts_unstarted = batch->parts_pending = static_cast<int>(parts);
  for (uint32_t p = 0; p < parts; ++p) {
    jobs[p].second.batch = batch;
    jobs[p].second.part = p;
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queued_batches_ >= options_.queue_capacity) return false;
    ++queued_batches_;
    for (auto& [w, job] : jobs) workers_[w]->queue.push_back(std::move(job));
  }
  for (const auto& entry : jobs) workers_[entry.first]->cv.notify_one();
  return true;
}

void IngestPipeline::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  for (const auto& worker : workers_) worker->cv.notify_all();
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
  s.parts_retried = parts_retried_.load();
  s.parts_committed = parts_committed_.load();
  s.transactions_committed = transactions_committed_.load();
  std::lock_guard lock(mu_);
  s.queued = queued_batches_;
  return s;
}

void IngestPipeline::RunWorker(int worker) {
  std::unique_ptr<BatchStore> store = factory_(worker);
  BatchProcessor processor(*store, reference_, options_.max_attempts, options_.pseudonymizer);
  Worker& self = *workers_[worker];
  bool counted_healthy = false;
  auto set_healthy = [&](bool healthy) {
    if (healthy != counted_healthy) {
      healthy_workers_ += healthy ? 1 : -1;
      counted_healthy = healthy;
    }
  };
  set_healthy(store->Healthy());
  // The job's part, ready for the processor.
  auto part_of = [](Job& job) {
    GroupPart part;
    part.events = std::move(job.events);
    part.meta = job.batch->meta;
    part.meta.part = job.part;
    part.payload_of = job.batch->payload_of;
    part.request_index = std::move(job.request_index);
    return part;
  };
  // After a group fails for a reason of its own (not an outage), the next parts are committed one
  // at a time, so that a part that cannot be committed (a resend of one of that group's) fails
  // alone, not with its neighbours again.
  size_t alone_after_failure = 0;
  while (true) {
    // The first queued part, and those queued behind it while the group stays within
    // max_group_events (a larger part is committed alone).
    std::vector<Job> group;
    {
      std::unique_lock lock(mu_);
      self.cv.wait(lock, [&] { return stopping_ || !self.queue.empty(); });
      if (self.queue.empty()) break;  // stopping, and everything queued here is done
      size_t events = 0;
      do {
        events += self.queue.front().events.size();
        group.push_back(std::move(self.queue.front()));
        self.queue.pop_front();
        if (--group.back().batch->parts_unstarted == 0) --queued_batches_;
      } while (alone_after_failure == 0 && !self.queue.empty() &&
               events + self.queue.front().events.size() <= options_.max_group_events);
      if (alone_after_failure > 0) --alone_after_failure;
    }
    // Parts of a batch that failed already are not committed: the batch is not acknowledged.
    std::vector<Job> live;
    for (Job& job : group) {
      bool failed_already;
      {
        std::lock_guard lock(job.batch->mu);
        failed_already = !job.batch->failure.ok();
      }
      if (failed_already) {
        FinishPart(job, absl::AbortedError("another part of the batch failed"));
      } else {
        live.push_back(std::move(job));
      }
    }
    if (live.size() > 1) {
      std::vector<GroupPart> parts;
      parts.reserve(live.size());
      for (Job& job : live) parts.push_back(part_of(job));
      auto results = processor.ProcessGroup(std::move(parts), clock_());
      set_healthy(store->Healthy());
      if (results.ok()) CountCommitted(live.size());
      for (size_t i = 0; i < live.size(); ++i) {
        if (results.ok()) {
          FinishPart(live[i], std::move((*results)[i]));
        } else {
          FinishPart(live[i], results.status());
        }
      }
      // Not after an outage or contention (UNAVAILABLE, ABORTED): those are no part's fault.
      if (!results.ok() && !absl::IsUnavailable(results.status()) &&
          !absl::IsAborted(results.status())) {
        alone_after_failure = options_.queue_capacity;
      }
      continue;
    }
    for (Job& job : live) {
      BatchMeta meta = job.batch->meta;
      meta.part = job.part;
      auto result = processor.Process(std::move(job.events), meta, clock_(), job.batch->payload_of,
                                      job.request_index);
      set_healthy(store->Healthy());
      if (result.ok()) CountCommitted(1);
      FinishPart(job, std::move(result));
    }
  }
  set_healthy(false);
}

void IngestPipeline::CountCommitted(size_t parts) {
  parts_committed_ += parts;
  ++transactions_committed_;
}

void IngestPipeline::FinishPart(Job& job, absl::StatusOr<BatchResult> result) {
  Batch& batch = *job.batch;
  {
    std::lock_guard lock(batch.mu);
    if (!result.ok()) {
      if (batch.failure.ok()) batch.failure = result.status();
    } else {
      if (result->attempts > 1) ++parts_retried_;
      BatchResult& m = batch.merged;
      m.accepted += result->accepted;
      m.duplicates += result->duplicates;
      m.rejections.insert(m.rejections.end(), std::make_move_iterator(result->rejections.begin()),
                          std::make_move_iterator(result->rejections.end()));
      m.position = std::max(m.position, result->position);
      m.attempts = std::max(m.attempts, result->attempts);
    }
    if (--batch.parts_pending > 0) return;
  }
  // The last part: no other thread refers to the batch's results any more.
  if (!batch.failure.ok()) {
    ++batches_failed_;
    batch.done(batch.failure);
    return;
  }
  BatchResult& merged = batch.merged;
  std::sort(merged.rejections.begin(), merged.rejections.end(),
            [](const EventRejection& a, const EventRejection& b) { return a.index < b.index; });
  ++batches_committed_;
  events_accepted_ += merged.accepted;
  events_duplicate_ += merged.duplicates;
  events_rejected_ += merged.rejections.size();
  batch.done(std::move(merged));
}

}  // namespace sonar::ingest
