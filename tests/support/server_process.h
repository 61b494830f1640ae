// A sonar server program (sonar-ingest, sonar-query) running as a child process, for e2e and
// fault tests: started with a port file, its log in a directory of its own.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace sonar::testing {

struct ServerProcess {
  std::unique_ptr<ChildProcess> process;
  std::string log;   // path of its stdout/stderr
  std::string addr;  // 127.0.0.1:<port>
};

// Starts `program` with `args` plus --listen `listen` and --port-file, and waits (up to 20 s)
// until it listens; `log` defaults to a fresh file. Fails the test if it does not start.
[[nodiscard]] ServerProcess StartServer(const std::string& program, std::vector<std::string> args,
                                        const std::string& listen = "127.0.0.1:0",
                                        std::string log = "");

}  // namespace sonar::testing
