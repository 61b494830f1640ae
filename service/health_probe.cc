#include "service/health_probe.h"

#include <condition_variable>
#include <mutex>

#include "storage/pg_connection.h"

namespace sonar::service {

using Clock = std::chrono::steady_clock;

struct HealthProbe::State {
  std::function<bool()> check;
  std::chrono::milliseconds period{};
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool exited = false;
  bool last_ok = false;
  Clock::time_point last_end;
};

HealthProbe::HealthProbe(std::function<bool()> check, std::chrono::milliseconds period,
                         std::chrono::milliseconds stale_after)
    : state_(std::make_shared<State>()), stale_after_(stale_after) {
  state_->check = std::move(check);
  state_->period = period;
  state_->last_ok = state_->check();
  state_->last_end = Clock::now();
  // The thread shares the state, so it may outlive the probe while a check hangs.
  thread_ = std::thread([state = state_] {
    std::unique_lock lock(state->mu);
    while (!state->cv.wait_for(lock, state->period, [&] { return state->stop; })) {
      lock.unlock();
      const bool ok = state->check();
      lock.lock();
      state->last_ok = ok;
      state->last_end = Clock::now();
    }
    state->exited = true;
    state->cv.notify_all();
  });
}

HealthProbe::~HealthProbe() {
  std::unique_lock lock(state_->mu);
  state_->stop = true;
  state_->cv.notify_all();
  const bool exited =
      state_->cv.wait_for(lock, std::chrono::seconds(1), [&] { return state_->exited; });
  lock.unlock();
  if (exited) {
    thread_.join();
  } else {
    thread_.detach();  // stuck in a check; it ends with it (or with the process)
  }
}

std::unique_ptr<HealthProbe> HealthProbe::OfDatabase(const std::string& database_url) {
  return std::make_unique<HealthProbe>(
      [conn = std::make_shared<storage::PgConnection>(database_url)] { return conn->Ping(); },
      std::chrono::seconds(1), std::chrono::seconds(3));
}

bool HealthProbe::Healthy() const {
  std::lock_guard lock(state_->mu);
  return state_->last_ok && Clock::now() - state_->last_end < stale_after_;
}

}  // namespace sonar::service
