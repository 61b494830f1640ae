// sonar-ingest's counter folder: a thread that folds the batches' insert-only counter deltas into
// the counter tables every interval (storage::PgCounterFolder), prunes old change-feed rows now
// and then, and logs failures. Correctness does not depend on it (readers add what is not folded
// yet); it keeps the unfolded rows, and so the cost of reading the counters from the database,
// small.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace sonar::service {

struct FoldStats {
  uint64_t folds = 0;           // folds that committed (including empty ones)
  uint64_t folded_batches = 0;  // count_changes rows folded
  uint64_t failures = 0;
  uint64_t pruned = 0;  // count_changes rows deleted
};

// The wait after a failed fold, given the wait after the previous failure (0 after a fold that
// worked): twice that, at least the interval (and 100 ms), at most 10 s. The deltas wait safely,
// unfolded, while the database is away; this keeps the loop from spinning against it.
[[nodiscard]] std::chrono::milliseconds FoldRetryWait(std::chrono::milliseconds previous,
                                                      std::chrono::milliseconds interval);

class CounterFoldLoop final {
 public:
  CounterFoldLoop(std::string database_url, std::chrono::milliseconds interval);
  ~CounterFoldLoop();
  CounterFoldLoop(const CounterFoldLoop&) = delete;
  CounterFoldLoop& operator=(const CounterFoldLoop&) = delete;

  void Start();
  // Stops the thread after one last fold (what the drained pipeline committed).
  void Stop();
  [[nodiscard]] FoldStats Stats() const;

 private:
  void Run();

  const std::string url_;
  const std::chrono::milliseconds interval_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  FoldStats stats_;
};

}  // namespace sonar::service
