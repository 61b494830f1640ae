// The CPU scheduling class of a latency-sensitive service (sonar-query) where it shares cores
// with CPU-bound work (sonar-ingest, PostgreSQL): see docs/scaling.md, "Query latency on shared
// cores".
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"

namespace sonar::service {

inline constexpr int kMaxRealtimePriority = 99;

// Puts the calling thread in the round-robin real-time class (SCHED_RR) at `priority`
// (1..99). Threads it creates afterwards inherit the class; threads created before keep theirs.
// InvalidArgument outside 1..99; PermissionDenied without CAP_SYS_NICE or an RLIMIT_RTPRIO of at
// least `priority` (or, with real-time group scheduling, without a real-time budget for the
// process's cgroup).
[[nodiscard]] absl::Status UseRealtimePriority(int priority);

// The scheduling class of one thread of a process ("SCHED_OTHER", "SCHED_RR", ...), read from
// /proc/<pid>/task/<tid>/stat; empty if the thread is gone.
[[nodiscard]] std::string ThreadPolicyName(int pid, int tid);

// How many of a process's threads are in each class, e.g. {"SCHED_RR": 14}; threads that end
// while they are counted are left out.
[[nodiscard]] std::map<std::string, int> ThreadsByPolicy(int pid);

}  // namespace sonar::service
