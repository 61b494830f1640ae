#include "storage/pg_counts_feed.h"

#include <charconv>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <stdexcept>

#include "storage/binary_array.h"
#include "storage/count_change_row.h"
#include "storage/pg_status.h"

namespace sonar::storage {

// Forwards one channel's notifications to the feed (on the feed's thread).
class FeedReceiver final : public pqxx::notification_receiver {
 public:
  FeedReceiver(pqxx::connection_base& conn, const std::string& channel, PgCountsFeed& feed)
      : pqxx::notification_receiver(conn, channel), feed_(feed) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    feed_.OnNotification(channel(), payload);
  }

 private:
  PgCountsFeed& feed_;
};

namespace {

constexpr const char* kCountsChannel = "sonar_counts";
constexpr const char* kPublicationsChannel = "sonar_publications";

constexpr const char* kSnapshotQuarters = R"sql(
SELECT quarter, municipality_code, cell, sum(n)::int8 FROM quarter_deltas_all GROUP BY 1, 2, 3)sql";
constexpr const char* kSnapshotLive = R"sql(
SELECT municipality_code, cell, sum(n)::int8 FROM live_counts_all GROUP BY 1, 2)sql";
constexpr const char* kSnapshotSeqs = "SELECT seq FROM count_changes";

// The wanted seqs' rows; their arrays are parsed here (DecodeCountChange).
constexpr const char* kFetchChanges = R"sql(
SELECT q_quarters, q_codes, q_cells, q_n, l_codes, l_cells, l_n
FROM count_changes WHERE seq = ANY($1::int8[]))sql";

std::string NewFeedId() {
  std::random_device rd;
  return std::to_string((static_cast<uint64_t>(rd()) << 32) ^ rd());
}

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

PgCountsFeed::PgCountsFeed(std::string database_url)
    : url_(std::move(database_url)), feed_id_(NewFeedId()) {}

void PgCountsFeed::Start(std::function<void()> on_change) {
  if (thread_.joinable()) return;
  on_change_ = on_change ? std::move(on_change) : [] {};
  thread_ = std::thread([this] { Run(); });
}

PgCountsFeed::~PgCountsFeed() { Stop(); }

void PgCountsFeed::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

bool PgCountsFeed::Read(const std::function<void(const core::CountsModel&)>& read) const {
  std::shared_lock lock(mu_);
  if (!ready_) return false;
  read(model_);
  return true;
}

bool PgCountsFeed::ready() const {
  std::shared_lock lock(mu_);
  return ready_;
}

uint64_t PgCountsFeed::publication_epoch() const {
  std::shared_lock lock(mu_);
  return epoch_;
}

PgCountsFeed::Stats PgCountsFeed::stats() const {
  std::shared_lock lock(mu_);
  return stats_;
}

void PgCountsFeed::OnNotification(const std::string& channel, const std::string& payload) {
  if (channel == kPublicationsChannel) {
    pending_.push_back({Pending::Kind::kPublication, 0});
    return;
  }
  if (auto seq = ParseInt(payload)) {
    pending_.push_back({Pending::Kind::kBatch, *seq});
    return;
  }
  // "sync:<feed id>:<token>"; other processes' markers are ignored.
  const std::string prefix = "sync:" + feed_id_ + ":";
  if (payload.rfind("sync:", 0) == 0) {
    if (payload.rfind(prefix, 0) == 0) {
      if (auto token = ParseInt(std::string_view(payload).substr(prefix.size()))) {
        pending_.push_back({Pending::Kind::kSync, *token});
      }
    }
    return;
  }
  std::unique_lock lock(mu_);
  ++stats_.ignored;
}

void PgCountsFeed::MarkSyncsDone(const std::vector<int64_t>& tokens) {
  if (tokens.empty()) return;
  {
    std::unique_lock lock(mu_);
    for (int64_t t : tokens) {
      if (waiting_.count(t) != 0) done_.insert(t);
    }
  }
  synced_.notify_all();
}

void PgCountsFeed::Reload(pqxx::connection& conn, bool forced) {
  // Everything notified so far committed before the snapshot below, which therefore contains it.
  std::vector<int64_t> covered_syncs;
  for (const Pending& p : pending_) {
    if (p.kind == Pending::Kind::kSync) covered_syncs.push_back(p.value);
  }
  pending_.clear();
  uint64_t generation = 0;
  {
    std::unique_lock lock(mu_);
    generation = ++reloads_started_;
  }
  const auto started = std::chrono::steady_clock::now();
  core::CountsModel model;
  std::unordered_set<int64_t> seqs;
  {
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only> tx(
        conn);
    for (const auto& row : tx.exec(kSnapshotQuarters)) {
      model.AddQuarter(row[0].as<int>(), row[1].c_str(), static_cast<core::Cell>(row[2].as<int>()),
                       row[3].as<int64_t>());
    }
    for (const auto& row : tx.exec(kSnapshotLive)) {
      model.AddLive(row[0].c_str(), static_cast<core::Cell>(row[1].as<int>()),
                    row[2].as<int64_t>());
    }
    for (const auto& row : tx.exec(kSnapshotSeqs)) seqs.insert(row[0].as<int64_t>());
    tx.commit();
  }
  snapshot_seqs_ = std::move(seqs);
  {
    std::unique_lock lock(mu_);
    model_ = std::move(model);
    ready_ = true;
    ++epoch_;
    installed_reload_ = generation;
    ++stats_.reloads;
    if (forced) ++stats_.forced_reloads;
    stats_.last_reload_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
  }
  synced_.notify_all();
  MarkSyncsDone(covered_syncs);
  on_change_();
}

bool PgCountsFeed::ApplyPending(pqxx::connection& conn) {
  if (pending_.empty()) return true;
  std::vector<Pending> items = std::move(pending_);
  pending_.clear();
  BinaryArray wanted(PgElement::kInt8);
  size_t wanted_count = 0;
  bool publications = false;
  std::vector<int64_t> syncs;
  for (const Pending& p : items) {
    switch (p.kind) {
      case Pending::Kind::kBatch:
        if (snapshot_seqs_.count(p.value) == 0) {
          wanted.Add(p.value);
          ++wanted_count;
        }
        break;
      case Pending::Kind::kPublication:
        publications = true;
        break;
      case Pending::Kind::kSync:
        syncs.push_back(p.value);
        break;
    }
  }
  if (wanted_count > 0) {
    std::vector<CountChangeRow> changes;
    {
      pqxx::nontransaction tx(conn);
      for (const auto& row : tx.exec_params(kFetchChanges, wanted.Param())) {
        auto change = DecodeCountChange(row, 0);
        if (!change.ok()) throw std::runtime_error(std::string(change.status().message()));
        changes.push_back(*std::move(change));
      }
    }
    if (changes.size() != wanted_count) {
      // A change row is gone (pruned): this feed fell too far behind; start from a snapshot.
      for (const Pending& p : items) {
        if (p.kind == Pending::Kind::kSync) pending_.insert(pending_.begin(), p);
      }
      return false;
    }
    std::unique_lock lock(mu_);
    for (const CountChangeRow& c : changes) {
      for (size_t i = 0; i < c.q_n.size(); ++i) {
        model_.AddQuarter(static_cast<int>(c.q_quarters[i]), c.q_codes[i],
                          static_cast<core::Cell>(c.q_cells[i]), c.q_n[i]);
      }
      for (size_t i = 0; i < c.l_n.size(); ++i) {
        model_.AddLive(c.l_codes[i], static_cast<core::Cell>(c.l_cells[i]), c.l_n[i]);
      }
    }
    stats_.batches_applied += wanted_count;
  }
  if (publications) {
    std::unique_lock lock(mu_);
    ++epoch_;
  }
  MarkSyncsDone(syncs);
  if (wanted_count > 0 || publications) on_change_();
  return true;
}

absl::Status PgCountsFeed::Sync(PgConnection& primary, std::chrono::milliseconds timeout) {
  const int64_t token = next_token_++;
  {
    std::unique_lock lock(mu_);
    if (!ready_) return absl::UnavailableError("the counters' read model is not ready");
    waiting_.insert(token);
  }
  auto forget = [&] {
    std::unique_lock lock(mu_);
    waiting_.erase(token);
    done_.erase(token);
  };
  try {
    pqxx::nontransaction tx(primary.Get());
    tx.exec_params("SELECT pg_notify('sonar_counts', $1)",
                   "sync:" + feed_id_ + ":" + std::to_string(token));
  } catch (...) {
    absl::Status status = StatusFromCurrentException();
    if (absl::IsUnavailable(status)) primary.MarkBroken();
    forget();
    return absl::UnavailableError("could not send the sync marker: " +
                                  std::string(status.message()));
  }
  std::unique_lock lock(mu_);
  // A snapshot begun after the marker was sent contains everything committed before it too.
  const uint64_t sent_at_generation = reloads_started_;
  const bool reached = synced_.wait_for(lock, timeout, [&] {
    return done_.count(token) != 0 || (ready_ && installed_reload_ > sent_at_generation) ||
           !connected_.load();
  });
  const bool ok = reached && connected_.load() && ready_;
  waiting_.erase(token);
  done_.erase(token);
  if (!ok) return absl::UnavailableError("the counters' read model did not catch up in time");
  return absl::OkStatus();
}

void PgCountsFeed::Run() {
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_) {
    try {
      pqxx::connection conn(WithClientTimeouts(url_));
      FeedReceiver counts(conn, kCountsChannel, *this);
      FeedReceiver publications(conn, kPublicationsChannel, *this);
      conn.get_notifs();  // issues the LISTENs
      connected_ = true;
      backoff = std::chrono::milliseconds(100);
      Reload(conn, false);
      // Wakes at least every 100 ms to notice Stop().
      while (!stop_) {
        conn.await_notification(0, 100'000);
        if (!ApplyPending(conn)) Reload(conn, true);
      }
    } catch (...) {
      // Connection lost or refused: retry with backoff; readers fall back to the database.
    }
    pending_.clear();
    {
      std::unique_lock lock(mu_);
      ready_ = false;
      connected_ = false;
    }
    synced_.notify_all();
    on_change_();
    for (auto waited = std::chrono::milliseconds(0); waited < backoff && !stop_;
         waited += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

}  // namespace sonar::storage
