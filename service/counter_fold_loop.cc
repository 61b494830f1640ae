#include "service/counter_fold_loop.h"

#include <algorithm>

#include "service/json_log.h"
#include "storage/pg_counter_folder.h"

namespace sonar::service {
namespace {

// Change-feed rows older than this (and folded) are deleted; checked every kPruneEvery.
constexpr std::chrono::seconds kChangeRetention{600};
constexpr std::chrono::seconds kPruneEvery{60};

}  // namespace

std::chrono::milliseconds FoldRetryWait(std::chrono::milliseconds previous,
                                        std::chrono::milliseconds interval) {
  const std::chrono::milliseconds kMax{10'000};
  const std::chrono::milliseconds floor =
      std::min(std::max(interval, std::chrono::milliseconds(100)), kMax);
  return std::clamp(previous * 2, floor, kMax);
}

CounterFoldLoop::CounterFoldLoop(std::string database_url, std::chrono::milliseconds interval)
    : url_(std::move(database_url)), interval_(interval) {}

CounterFoldLoop::~CounterFoldLoop() { Stop(); }

void CounterFoldLoop::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void CounterFoldLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

FoldStats CounterFoldLoop::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void CounterFoldLoop::Run() {
  storage::PgCounterFolder folder(url_);
  auto wait = interval_;
  std::chrono::milliseconds failure_wait{0};  // after the last failure; 0 after a fold
  auto last_prune = std::chrono::steady_clock::now();
  for (bool last = false; !last;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, wait, [&] { return stop_; });
      last = stop_;
    }
    auto folded = folder.FoldOnce();
    if (!folded.ok()) {
      {
        std::lock_guard lock(mu_);
        ++stats_.failures;
      }
      LogLine("counter_fold_failed")
          .Add("code", static_cast<int>(folded.status().code()))
          .Add("error", std::string(folded.status().message()))
          .Warn();
      // While the database is away, try less often. Not from `wait`: after a full chunk it is 0,
      // and doubling 0 spun against a restarting database.
      failure_wait = FoldRetryWait(failure_wait, interval_);
      wait = failure_wait;
      continue;
    }
    failure_wait = std::chrono::milliseconds(0);
    // A full chunk: there may be more waiting (after a pause in folding); fold on at once.
    wait = folded->batches >= storage::PgCounterFolder::kMaxBatchesPerFold
               ? std::chrono::milliseconds(0)
               : interval_;
    {
      std::lock_guard lock(mu_);
      if (!folded->skipped) ++stats_.folds;
      stats_.folded_batches += static_cast<uint64_t>(folded->batches);
    }
    if (last || std::chrono::steady_clock::now() - last_prune < kPruneEvery) continue;
    last_prune = std::chrono::steady_clock::now();
    auto pruned = folder.Prune(kChangeRetention);
    if (!pruned.ok()) {
      LogLine("change_prune_failed")
          .Add("code", static_cast<int>(pruned.status().code()))
          .Add("error", std::string(pruned.status().message()))
          .Warn();
      continue;
    }
    std::lock_guard lock(mu_);
    stats_.pruned += static_cast<uint64_t>(*pruned);
  }
}

}  // namespace sonar::service
