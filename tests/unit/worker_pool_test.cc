#include "service/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>

namespace sonar::service {
namespace {

struct Nothing {};

// Jobs queued by SubmitAlways (a watcher's read) do not use up Submit's capacity (the unary
// calls'): watchers cannot crowd calls out of the queue.
TEST(WorkerPool, JobsQueuedAlwaysDoNotCountAgainstTheCapacity) {
  WorkerPool<Nothing> pool(
      1, [](int) { return std::make_unique<Nothing>(); }, 1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  ASSERT_TRUE(pool.Submit([&](Nothing&) {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();  // the worker is busy; nothing waits
  std::atomic<int> ran{0};
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(pool.SubmitAlways([&](Nothing&) { ++ran; }));
  EXPECT_TRUE(pool.Submit([&](Nothing&) { ++ran; }));   // the one place for calls
  EXPECT_FALSE(pool.Submit([&](Nothing&) { ++ran; }));  // full
  EXPECT_TRUE(pool.SubmitAlways([&](Nothing&) { ++ran; }));
  EXPECT_FALSE(pool.Stopping());
  release.set_value();
  pool.Shutdown();  // runs what is queued
  EXPECT_EQ(ran.load(), 7);
  EXPECT_TRUE(pool.Stopping());
  EXPECT_FALSE(pool.Submit([](Nothing&) {}));
  EXPECT_FALSE(pool.SubmitAlways([](Nothing&) {}));
}

}  // namespace
}  // namespace sonar::service
