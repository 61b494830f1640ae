#include "storage/pg_connection.h"

#include <pqxx/pqxx>

namespace sonar::storage {

PgConnection::PgConnection(std::string url) : url_(std::move(url)) {}

pqxx::connection& PgConnection::Get() {
  if (conn_ && conn_->is_open() && !broken_) return *conn_;
  conn_.reset();
  broken_ = false;
  auto conn = std::make_unique<pqxx::connection>(url_);
  pqxx::nontransaction tx(*conn);
  // Spread writers over counter shards by backend, so concurrent batches on different
  // connections (also of other processes) rarely touch the same counter row.
  shard_ = tx.exec1("SELECT pg_backend_pid() % 16")[0].as<int>();
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
