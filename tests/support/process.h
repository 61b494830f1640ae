// Runs one of the project's programs as a child process, for e2e tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace sonar::testing {

class ChildProcess final {
 public:
  // Starts `program` (a path) with `args`; stdout and stderr go to `log_path`.
  ChildProcess(const std::string& program, const std::vector<std::string>& args,
               const std::string& log_path);
  ~ChildProcess();  // SIGKILL if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void Signal(int signal) const;
  // Waits for exit; returns the exit code, 128 + signal if killed, -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

// Runs a program to completion; returns its exit code and fills `output` with stdout.
int RunProgram(const std::string& program, const std::vector<std::string>& args,
               std::string& output, std::chrono::milliseconds timeout);

// Waits until `path` holds a port number (written by --port-file); 0 on timeout.
int WaitForPortFile(const std::string& path, std::chrono::milliseconds timeout);

[[nodiscard]] std::string BinaryPath(const std::string& name);
[[nodiscard]] std::string ReadFile(const std::string& path);
// A fresh directory under the build tree's temporary area.
[[nodiscard]] std::string MakeTempDir(const std::string& prefix);

}  // namespace sonar::testing
