#include "tests/support/server_process.h"

#include <gtest/gtest.h>

namespace sonar::testing {

ServerProcess StartServer(const std::string& program, std::vector<std::string> args,
                          const std::string& listen, std::string log) {
  const std::string dir = MakeTempDir(program);
  ServerProcess s;
  s.log = log.empty() ? dir + "/log" : std::move(log);
  args.insert(args.end(), {"--listen", listen, "--port-file", dir + "/port"});
  s.process = std::make_unique<ChildProcess>(BinaryPath(program), args, s.log);
  const int port = WaitForPortFile(dir + "/port", std::chrono::seconds(20));
  EXPECT_GT(port, 0) << program << " did not start: " << ReadFile(s.log);
  s.addr = "127.0.0.1:" + std::to_string(port);
  return s;
}

}  // namespace sonar::testing
