// Listens for the NOTIFY that every committed ingest batch sends (channel sonar_counts), from
// any process writing to the database. Runs on its own thread with its own connection;
// reconnects after a failure. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace sonar::storage {

class PgChangeListener final {
 public:
  // `on_change` runs on the listener thread after each notification, and after every
  // (re)connect (changes may have been missed while disconnected). It must not block.
  // `echoes`: delays after a notification at which `on_change` runs again, for readers of a
  // streaming replica that may not have replayed the change yet (empty: none).
  PgChangeListener(std::string database_url, std::function<void()> on_change,
                   std::vector<std::chrono::milliseconds> echoes = {});
  ~PgChangeListener();  // Stop()
  PgChangeListener(const PgChangeListener&) = delete;
  PgChangeListener& operator=(const PgChangeListener&) = delete;

  void Stop();
  [[nodiscard]] bool connected() const { return connected_.load(); }

 private:
  void Run();

  std::string url_;
  std::function<void()> on_change_;
  std::vector<std::chrono::milliseconds> echoes_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

}  // namespace sonar::storage
