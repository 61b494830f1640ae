#include "service/health_probe.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace sonar::service {
namespace {

using namespace std::chrono_literals;

// A check whose result the test sets, and which can be made to hang until released.
struct FakeCheck {
  std::mutex mu;
  std::condition_variable cv;
  bool ok = true;
  bool hang = false;
  std::atomic<int> calls{0};

  bool Run() {
    ++calls;
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !hang; });
    return ok;
  }
  void Set(bool new_ok, bool new_hang) {
    {
      std::lock_guard lock(mu);
      ok = new_ok;
      hang = new_hang;
    }
    cv.notify_all();
  }
};

bool BecomesWithin(const HealthProbe& probe, bool healthy, std::chrono::milliseconds limit) {
  for (const auto until = std::chrono::steady_clock::now() + limit;
       std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(5ms)) {
    if (probe.Healthy() == healthy) return true;
  }
  return probe.Healthy() == healthy;
}

TEST(HealthProbe, FollowsTheCheck) {
  auto check = std::make_shared<FakeCheck>();
  HealthProbe probe([check] { return check->Run(); }, 20ms, 1s);
  EXPECT_TRUE(probe.Healthy());  // the first check ran in the constructor
  check->Set(false, false);
  EXPECT_TRUE(BecomesWithin(probe, false, 2s));
  check->Set(true, false);
  EXPECT_TRUE(BecomesWithin(probe, true, 2s));
  EXPECT_GE(check->calls.load(), 3);
}

// A check that hangs (a database host that stopped answering) reads as unhealthy once its last
// answer is stale, and does not hold up the probe's destruction (the shutdown).
TEST(HealthProbe, AHangingCheckIsUnhealthyAndDoesNotBlockShutdown) {
  auto check = std::make_shared<FakeCheck>();
  auto probe = std::make_unique<HealthProbe>([check] { return check->Run(); }, 20ms, 300ms);
  EXPECT_TRUE(probe->Healthy());
  check->Set(true, true);
  EXPECT_TRUE(BecomesWithin(*probe, false, 3s));
  const auto before = std::chrono::steady_clock::now();
  probe.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 3s);
  check->Set(true, false);  // the detached check ends; it owns what it uses
  std::this_thread::sleep_for(50ms);
}

}  // namespace
}  // namespace sonar::service
