#include "storage/pg_connection.h"

#include <pqxx/pqxx>

namespace sonar::storage {

std::string WithClientTimeouts(const std::string& url) {
  static constexpr std::pair<const char*, const char*> kLimits[] = {{"keepalives_idle", "30"},
                                                                    {"keepalives_interval", "10"},
                                                                    {"keepalives_count", "3"},
                                                                    {"tcp_user_timeout", "60000"}};
  const bool uri = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  std::string out = url;
  for (const auto& [key, value] : kLimits) {
    // A key the caller set stays as set (keyword/value strings may put spaces around '=').
    const std::string k = key;
    bool set = false;
    for (size_t at = url.find(k); at != std::string::npos && !set; at = url.find(k, at + 1)) {
      const bool starts = at == 0 || url[at - 1] == '?' || url[at - 1] == '&' || url[at - 1] == ' ';
      const size_t eq = url.find_first_not_of(' ', at + k.size());
      set = starts && eq != std::string::npos && url[eq] == '=';
    }
    if (set) continue;
    if (uri) {
      out += (out.find('?') == std::string::npos ? "?" : "&") + k + "=" + value;
    } else {
      out += (out.empty() ? "" : " ") + k + "=" + value;
    }
  }
  return out;
}

PgConnection::PgConnection(std::string url) : url_(WithClientTimeouts(url)) {}

pqxx::connection& PgConnection::Get() {
  if (conn_ && conn_->is_open() && !broken_) return *conn_;
  conn_.reset();
  broken_ = false;
  conn_ = std::make_unique<pqxx::connection>(url_);
  ++generation_;
  return *conn_;
}

void PgConnection::Reset() { conn_.reset(); }

bool PgConnection::Ping() {
  try {
    pqxx::nontransaction tx(Get());
    tx.exec("SELECT 1");
    return true;
  } catch (...) {
    Reset();
    return false;
  }
}

bool PgConnection::IsOpen() const { return conn_ && conn_->is_open() && !broken_; }

}  // namespace sonar::storage
