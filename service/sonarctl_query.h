// sonarctl's read-side commands against QueryService.
#pragma once

#include <string>

namespace sonar::service {

struct ReportCommand {
  std::string addr;
  std::string region;  // empty = national
  std::string quarter;
  std::string format = "text";
  bool provisional = false;
  unsigned revision = 0;
};

// Prints the rendered report on stdout; exit code 0, or 1 with the error on stderr.
int RunReport(const ReportCommand& command);
int RunPublish(const std::string& addr, const std::string& quarter);
int RunDiff(const std::string& addr, const std::string& quarter, const std::string& region);
// Prints one line per message until the stream ends or `max_messages` (0 = no limit) arrived.
int RunWatch(const std::string& addr, const std::string& region, int max_messages);

}  // namespace sonar::service
