#include "storage/pg_batch_store.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <functional>
#include <optional>
#include <pqxx/pqxx>
#include <pqxx/stream_to>
#include <pqxx/transaction>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "ingest/event_key.h"
#include "storage/binary_array.h"
#include "storage/copy_text.h"
#include "storage/history_codec.h"
#include "storage/pg_status.h"

// libpqxx 6.4's stream_to writes rows given as tuples, formatting and escaping every field into
// a string of its own. This specialization of its row-writing operator sends CopyText's rows,
// formatted in one buffer, as they are (write_raw_line, private in 6.4, ends them with a newline).
template <>
pqxx::stream_to& pqxx::stream_to::operator<< <sonar::storage::CopyText>(
    const sonar::storage::CopyText& rows) {
  if (rows.rows() == 0) return *this;
  write_raw_line(rows.Text().substr(0, rows.Text().size() - 1));
  return *this;
}

namespace sonar::storage {
namespace {

using ingest::EventKey;
using ingest::EventKeyHash;

// Statements are prepared once per connection (see PgBatchStore::Begin).
constexpr const char* kNextSeqName = "sonar_next_seq";
// First, the lock that lets a publisher wait for the transactions in progress before its snapshot
// (shared: ingest transactions do not wait for each other; see pg_publication_store.cc), so that
// a publication's ingest position is a watermark although seqs commit out of order.
constexpr const char* kNextSeq = R"sql(
WITH quiesce AS MATERIALIZED (
  SELECT pg_advisory_xact_lock_shared(hashtext('sonar'), hashtext('ingest_position')))
SELECT nextval(pg_get_serial_sequence('ingest_batches', 'seq')) FROM quiesce)sql";
// The seqs of a group's other parts (BatchTransaction::SetParts).
constexpr const char* kMoreSeqsName = "sonar_more_seqs";
constexpr const char* kMoreSeqs = R"sql(
SELECT nextval(pg_get_serial_sequence('ingest_batches', 'seq')) FROM generate_series(2, $1::int4))sql";

// Row-locks the persons that exist, in one order (no deadlocks between batches): bytewise
// (COLLATE "C", whatever the database's collation), the order in which the optimistic write
// below visits them too (its nested loop follows the array, sorted bytewise). Without writing
// a row version; the finishing statement then writes each changed person once. Persons not found
// are created there, and a concurrent creation of the same person makes that fail (see
// kFinishBatch).
constexpr const char* kLockClientsName = "sonar_lock_clients";
constexpr const char* kLockClients = R"sql(
SELECT client_ref, history FROM clients WHERE client_ref = ANY($1::text[])
ORDER BY client_ref COLLATE "C" FOR UPDATE)sql";

// The events of a batch, sorted by key bytewise (one order for concurrent inserters of the same
// keys, the optimistic COPY below included). The locking transaction inserts them with
// kInsertEventsIfNew and learns which keys were new; the optimistic one, which knows, copies them
// (InsertNewEvents).
constexpr const char* kInsertEventsNew = R"sql(
INSERT INTO events (source, event_id, client_ref, occurred_at, kind, municipality_code,
                    registrant, batch_seq)
SELECT s, e, c, timestamptz 'epoch' + t * interval '1 microsecond', k, m, r, q
FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int2[], $6::text[], $7::int2[],
            $8::int8[])
     AS u(s, e, c, t, k, m, r, q)
ORDER BY s COLLATE "C", e COLLATE "C")sql";
// No conflict target: the key is an exclusion constraint (migration 0008), which a target cannot
// name; it is the only constraint of events that a row can conflict with.
constexpr const char* kInsertEventsIfNew = R"sql(
ON CONFLICT DO NOTHING
RETURNING source, event_id)sql";
constexpr const char* kInsertEventsName = "sonar_insert_events";

// Optimistic transactions (BatchStore::BeginOptimistic): persons read without a lock, with the
// version (xmin) and place (ctid) of the row read, so the write finds the row without an index
// descent and only if it is still that version (the ref is checked too: a slot can be reused);
// events copied in (COPY, cheaper than an INSERT over arrays) without a conflict check, since the
// histories said their keys are new (a unique violation means they were not: the batch is
// retried with locks).
constexpr const char* kReadClientsName = "sonar_read_clients";
constexpr const char* kReadClients = R"sql(
SELECT client_ref, history, xmin::text, ctid::text FROM clients
WHERE client_ref = ANY($1::text[]))sql";

constexpr const char* kWriteClientsName = "sonar_write_clients";
constexpr const char* kWriteClients = R"sql(
WITH updated AS (
  UPDATE clients AS c SET history = u.h
  FROM unnest($1::text[], $2::bytea[], $3::xid[], $4::tid[]) AS u(r, h, x, t)
  WHERE c.ctid = u.t AND c.client_ref = u.r AND c.xmin = u.x
  RETURNING 1
)
SELECT count(*) FROM updated)sql";

constexpr const char* kEventColumns[] = {"source", "event_id",          "client_ref", "occurred_at",
                                         "kind",   "municipality_code", "registrant", "batch_seq"};

// The stored events of the keys that were not new (the locking transaction's conflicts), one
// hash-index probe per key. Only ROW(...)::event_key comparisons can use the key's index, and
// the planner has no useful estimate for them (a join over them became a sequential scan of
// events, once per batch: session 6); the lateral subquery, which OFFSET 0 keeps apart, is a
// parameterised lookup whatever the statistics say.
constexpr const char* kSelectEventsName = "sonar_select_events";
constexpr const char* kSelectEvents = R"sql(
SELECT ev.source, ev.event_id, ev.client_ref,
       (EXTRACT(EPOCH FROM ev.occurred_at) * 1000000)::int8,
       ev.kind, ev.municipality_code, ev.registrant
FROM unnest($1::text[], $2::text[]) AS k(s, e)
CROSS JOIN LATERAL (
  SELECT * FROM events e
  WHERE ROW(e.source, e.event_id)::event_key = ROW(k.s, k.e)::event_key OFFSET 0) AS ev)sql";

// Everything a batch writes besides events, in one statement. The batch's counter deltas are
// written once, insert-only, as its count_changes row (the change feed of the query service's
// read model) with a count_changes_unfolded mark: no shared counter row is touched here, so
// concurrent batches never queue on one, and PgCounterFolder later adds the deltas of many
// batches into quarter_deltas and live_counts at once (migration 0006).
// Publishes NOTIFY sonar_counts with the batch's position, which wakes live-count watchers in
// any process (delivered when the transaction commits, coalesced per transaction).
// Histories: persons locked by kLockClients are updated ($1, $2), new ones inserted ($3, $4).
// One ingest_batches row per part of the transaction's group ($20-$27; one row for a single
// part); the count_changes row and the NOTIFY carry the first part's seq ($5), the position of
// every part. Returns how many new persons were inserted: fewer than sent means another
// transaction created one of them after kLockClients ran, and this batch was computed from an
// empty history; the caller then rolls back and retries (ABORTED), and the retry locks and reads
// the stored one.
constexpr const char* kFinishBatchName = "sonar_finish_batch";
constexpr const char* kFinishBatch = R"sql(
WITH histories AS (
  UPDATE clients AS c SET history = u.h
  FROM unnest($1::text[], $2::bytea[]) AS u(r, h) WHERE c.client_ref = u.r
  RETURNING 1
), new_clients AS (
  INSERT INTO clients (client_ref, history)
  SELECT r, h FROM unnest($3::text[], $4::bytea[]) AS u(r, h) ORDER BY r COLLATE "C"
  ON CONFLICT (client_ref) DO NOTHING
  RETURNING 1
), changes AS (
  INSERT INTO count_changes (seq, q_quarters, q_codes, q_cells, q_n, l_codes, l_cells, l_n)
  VALUES ($5, $6::int4[], $7::text[], $8::int2[], $9::int8[], $10::text[], $11::int2[], $12::int8[])
  RETURNING 1
), unfolded AS (
  INSERT INTO count_changes_unfolded (seq)
  SELECT $5 WHERE cardinality($6::int4[]) + cardinality($10::text[]) > 0
  RETURNING 1
), rejected AS (
  INSERT INTO rejected_events (batch_seq, item_index, source, event_id, code, reason, payload)
  SELECT q, i, s, e, co, re, p
  FROM unnest($13::int8[], $14::int4[], $15::text[], $16::text[], $17::text[], $18::text[],
              $19::bytea[]) AS u(q, i, s, e, co, re, p)
  RETURNING 1
), batches AS (
  INSERT INTO ingest_batches (seq, stream_id, batch_id, accepted, duplicates, rejected, part, parts)
  SELECT q, st, b::numeric, a, d, x, pa, ps
  FROM unnest($20::int8[], $21::text[], $22::text[], $23::int4[], $24::int4[], $25::int4[],
              $26::int4[], $27::int4[]) AS u(q, st, b, a, d, x, pa, ps)
  RETURNING 1
)
SELECT (SELECT count(*) FROM new_clients), (SELECT count(*) FROM batches)
FROM (SELECT pg_notify('sonar_counts', $5::text)) AS notify)sql";

}  // namespace

void PrepareBatchSession(pqxx::connection& conn) {
  // One plan per statement and connection (generic plans), made at its first execution and made
  // again only when PostgreSQL invalidates it (an ANALYZE, a schema change): planning a part's
  // statements for its arrays cost PostgreSQL 1.6-2.4 us per event, 7-9% of its work (session
  // 12, BENCHMARKS.md). Every statement here finds its rows by a key (the persons by
  // `clients_pkey` or by ctid, the events by their key), and a generic plan made while the
  // statistics said a table was small (an autovacuum ANALYZE of a new deployment's first rows)
  // could instead scan it whole, and keep doing so for every batch until the next ANALYZE (seen
  // in session 4 under PostgreSQL's default plan cache mode: one ingest process committing about
  // a batch a second). With sequential scans disabled the planner takes an index or a ctid
  // whatever the statistics say; none of these statements has any reason to scan a table.
  pqxx::nontransaction(conn).exec0("SET plan_cache_mode = force_generic_plan");
  pqxx::nontransaction(conn).exec0("SET enable_seqscan = off");
  // No JIT compilation: each statement touches a few hundred rows, but where no statistics
  // describe a key (as for the ROW(...)::event_key lookups) the planner's estimate can pass
  // jit_above_cost, and compiling a statement then took ~80 ms, many times its run time (seen in
  // session 7's experiment with a hash key on clients; BENCHMARKS.md).
  pqxx::nontransaction(conn).exec0("SET jit = off");
  conn.prepare(kNextSeqName, kNextSeq);
  conn.prepare(kMoreSeqsName, kMoreSeqs);
  conn.prepare(kLockClientsName, kLockClients);
  conn.prepare(kInsertEventsName, std::string(kInsertEventsNew) + kInsertEventsIfNew);
  conn.prepare(kSelectEventsName, kSelectEvents);
  conn.prepare(kFinishBatchName, kFinishBatch);
  conn.prepare(kReadClientsName, kReadClients);
  conn.prepare(kWriteClientsName, kWriteClients);
}

namespace {

// A row's place, as ctid shows it: "(block,offset)".
struct Tid {
  uint32_t block = 0;
  uint16_t offset = 0;
};

std::optional<uint32_t> ParseXid(std::string_view text) {
  uint32_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<Tid> ParseTid(std::string_view text) {
  Tid t;
  const char* p = text.data();
  const char* const end = p + text.size();
  if (p == end || *p++ != '(') return std::nullopt;
  auto r = std::from_chars(p, end, t.block);
  if (r.ec != std::errc() || r.ptr == end || *r.ptr != ',') return std::nullopt;
  r = std::from_chars(r.ptr + 1, end, t.offset);
  if (r.ec != std::errc() || r.ptr + 1 != end || *r.ptr != ')') return std::nullopt;
  return t;
}

// A bytea field's bytes in `out` (reused, so reading a batch's histories allocates little).
// PostgreSQL sends bytea as "\x" and hex digits by default (bytea_output = hex); any other form
// goes through libpq.
void FieldBytes(const pqxx::field& field, std::string& out) {
  // Hex digit values; -1 for any other byte.
  static constexpr std::array<int8_t, 256> kNibble = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (int c = 0; c < 10; ++c) t['0' + c] = static_cast<int8_t>(c);
    for (int c = 0; c < 6; ++c) t['a' + c] = t['A' + c] = static_cast<int8_t>(10 + c);
    return t;
  }();
  const std::string_view text(field.c_str(), field.size());
  if (text.size() >= 2 && text[0] == '\\' && text[1] == 'x' && text.size() % 2 == 0) {
    out.resize((text.size() - 2) / 2);
    const auto* hex = reinterpret_cast<const unsigned char*>(text.data() + 2);
    int bad = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      const int hi = kNibble[hex[2 * i]], lo = kNibble[hex[2 * i + 1]];
      bad |= hi | lo;  // negative once any digit was not hex
      out[i] = static_cast<char>((hi << 4) | (lo & 0x0F));
    }
    if (bad >= 0) return;
  }
  const pqxx::binarystring blob(field);
  out.assign(blob.get(), blob.size());
}

// The events as parallel arrays, in the column order of kInsertEventsNew; `seqs` by part,
// `parts` each event's part (empty: all of part 0).
struct EventArrays {
  BinaryArray s{PgElement::kText}, e{PgElement::kText}, c{PgElement::kText}, t{PgElement::kInt8},
      k{PgElement::kInt2}, m{PgElement::kText}, r{PgElement::kInt2}, q{PgElement::kInt8};
  EventArrays(std::span<const core::Event> events, std::span<const int64_t> seqs,
              std::span<const uint32_t> parts) {
    for (size_t i = 0; i < events.size(); ++i) {
      const core::Event& ev = events[i];
      s.Add(ev.source);
      e.Add(ev.event_id);
      c.Add(ev.client_ref);
      t.Add(static_cast<int64_t>(ev.occurred_at.time_since_epoch().count()));
      k.Add(static_cast<int64_t>(ev.kind));
      m.Add(ev.municipality_code);
      r.Add(static_cast<int64_t>(ev.registrant));
      q.Add(seqs[parts.empty() ? 0 : parts[i]]);
    }
  }
};

class PgBatchTransaction final : public ingest::BatchTransaction {
 public:
  PgBatchTransaction(PgConnection& connection, pqxx::connection& conn)
      : connection_(connection), tx_(conn) {
    seqs_.push_back(tx_.exec_prepared(kNextSeqName)[0][0].as<int64_t>());
  }

  absl::Status SetParts(size_t parts) override {
    return Guard([&]() -> absl::Status {
      if (parts <= seqs_.size()) return absl::OkStatus();
      if (seqs_.size() != 1) return absl::InternalError("SetParts called twice");
      for (const auto& row : tx_.exec_prepared(kMoreSeqsName, static_cast<int>(parts))) {
        seqs_.push_back(row[0].as<int64_t>());
      }
      if (seqs_.size() != parts) return absl::InternalError("ingest_batches: too few seqs");
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::vector<std::vector<core::Event>>> LockHistories(
      std::span<const std::string_view> refs) override {
    return Guard([&]() -> absl::StatusOr<std::vector<std::vector<core::Event>>> {
      std::vector<std::vector<core::Event>> out(refs.size());
      existing_.clear();
      if (refs.empty()) return out;
      BinaryArray arr(PgElement::kText);
      for (std::string_view ref : refs) arr.Add(ref);
      const pqxx::result rows = tx_.exec_prepared(kLockClientsName, arr.Param());
      existing_.reserve(rows.size());
      if (auto s = DecodeHistories(
              rows, refs, out,
              [&](const pqxx::row& row) { existing_.emplace_back(row[0].c_str(), row[0].size()); });
          !s.ok()) {
        return s;
      }
      std::sort(existing_.begin(), existing_.end());
      return out;
    });
  }

  absl::StatusOr<std::vector<std::optional<core::Event>>> InsertEvents(
      std::span<const core::Event> events, std::span<const uint32_t> parts) override {
    return Guard([&]() -> absl::StatusOr<std::vector<std::optional<core::Event>>> {
      std::vector<std::optional<core::Event>> out(events.size());
      if (events.empty()) return out;
      if (auto s = CheckParts(parts, events.size()); !s.ok()) return s;
      EventArrays a(events, seqs_, parts);
      const pqxx::result inserted_rows =
          tx_.exec_prepared(kInsertEventsName, a.s.Param(), a.e.Param(), a.c.Param(), a.t.Param(),
                            a.k.Param(), a.m.Param(), a.r.Param(), a.q.Param());
      if (inserted_rows.size() == events.size()) return out;
      // Views into inserted_rows, which lives until the end of this function.
      std::unordered_set<EventKey, EventKeyHash> inserted;
      inserted.reserve(inserted_rows.size());
      for (const auto& row : inserted_rows) {
        inserted.insert({std::string_view(row[0].c_str(), row[0].size()),
                         std::string_view(row[1].c_str(), row[1].size())});
      }
      BinaryArray ks(PgElement::kText), ke(PgElement::kText);
      std::unordered_map<EventKey, size_t, EventKeyHash> missing;  // views into `events`
      missing.reserve(events.size() - inserted.size());
      for (size_t i = 0; i < events.size(); ++i) {
        const EventKey key{events[i].source, events[i].event_id};
        if (inserted.count(key) != 0) continue;
        ks.Add(key.source);
        ke.Add(key.event_id);
        missing.emplace(key, i);
      }
      for (const auto& row : tx_.exec_prepared(kSelectEventsName, ks.Param(), ke.Param())) {
        core::Event stored;
        stored.source = row[0].as<std::string>();
        stored.event_id = row[1].as<std::string>();
        stored.client_ref = row[2].as<std::string>();
        stored.occurred_at = core::Instant{std::chrono::microseconds{row[3].as<int64_t>()}};
        stored.kind = static_cast<core::EventKind>(row[4].as<int>());
        stored.municipality_code = row[5].as<std::string>();
        stored.registrant = static_cast<core::Registrant>(row[6].as<int>());
        auto it = missing.find(EventKey{stored.source, stored.event_id});
        if (it != missing.end()) out[it->second] = std::move(stored);
      }
      return out;
    });
  }

  absl::StatusOr<std::vector<std::vector<core::Event>>> ReadHistories(
      std::span<const std::string_view> refs) override {
    return Guard([&]() -> absl::StatusOr<std::vector<std::vector<core::Event>>> {
      std::vector<std::vector<core::Event>> out(refs.size());
      existing_.clear();
      versions_.clear();
      places_.clear();
      if (refs.empty()) return out;
      BinaryArray arr(PgElement::kText);
      for (std::string_view ref : refs) arr.Add(ref);
      const pqxx::result rows = tx_.exec_prepared(kReadClientsName, arr.Param());
      std::vector<std::tuple<std::string, uint32_t, Tid>> found;  // (ref, xmin, ctid)
      found.reserve(rows.size());
      bool versions_ok = true;
      if (auto s = DecodeHistories(rows, refs, out,
                                   [&](const pqxx::row& row) {
                                     const auto xmin = ParseXid(row[2].c_str());
                                     const auto ctid = ParseTid(row[3].c_str());
                                     versions_ok = versions_ok && xmin && ctid;
                                     found.emplace_back(std::string(row[0].c_str(), row[0].size()),
                                                        xmin.value_or(0), ctid.value_or(Tid{}));
                                   });
          !s.ok()) {
        return s;
      }
      if (!versions_ok) return absl::InternalError("clients: unreadable xmin or ctid");
      std::sort(found.begin(), found.end(),
                [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
      for (auto& [ref, version, place] : found) {
        existing_.push_back(std::move(ref));
        versions_.push_back(version);
        places_.push_back(place);
      }
      return out;
    });
  }

  absl::Status WriteHistoriesIfUnchanged(
      std::span<const std::string_view> refs,
      std::span<const std::vector<core::Event>> histories) override {
    return Guard([&]() -> absl::Status {
      // Persons created by this batch are inserted by Commit, after the events, as in the locking
      // transaction: both take existing persons, then event keys, then new persons.
      BinaryArray refs_to_update(PgElement::kText), blobs(PgElement::kBytea),
          versions(PgElement::kXid), places(PgElement::kTid);
      int64_t updates = 0;
      for (size_t i = 0; i < refs.size(); ++i) {
        const auto it = std::lower_bound(existing_.begin(), existing_.end(), refs[i]);
        if (it == existing_.end() || *it != refs[i]) {
          new_refs_.Add(refs[i]);
          new_blobs_.Add(EncodeHistory(histories[i]));
          ++new_persons_;
          continue;
        }
        refs_to_update.Add(refs[i]);
        blobs.Add(EncodeHistory(histories[i]));
        const auto found = static_cast<size_t>(it - existing_.begin());
        versions.Add(int64_t{versions_[found]});
        places.AddTid(places_[found].block, places_[found].offset);
        ++updates;
      }
      if (updates == 0) return absl::OkStatus();
      const pqxx::row written = tx_.exec_prepared1(kWriteClientsName, refs_to_update.Param(),
                                                   blobs.Param(), versions.Param(), places.Param());
      if (written[0].as<int64_t>() != updates) {
        return absl::AbortedError(ingest::kOptimisticAssumptionBroken);
      }
      return absl::OkStatus();
    });
  }

  absl::Status InsertNewEvents(std::span<const core::Event* const> events,
                               std::span<const uint32_t> parts) override {
    return Guard([&]() -> absl::Status {
      if (events.empty()) return absl::OkStatus();
      if (auto s = CheckParts(parts, events.size()); !s.ok()) return s;
      // (event, its part's seq), sorted by key.
      std::vector<std::pair<const core::Event*, int64_t>> sorted;
      sorted.reserve(events.size());
      for (size_t i = 0; i < events.size(); ++i) {
        sorted.emplace_back(events[i], seqs_[parts.empty() ? 0 : parts[i]]);
      }
      std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
        return std::tie(a.first->source, a.first->event_id) <
               std::tie(b.first->source, b.first->event_id);
      });
      CopyText rows;
      for (const auto& [ev, seq] : sorted) {
        rows.Add(ev->source);
        rows.Add(ev->event_id);
        rows.Add(ev->client_ref);
        rows.Add(ev->occurred_at);
        rows.Add(static_cast<int64_t>(ev->kind));
        rows.Add(ev->municipality_code);
        rows.Add(static_cast<int64_t>(ev->registrant));
        rows.Add(seq);
        rows.EndRow();
      }
      try {
        pqxx::stream_to copy(tx_, "events", kEventColumns);
        copy << rows;
        copy.complete();
      } catch (const pqxx::integrity_constraint_violation& e) {
        // 23P01: the key's exclusion constraint (migration 0008, applied before any batch).
        if (e.sqlstate() != "23P01") throw;
        // Rolled back when the transaction is destroyed.
        return absl::AbortedError(ingest::kOptimisticAssumptionBroken);
      }
      return absl::OkStatus();
    });
  }

  absl::Status StoreHistories(std::span<const std::string_view> refs,
                              std::span<const std::vector<core::Event>> histories) override {
    for (size_t i = 0; i < refs.size(); ++i) {
      const bool exists = std::binary_search(existing_.begin(), existing_.end(), refs[i]);
      (exists ? history_refs_ : new_refs_).Add(refs[i]);
      (exists ? history_blobs_ : new_blobs_).Add(EncodeHistory(histories[i]));
      if (!exists) ++new_persons_;
    }
    return absl::OkStatus();
  }

  absl::Status AddDeltas(const core::QuarterDeltas& quarter_deltas,
                         const core::LiveDeltas& live_deltas) override {
    for (const auto& [key, n] : quarter_deltas) {
      q_quarter_.Add(int64_t{key.quarter_index});
      q_code_.Add(key.municipality_code);
      q_cell_.Add(static_cast<int64_t>(key.cell));
      q_n_.Add(n);
    }
    for (const auto& [key, n] : live_deltas) {
      l_code_.Add(key.first);
      l_cell_.Add(static_cast<int64_t>(key.second));
      l_n_.Add(n);
    }
    return absl::OkStatus();
  }

  absl::Status Quarantine(std::span<const ingest::QuarantinedEvent> events) override {
    for (const ingest::QuarantinedEvent& e : events) {
      if (e.part >= seqs_.size()) return absl::InternalError("quarantine: part out of range");
      x_seq_.Add(seqs_[e.part]);
      x_index_.Add(int64_t{e.index});
      x_source_.Add(e.source);
      x_event_id_.Add(e.event_id);
      x_code_.Add(e.code);
      x_reason_.Add(e.reason);
      x_payload_.Add(e.payload);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> Commit(const ingest::BatchMeta& meta, uint32_t accepted,
                                 uint32_t duplicates, uint32_t rejected) override {
    const ingest::PartOutcome part{meta, accepted, duplicates, rejected};
    return CommitGroup(std::span<const ingest::PartOutcome>(&part, 1));
  }

  absl::StatusOr<int64_t> CommitGroup(std::span<const ingest::PartOutcome> parts) override {
    return Guard([&]() -> absl::StatusOr<int64_t> {
      if (parts.size() != seqs_.size()) {
        return absl::InternalError("commit: not one outcome per part");
      }
      BinaryArray b_seq(PgElement::kInt8), b_stream(PgElement::kText), b_batch(PgElement::kText),
          b_accepted(PgElement::kInt4), b_duplicates(PgElement::kInt4),
          b_rejected(PgElement::kInt4), b_part(PgElement::kInt4), b_parts(PgElement::kInt4);
      for (size_t p = 0; p < parts.size(); ++p) {
        b_seq.Add(seqs_[p]);
        b_stream.Add(parts[p].meta.stream_id);
        b_batch.Add(std::to_string(parts[p].meta.batch_id));
        b_accepted.Add(int64_t{parts[p].accepted});
        b_duplicates.Add(int64_t{parts[p].duplicates});
        b_rejected.Add(int64_t{parts[p].rejected});
        b_part.Add(int64_t{parts[p].meta.part});
        b_parts.Add(int64_t{parts[p].meta.parts});
      }
      const pqxx::result finished = tx_.exec_prepared(
          kFinishBatchName, history_refs_.Param(), history_blobs_.Param(), new_refs_.Param(),
          new_blobs_.Param(), seqs_[0], q_quarter_.Param(), q_code_.Param(), q_cell_.Param(),
          q_n_.Param(), l_code_.Param(), l_cell_.Param(), l_n_.Param(), x_seq_.Param(),
          x_index_.Param(), x_source_.Param(), x_event_id_.Param(), x_code_.Param(),
          x_reason_.Param(), x_payload_.Param(), b_seq.Param(), b_stream.Param(), b_batch.Param(),
          b_accepted.Param(), b_duplicates.Param(), b_rejected.Param(), b_part.Param(),
          b_parts.Param());
      if (finished.size() != 1 ||
          finished[0][1].as<int64_t>() != static_cast<int64_t>(parts.size())) {
        return absl::InternalError("ingest_batches: not one row per part");
      }
      if (finished[0][0].as<int64_t>() != new_persons_) {
        // Not committed: the transaction is rolled back when it is destroyed.
        return absl::AbortedError(ingest::kNewPersonCreatedConcurrently);
      }
      tx_.commit();
      return seqs_[0];
    });
  }

 private:
  // Rows (client_ref, history, ...) of the persons asked for (`refs`, sorted bytewise; the rows
  // may come in any order): each history decoded into `out` at its ref's position, and `found`
  // called with the row.
  static absl::Status DecodeHistories(const pqxx::result& rows,
                                      std::span<const std::string_view> refs,
                                      std::vector<std::vector<core::Event>>& out,
                                      const std::function<void(const pqxx::row&)>& found) {
    std::string blob;
    for (const auto& row : rows) {
      const std::string_view ref(row[0].c_str(), row[0].size());
      const auto it = std::lower_bound(refs.begin(), refs.end(), ref);
      if (it == refs.end() || *it != ref) return absl::InternalError("clients: unasked row");
      FieldBytes(row[1], blob);
      auto decoded = DecodeHistory(blob);
      if (!decoded) return absl::DataLossError("clients.history: undecodable history");
      out[static_cast<size_t>(it - refs.begin())] = std::move(*decoded);
      found(row);
    }
    return absl::OkStatus();
  }

  // Each event's part (empty: all of part 0) is one of the transaction's.
  absl::Status CheckParts(std::span<const uint32_t> parts, size_t events) const {
    if (parts.empty()) return absl::OkStatus();
    if (parts.size() != events) return absl::InternalError("events: not one part per event");
    for (uint32_t p : parts) {
      if (p >= seqs_.size()) return absl::InternalError("events: part out of range");
    }
    return absl::OkStatus();
  }

  template <typename F>
  auto Guard(F&& body) -> decltype(body()) {
    try {
      return body();
    } catch (...) {
      absl::Status status = StatusFromCurrentException();
      // The transaction still refers to the connection; it is replaced on the next Begin().
      if (absl::IsUnavailable(status)) connection_.MarkBroken();
      return status;
    }
  }

  PgConnection& connection_;
  pqxx::work tx_;
  std::vector<int64_t> seqs_;  // ingest_batches.seq of each part of the group; [0] its position
  std::vector<std::string> existing_;  // sorted: locked (or read) persons that have a row
  std::vector<uint32_t> versions_;     // optimistic: xmin of each existing_ row as read
  std::vector<Tid> places_;            // optimistic: ctid of each existing_ row as read
  // Changed persons that have a row, and those to be created.
  BinaryArray history_refs_{PgElement::kText}, history_blobs_{PgElement::kBytea};
  BinaryArray new_refs_{PgElement::kText}, new_blobs_{PgElement::kBytea};
  int64_t new_persons_ = 0;
  BinaryArray q_quarter_{PgElement::kInt4}, q_code_{PgElement::kText}, q_cell_{PgElement::kInt2},
      q_n_{PgElement::kInt8};
  BinaryArray l_code_{PgElement::kText}, l_cell_{PgElement::kInt2}, l_n_{PgElement::kInt8};
  BinaryArray x_seq_{PgElement::kInt8}, x_index_{PgElement::kInt4}, x_source_{PgElement::kText},
      x_event_id_{PgElement::kText}, x_code_{PgElement::kText}, x_reason_{PgElement::kText},
      x_payload_{PgElement::kBytea};
};

}  // namespace

PgBatchStore::PgBatchStore(std::string database_url) : connection_(std::move(database_url)) {}

absl::StatusOr<std::unique_ptr<ingest::BatchTransaction>> PgBatchStore::BeginOptimistic() {
  return Begin();  // one transaction class; the processor calls the optimistic steps
}

absl::StatusOr<std::unique_ptr<ingest::BatchTransaction>> PgBatchStore::Begin() {
  try {
    pqxx::connection& conn = connection_.Get();
    if (prepared_generation_ != connection_.Generation()) {
      PrepareBatchSession(conn);
      prepared_generation_ = connection_.Generation();
    }
    return std::unique_ptr<ingest::BatchTransaction>(
        std::make_unique<PgBatchTransaction>(connection_, conn));
  } catch (...) {
    absl::Status status = StatusFromCurrentException();
    if (absl::IsUnavailable(status)) connection_.Reset();
    return status;
  }
}

}  // namespace sonar::storage
