#include "service/counter_fold_loop.h"

#include <gtest/gtest.h>

#include <vector>

namespace sonar::service {
namespace {

using std::chrono::milliseconds;

TEST(FoldRetryWait, DoublesFromTheIntervalUpToTenSeconds) {
  const milliseconds interval{1000};
  milliseconds wait{0};
  std::vector<int64_t> waits;
  for (int i = 0; i < 7; ++i) {
    wait = FoldRetryWait(wait, interval);
    waits.push_back(wait.count());
  }
  EXPECT_EQ(waits, (std::vector<int64_t>{1000, 2000, 4000, 8000, 10000, 10000, 10000}));
}

// A full chunk makes the loop fold on at once (a wait of 0); a failure after it must not double
// that 0 (the loop then spun against a restarting database, logging a failure each time).
TEST(FoldRetryWait, NeverZeroEvenWithAZeroInterval) {
  EXPECT_EQ(FoldRetryWait(milliseconds(0), milliseconds(0)), milliseconds(100));
  EXPECT_EQ(FoldRetryWait(milliseconds(0), milliseconds(10)), milliseconds(100));
  EXPECT_EQ(FoldRetryWait(milliseconds(100), milliseconds(10)), milliseconds(200));
  EXPECT_EQ(FoldRetryWait(milliseconds(0), milliseconds(60'000)), milliseconds(10'000));
}

}  // namespace
}  // namespace sonar::service
