#include "storage/pg_change_listener.h"

#include <chrono>
#include <pqxx/pqxx>

namespace sonar::storage {
namespace {

constexpr const char* kChannel = "sonar_counts";

using SteadyClock = std::chrono::steady_clock;

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, std::function<void()>& on_change)
      : pqxx::notification_receiver(conn, kChannel), on_change_(on_change) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override {
    on_change_();
    last_ = SteadyClock::now();
  }
  [[nodiscard]] SteadyClock::time_point last() const { return last_; }

 private:
  std::function<void()>& on_change_;
  SteadyClock::time_point last_{};
};

}  // namespace

PgChangeListener::PgChangeListener(std::string database_url, std::function<void()> on_change,
                                   std::vector<std::chrono::milliseconds> echoes)
    : url_(std::move(database_url)),
      on_change_(std::move(on_change)),
      echoes_(std::move(echoes)),
      thread_([this] { Run(); }) {}

PgChangeListener::~PgChangeListener() { Stop(); }

void PgChangeListener::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void PgChangeListener::Run() {
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_) {
    try {
      pqxx::connection conn(url_);
      Receiver receiver(conn, on_change_);
      conn.get_notifs();  // issues the LISTEN
      connected_ = true;
      backoff = std::chrono::milliseconds(100);
      on_change_();
      // Wakes at least every 100 ms to notice Stop() and to run due echoes.
      size_t echoes_done = echoes_.size();
      SteadyClock::time_point echoing_for{};
      while (!stop_) {
        conn.await_notification(0, 100'000);
        if (receiver.last() != echoing_for) {  // a new notification: echo it from the start
          echoing_for = receiver.last();
          echoes_done = 0;
        }
        if (echoes_done < echoes_.size() &&
            SteadyClock::now() >= echoing_for + echoes_[echoes_done]) {
          ++echoes_done;
          on_change_();
        }
      }
    } catch (...) {
      // Connection lost or refused: retry with backoff; callers see connected() == false.
    }
    connected_ = false;
    for (auto waited = std::chrono::milliseconds(0); waited < backoff && !stop_;
         waited += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

}  // namespace sonar::storage
