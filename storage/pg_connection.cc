#include "storage/pg_connection.h"

#include <libpq-fe.h>

#include <pqxx/pqxx>
#include <set>
#include <string_view>

namespace sonar::storage {

namespace {

// key='value', as a libpq keyword/value string quotes it.
void AppendKeyword(std::string& out, std::string_view key, std::string_view value) {
  if (!out.empty()) out += ' ';
  out.append(key);
  out += "='";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  out += '\'';
}

// The connection limits, each as the client's libpq keyword (none: server only) and the server's
// setting of the same name, with one value for both sides.
struct Limit {
  const char* client;
  const char* server;
  const char* value;
};
constexpr Limit kLimits[] = {
    {"keepalives_idle", "tcp_keepalives_idle", "30"},
    {"keepalives_interval", "tcp_keepalives_interval", "10"},
    {"keepalives_count", "tcp_keepalives_count", "3"},
    {"tcp_user_timeout", "tcp_user_timeout", "60000"},
    {nullptr, "idle_in_transaction_session_timeout", "60000"},
};

// Sets the server's side of kLimits in a session, where the URL's options, the role and the
// database leave them at their defaults.
std::string ServerLimitsStatement() {
  std::string values;
  for (const Limit& l : kLimits) {
    values += std::string(values.empty() ? "" : ", ") + "('" + l.server + "', '" + l.value + "')";
  }
  return "SELECT set_config(s.name, v.value, false) FROM pg_settings AS s JOIN (VALUES " + values +
         ") AS v(name, value) USING (name) WHERE s.source = 'default'";
}

}  // namespace

std::string WithClientTimeouts(const std::string& url) {
  // libpq's own parser (URIs with percent-encoding, keyword/value strings with quoting) says what
  // the URL sets; it is written back as a keyword/value string with the limits it leaves out.
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    if (error != nullptr) PQfreemem(error);
    return url;  // libpq says what is wrong with it when it connects
  }
  std::string out;
  std::set<std::string_view> given;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    AppendKeyword(out, o->keyword, o->val);
    for (const Limit& l : kLimits) {
      if (l.client != nullptr && std::string_view(o->keyword) == l.client) given.insert(l.client);
    }
  }
  PQconninfoFree(options);
  for (const Limit& l : kLimits) {
    if (l.client != nullptr && !given.contains(l.client)) AppendKeyword(out, l.client, l.value);
  }
  return out;
}

PgConnection::PgConnection(std::string url) : url_(WithClientTimeouts(url)) {}

pqxx::connection& PgConnection::Get() {
  if (conn_ && conn_->is_open() && !broken_) return *conn_;
  conn_.reset();
  broken_ = false;
  auto conn = std::make_unique<pqxx::connection>(url_);
  // The server's side of the limits: a session whose client died is ended within about a minute
  // instead of holding its locks for the OS's two hours of TCP keepalive, and a transaction left
  // idle by its client (ours never are for long) ends after a minute. The TCP ones do nothing on
  // a Unix socket.
  static const std::string server_limits = ServerLimitsStatement();
  pqxx::nontransaction(*conn).exec(server_limits);
  conn_ = std::move(conn);
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
