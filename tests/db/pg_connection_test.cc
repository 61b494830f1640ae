// PgConnection's sessions against a real PostgreSQL: the server's side of the connection limits.
#include "storage/pg_connection.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>

#include "tests/support/test_database.h"

namespace sonar {
namespace {

std::string Show(storage::PgConnection& connection, const std::string& name) {
  pqxx::nontransaction tx(connection.Get());
  return tx.exec1("SHOW " + name)[0].as<std::string>();
}

// A session whose client died must not hold its locks for the OS's two hours of TCP keepalive
// (publishing waits for every ingest transaction in progress), nor a transaction its client left.
TEST(PgConnection, SessionsEndWithTheirClient) {
  testing::TestDatabase db;
  storage::PgConnection connection(db.url());
  EXPECT_EQ(Show(connection, "idle_in_transaction_session_timeout"), "1min");
  if (db.url().find("@127.0.0.1:") != std::string::npos) {  // TCP: the keepalives apply
    EXPECT_EQ(Show(connection, "tcp_keepalives_idle"), "30");
    EXPECT_EQ(Show(connection, "tcp_keepalives_interval"), "10");
    EXPECT_EQ(Show(connection, "tcp_keepalives_count"), "3");
    EXPECT_EQ(Show(connection, "tcp_user_timeout"), "60000");
  }
}

// What the operator set for the database (or the role, or the URL's options) stays.
TEST(PgConnection, SettingsTheDatabaseHasAreKept) {
  testing::TestDatabase db;
  {
    pqxx::connection admin(db.url());
    pqxx::nontransaction(admin).exec("ALTER DATABASE " + db.name() +
                                     " SET idle_in_transaction_session_timeout = '5s'");
  }
  storage::PgConnection connection(db.url());
  EXPECT_EQ(Show(connection, "idle_in_transaction_session_timeout"), "5s");
}

}  // namespace
}  // namespace sonar
