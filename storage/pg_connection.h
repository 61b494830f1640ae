// PostgreSQL connections. PgConnection is not thread-safe: one per worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <pqxx/connection>
#include <string>

namespace sonar::storage {

// `url` (a libpq URI or keyword/value string), as a keyword/value string with client-side limits
// added where it sets none: TCP keepalives (idle 30 s, then every 10 s, 3 probes) and
// tcp_user_timeout 60 s. Without them a connection to a database host that stops answering (a
// partition, a frozen VM) waits for TCP for many minutes: a batch in its transaction would get
// neither an ack nor an error. A string libpq cannot parse is returned as it is.
[[nodiscard]] std::string WithClientTimeouts(const std::string& url);

// One lazily (re)connected PostgreSQL connection (to WithClientTimeouts(url); each new session
// also gets the server's side of those limits, and idle_in_transaction_session_timeout 60 s,
// where the URL, role and database leave them at their defaults).
class PgConnection final {
 public:
  explicit PgConnection(std::string url);

  // The open connection, connecting first if needed; throws pqxx::broken_connection.
  pqxx::connection& Get();
  // Drops the connection after a failure; the next Get() reconnects.
  void Reset();
  // Like Reset(), but deferred to the next Get(): for use while a transaction still refers to it.
  void MarkBroken() { broken_ = true; }
  [[nodiscard]] bool IsOpen() const;
  // Connects if needed and runs `SELECT 1`; false (and the connection dropped) on any failure.
  [[nodiscard]] bool Ping();
  // Changes whenever Get() opens a new connection (e.g. to prepare statements once per session).
  [[nodiscard]] uint64_t Generation() const { return generation_; }

 private:
  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
  uint64_t generation_ = 0;
  bool broken_ = false;
};

}  // namespace sonar::storage
