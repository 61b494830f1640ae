#include "storage/pg_counts_reader.h"

#include <pqxx/pqxx>

#include "storage/binary_array.h"
#include "storage/pg_status.h"

namespace sonar::storage {
namespace {

// An empty array means every code. Each query returns the database clock in every row.
constexpr const char* kLiveCounts = R"sql(
SELECT municipality_code, cell, sum(n)::int8,
       (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::int8
FROM live_counts_all
WHERE cardinality($1::text[]) = 0 OR municipality_code = ANY($1::text[])
GROUP BY municipality_code, cell)sql";

constexpr const char* kQuarterCounts = R"sql(
SELECT municipality_code, cell, sum(n)::int8,
       (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::int8
FROM quarter_deltas_all
WHERE quarter <= $2 AND (cardinality($1::text[]) = 0 OR municipality_code = ANY($1::text[]))
GROUP BY municipality_code, cell)sql";

constexpr const char* kClock = "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::int8";

CountsSnapshot ToSnapshot(pqxx::transaction_base& tx, const pqxx::result& result) {
  CountsSnapshot snapshot;
  for (const auto& row : result) {
    const int64_t n = row[2].as<int64_t>();
    if (n == 0) continue;
    snapshot.rows.push_back(
        {row[0].as<std::string>(), static_cast<core::Cell>(row[1].as<int>()), n});
  }
  const int64_t as_of_micros =
      result.empty() ? tx.exec1(kClock)[0].as<int64_t>() : result[0][3].as<int64_t>();
  snapshot.as_of = core::Instant{std::chrono::microseconds{as_of_micros}};
  return snapshot;
}

pqxx::binarystring CodesArray(std::span<const std::string> codes) {
  BinaryArray arr(PgElement::kText);
  for (const std::string& c : codes) arr.Add(c);
  return arr.Param();
}

}  // namespace

PgCountsReader::PgCountsReader(PgConnection& connection) : connection_(connection) {}

absl::StatusOr<CountsSnapshot> PgCountsReader::LiveCounts(std::span<const std::string> codes) {
  return Read(
      [&](pqxx::transaction_base& tx) { return tx.exec_params(kLiveCounts, CodesArray(codes)); });
}

absl::StatusOr<CountsSnapshot> PgCountsReader::QuarterCounts(int quarter_index,
                                                             std::span<const std::string> codes) {
  return Read([&](pqxx::transaction_base& tx) {
    return tx.exec_params(kQuarterCounts, CodesArray(codes), quarter_index);
  });
}

absl::StatusOr<CountsSnapshot> PgCountsReader::Read(
    const std::function<pqxx::result(pqxx::transaction_base&)>& query) {
  try {
    pqxx::read_transaction tx(connection_.Get());
    CountsSnapshot snapshot = ToSnapshot(tx, query(tx));
    tx.commit();
    return snapshot;
  } catch (...) {
    absl::Status status = StatusFromCurrentException();
    if (absl::IsUnavailable(status)) connection_.MarkBroken();
    return status;
  }
}

}  // namespace sonar::storage
