#include "storage/pg_status.h"

#include <exception>
#include <pqxx/except>

namespace sonar::storage {

absl::Status StatusFromCurrentException() {
  try {
    throw;
  } catch (const pqxx::in_doubt_error&) {
    return absl::UnavailableError("database: outcome of COMMIT unknown (connection lost)");
  } catch (const pqxx::broken_connection&) {
    return absl::UnavailableError("database: connection unavailable");
  } catch (const pqxx::statement_completion_unknown&) {
    return absl::UnavailableError("database: statement outcome unknown (connection lost)");
  } catch (const pqxx::deadlock_detected&) {
    return absl::AbortedError("database: deadlock detected (SQLSTATE 40P01)");
  } catch (const pqxx::transaction_rollback&) {
    return absl::AbortedError("database: transaction rolled back (serialization failure)");
  } catch (const pqxx::insufficient_privilege& e) {
    // libpqxx leaves the SQLSTATE empty for some of these (e.g. a function it may not execute).
    const std::string state = e.sqlstate().empty() ? "42501" : e.sqlstate();
    return absl::PermissionDeniedError("database: insufficient privilege (SQLSTATE " + state + ")");
  } catch (const pqxx::sql_error& e) {
    // 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now, 08xxx connection;
    // 25006 read-only transaction: a server that is (now) a standby, e.g. the old primary after
    // a failover. Callers drop the connection on UNAVAILABLE, so the next one may reach the new
    // primary (a URL with target_session_attrs=read-write makes sure of it).
    const std::string state = e.sqlstate();
    // 55P03 lock not available: a bounded lock wait (lock_timeout) ran out; try again.
    if (state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0 || state == "25006" ||
        state == "55P03") {
      return absl::UnavailableError("database: unavailable (SQLSTATE " + state + ")");
    }
    return absl::InternalError("database: error (SQLSTATE " + state + ")");
  } catch (const pqxx::failure&) {
    return absl::UnavailableError("database: failure talking to the server");
  } catch (const std::exception&) {
    return absl::InternalError("database: unexpected error");
  } catch (...) {
    return absl::InternalError("database: unexpected error");
  }
}

}  // namespace sonar::storage
