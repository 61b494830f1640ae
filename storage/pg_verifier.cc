#include "storage/pg_verifier.h"

#include <map>
#include <pqxx/pqxx>

#include "core/client_state.h"
#include "storage/history_codec.h"
#include "storage/pg_connection.h"
#include "storage/pg_status.h"

namespace sonar::storage {
namespace {

// Grouping needs only each person's events together: bytewise order is the cheapest whatever the
// database's collation (a language collation sorts through strcoll).
constexpr const char* kEventsByPerson = R"sql(
SELECT e.client_ref, e.source, e.event_id,
       (EXTRACT(EPOCH FROM e.occurred_at) * 1000000)::int8, e.kind, e.municipality_code,
       e.registrant
FROM events e ORDER BY e.client_ref COLLATE "C")sql";

void Note(VerifyReport& report, std::string text) {
  if (report.examples.size() < 10) report.examples.push_back(std::move(text));
}

// Adds one person's recomputed contribution.
void Fold(std::vector<core::Event>& history, core::QuarterDeltas& quarters,
          std::map<std::pair<std::string, int>, int64_t>& live) {
  core::SortHistory(history);
  core::AddHistoryContribution(history, +1, quarters);
  core::ClientState state;
  for (const core::Event& e : history) core::ApplyEvent(e, state);
  const core::Placement p = core::PlacementOf(state);
  if (p.cell != core::Cell::kNone) ++live[{p.municipality_code, static_cast<int>(p.cell)}];
}

}  // namespace

absl::StatusOr<VerifyReport> VerifyCounters(const std::string& database_url) {
  try {
    pqxx::connection conn(WithClientTimeouts(database_url));
    // One snapshot for everything, so a running ingest cannot produce false mismatches.
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> tx(conn);
    VerifyReport report;
    report.accepted_in_batches =
        tx.exec1("SELECT coalesce(sum(accepted), 0)::int8 FROM ingest_batches")[0].as<int64_t>();

    core::QuarterDeltas quarters;
    std::map<std::pair<std::string, int>, int64_t> live;
    std::map<std::string, size_t> history_sizes;  // by person: events stored in the log
    std::vector<core::Event> history;
    std::string current;
    pqxx::icursorstream cursor(tx, kEventsByPerson, "events_by_person", 10'000);
    pqxx::result chunk;
    while (cursor >> chunk) {
      for (const auto& row : chunk) {
        std::string ref = row[0].as<std::string>();
        if (ref != current && !history.empty()) {
          history_sizes[current] = history.size();
          Fold(history, quarters, live);
          history.clear();
        }
        current = std::move(ref);
        history.push_back({row[1].as<std::string>(), row[2].as<std::string>(), "",
                           core::Instant{std::chrono::microseconds{row[3].as<int64_t>()}},
                           static_cast<core::EventKind>(row[4].as<int>()), row[5].as<std::string>(),
                           static_cast<core::Registrant>(row[6].as<int>())});
        ++report.events;
      }
    }
    if (!history.empty()) {
      history_sizes[current] = history.size();
      Fold(history, quarters, live);
    }
    report.persons = static_cast<int64_t>(history_sizes.size());

    for (const auto& row : tx.exec("SELECT client_ref, history FROM clients")) {
      const auto decoded = DecodeHistory(pqxx::binarystring(row[1]).str());
      const auto it = history_sizes.find(row[0].as<std::string>());
      const size_t expected = it == history_sizes.end() ? 0 : it->second;
      if (!decoded || decoded->size() != expected) {
        ++report.history_mismatches;
        Note(report, "a person's stored history does not match their stored events");
      }
    }
    for (const auto& row :
         tx.exec("SELECT municipality_code, cell, sum(n)::int8 FROM live_counts_all "
                 "GROUP BY 1, 2")) {
      const auto key = std::make_pair(row[0].as<std::string>(), row[1].as<int>());
      const int64_t stored = row[2].as<int64_t>();
      const auto it = live.find(key);
      const int64_t expected = it == live.end() ? 0 : it->second;
      if (it != live.end()) live.erase(it);
      if (stored != expected) {
        ++report.live_mismatches;
        Note(report, "live " + key.first + " cell " + std::to_string(key.second) + ": stored " +
                         std::to_string(stored) + ", recomputed " + std::to_string(expected));
      }
    }
    report.live_mismatches += static_cast<int64_t>(live.size());
    for (const auto& row : tx.exec("SELECT quarter, municipality_code, cell, sum(n)::int8 FROM "
                                   "quarter_deltas_all GROUP BY 1, 2, 3")) {
      const core::DeltaKey key{row[0].as<int>(), row[1].as<std::string>(),
                               static_cast<core::Cell>(row[2].as<int>())};
      const int64_t stored = row[3].as<int64_t>();
      const auto it = quarters.find(key);
      const int64_t expected = it == quarters.end() ? 0 : it->second;
      if (it != quarters.end()) quarters.erase(it);
      if (stored != expected) {
        ++report.quarter_mismatches;
        Note(report, "quarter " + core::Quarter::FromIndex(key.quarter_index).ToString() + " " +
                         key.municipality_code + ": stored " + std::to_string(stored) +
                         ", recomputed " + std::to_string(expected));
      }
    }
    report.quarter_mismatches += static_cast<int64_t>(quarters.size());
    if (report.events != report.accepted_in_batches) {
      Note(report, "events stored " + std::to_string(report.events) + " != accepted in batches " +
                       std::to_string(report.accepted_in_batches));
    }
    tx.commit();
    return report;
  } catch (...) {
    return StatusFromCurrentException();
  }
}

}  // namespace sonar::storage
