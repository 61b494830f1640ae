// The real-time class for sonar-query (service/scheduling.h).
#include "service/scheduling.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>
#include <thread>

namespace sonar::service {
namespace {

int Tid() { return static_cast<int>(syscall(SYS_gettid)); }

// The class of a thread started by the calling thread, as the kernel reports it.
std::string ClassOfANewThread() {
  std::string policy;
  std::thread([&] { policy = ThreadPolicyName(getpid(), Tid()); }).join();
  return policy;
}

TEST(Scheduling, PriorityOutsideOneTo99IsRefusedAndChangesNothing) {
  std::thread([] {
    for (const int priority : {0, -1, 100}) {
      const absl::Status status = UseRealtimePriority(priority);
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << priority;
      EXPECT_NE(status.message().find(std::to_string(priority)), absl::string_view::npos);
      EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
    }
  }).join();
}

TEST(Scheduling, ThreadsStartedAfterTheSwitchInheritTheClass) {
  std::thread([] {
    EXPECT_EQ(ClassOfANewThread(), "SCHED_OTHER");
    const absl::Status status = UseRealtimePriority(1);
    if (status.code() == absl::StatusCode::kPermissionDenied) {
      GTEST_SKIP() << "this process may not use SCHED_RR (no CAP_SYS_NICE or RLIMIT_RTPRIO)";
    }
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(sched_getscheduler(0), SCHED_RR);
    EXPECT_EQ(ThreadPolicyName(getpid(), Tid()), "SCHED_RR");
    EXPECT_EQ(ClassOfANewThread(), "SCHED_RR");
  }).join();
  // The test's own thread was never switched.
  EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
}

TEST(Scheduling, WithoutThePrivilegeTheReasonSaysWhatIsMissing) {
  // In a child process: no real-time budget, and no root (whose CAP_SYS_NICE would allow it).
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const rlimit none{0, 0};
    if (setrlimit(RLIMIT_RTPRIO, &none) != 0) _exit(10);
    if (geteuid() == 0 && setuid(65534) != 0) _exit(11);
    const absl::Status status = UseRealtimePriority(1);
    if (status.ok()) _exit(20);  // a capability of its own (e.g. a file capability): cannot test
    if (status.code() != absl::StatusCode::kPermissionDenied) _exit(12);
    if (status.message().find("CAP_SYS_NICE") == absl::string_view::npos) _exit(13);
    if (status.message().find("RLIMIT_RTPRIO") == absl::string_view::npos) _exit(14);
    _exit(sched_getscheduler(0) == SCHED_OTHER ? 0 : 15);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  if (WEXITSTATUS(wstatus) == 20) GTEST_SKIP() << "the test holds CAP_SYS_NICE without root";
  EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "10: setrlimit, 11: setuid, 12: not PermissionDenied, "
                                        "13/14: reason incomplete, 15: class changed";
}

TEST(Scheduling, AThreadThatDoesNotExistHasNoClass) {
  EXPECT_EQ(ThreadPolicyName(getpid(), Tid()), "SCHED_OTHER");
  EXPECT_EQ(ThreadPolicyName(getpid(), 0x3fffffff), "");
  EXPECT_TRUE(ThreadsByPolicy(0x3fffffff).empty());
}

TEST(Scheduling, ThreadsAreCountedByClass) {
  const std::map<std::string, int> before = ThreadsByPolicy(getpid());
  std::thread([&] {
    if (!UseRealtimePriority(1).ok()) GTEST_SKIP() << "this process may not use SCHED_RR";
    const std::map<std::string, int> now = ThreadsByPolicy(getpid());
    EXPECT_EQ(now.at("SCHED_RR"), 1);
    EXPECT_EQ(now.at("SCHED_OTHER"), before.at("SCHED_OTHER"));  // the others, as before
  }).join();
}

}  // namespace
}  // namespace sonar::service
