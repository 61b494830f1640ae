#include "storage/pg_publication_store.h"

#include <pqxx/pqxx>

#include "storage/binary_array.h"
#include "storage/pg_status.h"

namespace sonar::storage {
namespace {

constexpr const char* kLock = "SELECT pg_advisory_lock(hashtext('sonar.publish'))";
constexpr const char* kUnlock = "SELECT pg_advisory_unlock(hashtext('sonar.publish'))";
// Every ingest transaction holds this lock shared from its first statement, before it takes its
// seq (storage/pg_batch_store.cc, kNextSeq). Holding it exclusively, a publisher knows that every
// seq taken so far belongs to a transaction that has ended; new ones wait until it lets go, right
// after its snapshot. So the highest seq in the snapshot is a watermark.
// (The two-key form: a key space of its own, apart from sonar.publish's one-key lock.) The wait
// is bounded: while it waits, new ingest transactions queue behind it, so one that does not end
// (the session of a client that died, which the server has not noticed yet) would stop all
// ingest. After 5 s it gives up with SQLSTATE 55P03 (UNAVAILABLE: publish again).
constexpr const char* kQuiesceIngest =
    "SET lock_timeout = '5s'; "
    "SELECT pg_advisory_lock(hashtext('sonar'), hashtext('ingest_position')); "
    "RESET lock_timeout";
constexpr const char* kResumeIngest =
    "SELECT pg_advisory_unlock(hashtext('sonar'), hashtext('ingest_position'))";

constexpr const char* kSnapshot = R"sql(
SELECT coalesce(max(seq), 0), count(*),
       coalesce((SELECT max(revision) FROM publications WHERE quarter = $1), 0) + 1
FROM ingest_batches)sql";

constexpr const char* kCountsAtEnd = R"sql(
SELECT municipality_code, cell, sum(n)::int8 FROM quarter_deltas_all
WHERE quarter <= $1 GROUP BY 1, 2 HAVING sum(n) <> 0)sql";

constexpr const char* kInsertPublication = R"sql(
INSERT INTO publications (quarter, revision, published_at, ingest_position, batches_included)
VALUES ($1, $2, clock_timestamp(), $3, $4)
RETURNING (EXTRACT(EPOCH FROM published_at) * 1000000)::int8)sql";

constexpr const char* kInsertFigures = R"sql(
INSERT INTO publication_figures
SELECT $1, $2, r, rn, rc, mc, mn, pos, gwp, gwop, uwp, uwop, ro, so
FROM unnest($3::int2[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int2[], $9::int8[],
            $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::int8[])
     AS u(r, rn, rc, mc, mn, pos, gwp, gwop, uwp, uwop, ro, so))sql";

constexpr const char* kFind = R"sql(
SELECT revision, (EXTRACT(EPOCH FROM published_at) * 1000000)::int8, ingest_position,
       batches_included
FROM publications WHERE quarter = $1 AND ($2 = 0 OR revision = $2)
ORDER BY revision DESC LIMIT 1)sql";

constexpr const char* kFigures = R"sql(
SELECT region, region_name, region_cbs_code, municipality_code, municipality_name,
       gemeente_with_profile, gemeente_without_profile, uwv_with_profile, uwv_without_profile,
       register_only, sonar_only
FROM publication_figures
WHERE quarter = $1 AND revision = $2 AND ($3 = 0 OR region = $3)
ORDER BY region, position)sql";

core::Instant FromMicros(int64_t micros) {
  return core::Instant{std::chrono::microseconds{micros}};
}

}  // namespace

PgPublicationStore::PgPublicationStore(PgConnection& primary) : primary_(primary) {}

absl::StatusOr<PublicationInfo> PgPublicationStore::Publish(core::Quarter quarter,
                                                            const Freeze& freeze) {
  bool locked = false;
  bool committed = false;
  PublicationInfo info;
  info.quarter = quarter;
  try {
    pqxx::connection& conn = primary_.Get();
    // Locked before the snapshot is taken, so a waiting publisher sees the previous revision.
    pqxx::nontransaction(conn).exec(kLock);
    locked = true;
    // Waits for the ingest transactions in progress; new ones wait until the snapshot is taken,
    // so ingest pauses for the longest transaction in progress and one round trip.
    pqxx::nontransaction(conn).exec(kQuiesceIngest);
    {
      pqxx::transaction<pqxx::isolation_level::repeatable_read> tx(conn);
      // The transaction's snapshot is taken as its first statement starts, i.e. still under the
      // lock; it lets ingest go on at once, before the reads.
      tx.exec(kResumeIngest);
      const pqxx::row snap = tx.exec_params1(kSnapshot, quarter.Index());
      info.ingest_position = snap[0].as<int64_t>();
      info.batches_included = snap[1].as<int64_t>();
      info.revision = snap[2].as<int>();
      std::vector<core::CounterRow> rows;
      for (const auto& row : tx.exec_params(kCountsAtEnd, quarter.Index())) {
        rows.push_back({row[0].as<std::string>(), static_cast<core::Cell>(row[1].as<int>()),
                        row[2].as<int64_t>()});
      }
      const std::vector<core::RegionFigures> figures = freeze(rows);
      info.published_at =
          FromMicros(tx.exec_params1(kInsertPublication, quarter.Index(), info.revision,
                                     info.ingest_position, info.batches_included)[0]
                         .as<int64_t>());
      BinaryArray r(PgElement::kInt2), rn(PgElement::kText), rc(PgElement::kText),
          mc(PgElement::kText), mn(PgElement::kText), pos(PgElement::kInt2), gwp(PgElement::kInt8),
          gwop(PgElement::kInt8), uwp(PgElement::kInt8), uwop(PgElement::kInt8),
          ro(PgElement::kInt8), so(PgElement::kInt8);
      for (const core::RegionFigures& region : figures) {
        for (size_t i = 0; i < region.municipalities.size(); ++i) {
          const core::MunicipalityFigures& m = region.municipalities[i];
          r.Add(int64_t{region.region.number});
          rn.Add(region.region.name);
          rc.Add(region.region.cbs_code);
          mc.Add(m.code);
          mn.Add(m.name);
          pos.Add(static_cast<int64_t>(i));
          gwp.Add(m.cells.gemeente_with_profile);
          gwop.Add(m.cells.gemeente_without_profile);
          uwp.Add(m.cells.uwv_with_profile);
          uwop.Add(m.cells.uwv_without_profile);
          ro.Add(m.cells.register_only);
          so.Add(m.cells.sonar_only);
        }
      }
      tx.exec_params(kInsertFigures, quarter.Index(), info.revision, r.Param(), rn.Param(),
                     rc.Param(), mc.Param(), mn.Param(), pos.Param(), gwp.Param(), gwop.Param(),
                     uwp.Param(), uwop.Param(), ro.Param(), so.Param());
      // Query services cache the latest revision per quarter; this tells them it changed.
      tx.exec_params("SELECT pg_notify('sonar_publications', $1::text)", quarter.Index());
      tx.commit();
      committed = true;
    }
    pqxx::nontransaction(conn).exec(kUnlock);
    return info;
  } catch (const pqxx::in_doubt_error&) {
    primary_.Reset();
    return absl::UnavailableError(
        "database: outcome of COMMIT unknown (connection lost); the revision may have been "
        "stored: check the latest revision of the quarter before publishing again");
  } catch (...) {
    absl::Status status = StatusFromCurrentException();
    // A session lock dies with its connection; drop the connection rather than leak the lock.
    if (locked || absl::IsUnavailable(status)) primary_.Reset();
    // Only releasing the lock failed: the revision is stored, and an error would make the caller
    // publish it a second time.
    if (committed) return info;
    return status;
  }
}

absl::StatusOr<std::optional<PublicationInfo>> PgPublicationStore::Find(core::Quarter quarter,
                                                                        int revision) {
  try {
    pqxx::read_transaction tx(primary_.Get());
    const pqxx::result result = tx.exec_params(kFind, quarter.Index(), revision);
    tx.commit();
    if (result.empty()) return std::optional<PublicationInfo>{};
    const pqxx::row row = result[0];
    return std::optional<PublicationInfo>{
        PublicationInfo{quarter, row[0].as<int>(), FromMicros(row[1].as<int64_t>()),
                        row[2].as<int64_t>(), row[3].as<int64_t>()}};
  } catch (...) {
    absl::Status status = StatusFromCurrentException();
    if (absl::IsUnavailable(status)) primary_.MarkBroken();
    return status;
  }
}

absl::StatusOr<std::vector<core::RegionFigures>> PgPublicationStore::Figures(
    core::Quarter quarter, int revision, std::optional<int> region) {
  try {
    pqxx::read_transaction tx(primary_.Get());
    std::vector<core::RegionFigures> out;
    for (const auto& row :
         tx.exec_params(kFigures, quarter.Index(), revision, region.value_or(0))) {
      const int number = row[0].as<int>();
      if (out.empty() || out.back().region.number != number) {
        out.push_back({{number, row[1].as<std::string>(), row[2].as<std::string>()}, {}, {}});
      }
      core::MunicipalityFigures m{row[3].as<std::string>(), row[4].as<std::string>(), {}};
      m.cells.gemeente_with_profile = row[5].as<int64_t>();
      m.cells.gemeente_without_profile = row[6].as<int64_t>();
      m.cells.uwv_with_profile = row[7].as<int64_t>();
      m.cells.uwv_without_profile = row[8].as<int64_t>();
      m.cells.register_only = row[9].as<int64_t>();
      m.cells.sonar_only = row[10].as<int64_t>();
      out.back().total.Add(m.cells);
      out.back().municipalities.push_back(std::move(m));
    }
    tx.commit();
    return out;
  } catch (...) {
    absl::Status status = StatusFromCurrentException();
    if (absl::IsUnavailable(status)) primary_.MarkBroken();
    return status;
  }
}

}  // namespace sonar::storage
