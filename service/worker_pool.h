// A fixed set of threads, each owning one Resource (e.g. a database reader), running submitted
// jobs in order. Used where gRPC callbacks must not block: the callback submits, a worker does the
// blocking work and finishes the RPC. Bounded: Submit refuses once `capacity` of its jobs wait;
// SubmitAlways does not (and its jobs do not count), for jobs whose number is bounded otherwise.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sonar::service {

template <typename Resource>
class WorkerPool final {
 public:
  using Job = std::function<void(Resource&)>;

  WorkerPool(int workers, std::function<std::unique_ptr<Resource>(int)> make, size_t capacity)
      : capacity_(capacity) {
    for (int w = 0; w < workers; ++w) {
      threads_.emplace_back([this, resource = make(w)] { Run(*resource); });
    }
  }
  ~WorkerPool() { Shutdown(); }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `job`; false when `capacity` jobs queued by Submit wait already, or after Shutdown.
  [[nodiscard]] bool Submit(Job job) { return Enqueue(std::move(job), true); }

  // Queues `job` however many wait; false only after Shutdown. For jobs that must not be lost to
  // a full queue and whose number the caller bounds (e.g. at most one per open stream); they do
  // not count against Submit's capacity, so they cannot crowd bounded jobs out.
  [[nodiscard]] bool SubmitAlways(Job job) { return Enqueue(std::move(job), false); }

  // True once Shutdown began: a refused job was refused for that, not for a full queue.
  [[nodiscard]] bool Stopping() const {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  // Runs what is queued, then joins. Idempotent.
  void Shutdown() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  bool Enqueue(Job job, bool bounded) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ || (bounded && bounded_waiting_ >= capacity_)) return false;
      jobs_.push_back({std::move(job), bounded});
      if (bounded) ++bounded_waiting_;
    }
    cv_.notify_one();
    return true;
  }

  void Run(Resource& resource) {
    while (true) {
      Job job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front().job);
        if (jobs_.front().bounded) --bounded_waiting_;
        jobs_.pop_front();
      }
      job(resource);
    }
  }

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Queued {
    Job job;
    bool bounded = true;
  };
  std::deque<Queued> jobs_;
  size_t bounded_waiting_ = 0;  // of jobs_, those queued by Submit
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace sonar::service
