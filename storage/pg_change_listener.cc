#include "storage/pg_change_listener.h"

#include <chrono>
#include <pqxx/pqxx>

namespace sonar::storage {
namespace {

constexpr const char* kChannel = "sonar_counts";

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, std::function<void()>& on_change)
      : pqxx::notification_receiver(conn, kChannel), on_change_(on_change) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override { on_change_(); }

 private:
  std::function<void()>& on_change_;
};

}  // namespace

PgChangeListener::PgChangeListener(std::string database_url, std::function<void()> on_change)
    : url_(std::move(database_url)), on_change_(std::move(on_change)), thread_([this] { Run(); }) {}

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
      // Wakes at least every 200 ms to notice Stop().
      while (!stop_) conn.await_notification(0, 200'000);
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
