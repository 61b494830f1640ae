#include "storage/pg_counts_reader.h"

#include <pqxx/pqxx>

#include "storage/pg_status.h"
#include "storage/sql_array.h"

namespace sonar::storage {
namespace {

// An empty array means every code.
constexpr const char* kLiveCounts = R"sql(
SELECT municipality_code, cell, sum(n)::int8,
       (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::int8
FROM live_counts
WHERE cardinality($1::text[]) = 0 OR municipality_code = ANY($1::text[])
GROUP BY municipality_code, cell)sql";

constexpr const char* kClock = "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::int8";

}  // namespace

PgCountsReader::PgCountsReader(std::string database_url) : connection_(std::move(database_url)) {}

absl::StatusOr<CountsSnapshot> PgCountsReader::LiveCounts(std::span<const std::string> codes) {
  try {
    pqxx::read_transaction tx(connection_.Get());
    SqlArray arr;
    for (const std::string& c : codes) arr.Add(c);
    CountsSnapshot snapshot;
    const pqxx::result result = tx.exec_params(kLiveCounts, arr.Literal());
    for (const auto& row : result) {
      snapshot.rows.push_back({row[0].as<std::string>(), static_cast<core::Cell>(row[1].as<int>()),
                               row[2].as<int64_t>()});
    }
    const int64_t as_of_micros =
        result.empty() ? tx.exec1(kClock)[0].as<int64_t>() : result[0][3].as<int64_t>();
    snapshot.as_of = core::Instant{std::chrono::microseconds{as_of_micros}};
    tx.commit();
    return snapshot;
  } catch (...) {
    absl::Status status = StatusFromCurrentException();
    if (absl::IsUnavailable(status)) connection_.Reset();
    return status;
  }
}

}  // namespace sonar::storage
