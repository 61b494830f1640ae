#include "service/scheduling.h"

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sonar::service {

absl::Status UseRealtimePriority(int priority) {
  if (priority < 1 || priority > kMaxRealtimePriority) {
    return absl::InvalidArgumentError("a real-time priority is between 1 and 99, not " +
                                      std::to_string(priority));
  }
  const sched_param param{.sched_priority = priority};
  if (sched_setscheduler(0, SCHED_RR, &param) != 0) {
    const int error = errno;
    if (error == EPERM) {
      return absl::PermissionDeniedError(
          "SCHED_RR needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least " +
          std::to_string(priority) +
          " (e.g. LimitRTPRIO= in systemd, --cap-add SYS_NICE in a container; with real-time "
          "group scheduling also a real-time budget for its cgroup)");
    }
    return absl::InternalError(std::string("sched_setscheduler: ") + std::strerror(error));
  }
  return absl::OkStatus();
}

std::string ThreadPolicyName(int pid, int tid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return "";
  // Fields after the command name, which is in parentheses and may contain spaces: field 3 is
  // the state, field 41 the policy.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 41; ++i) {
    if (!(fields >> field)) return "";
  }
  switch (std::stoi(field)) {
    case SCHED_OTHER:
      return "SCHED_OTHER";
    case SCHED_FIFO:
      return "SCHED_FIFO";
    case SCHED_RR:
      return "SCHED_RR";
    case SCHED_BATCH:
      return "SCHED_BATCH";
    case SCHED_IDLE:
      return "SCHED_IDLE";
    default:
      return "policy " + field;
  }
}

std::map<std::string, int> ThreadsByPolicy(int pid) {
  std::map<std::string, int> count;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const std::string policy = ThreadPolicyName(pid, std::stoi(task.path().filename().string()));
    if (!policy.empty()) ++count[policy];
  }
  return count;
}

}  // namespace sonar::service
