// The servers' health check off the signal-handling thread: a check (the database's `SELECT 1`)
// runs on a thread of its own every `period`, and the probe is healthy only while the last check
// passed and ended less than `stale_after` ago. So a check that hangs (a database host that
// stopped answering: libpq then waits for TCP, minutes) reads as unhealthy within `stale_after`,
// and the thread that waits for SIGTERM is not the one stuck in it (except for the first check,
// which the constructor runs, at start-up, where connecting to the database comes first anyway).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace sonar::service {

class HealthProbe final {
 public:
  // Runs `check` once before it returns (a server starts with a known health), then every
  // `period`. `check` must own what it uses (e.g. a shared_ptr to its connection): a check that
  // hangs is left to finish on its own after the probe is gone.
  HealthProbe(std::function<bool()> check, std::chrono::milliseconds period,
              std::chrono::milliseconds stale_after);
  // Stops the checks; waits at most about a second for one in progress.
  ~HealthProbe();
  HealthProbe(const HealthProbe&) = delete;
  HealthProbe& operator=(const HealthProbe&) = delete;

  [[nodiscard]] bool Healthy() const;

  // The servers' probe: `SELECT 1` on its own connection to `database_url` every second,
  // unhealthy when the last one failed or has not answered for 3 s (docs/operations.md).
  [[nodiscard]] static std::unique_ptr<HealthProbe> OfDatabase(const std::string& database_url);

 private:
  struct State;
  std::shared_ptr<State> state_;
  const std::chrono::milliseconds stale_after_;
  std::thread thread_;
};

}  // namespace sonar::service
