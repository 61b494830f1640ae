#include "storage/pg_connection.h"

#include <pqxx/pqxx>

namespace sonar::storage {

PgConnection::PgConnection(std::string url) : url_(std::move(url)) {}

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
