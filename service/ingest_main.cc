// sonar-ingest: applies the schema migrations, then serves IngestService.
#include <CLI/CLI.hpp>
#include <chrono>
#include <optional>

#include "core/reference_data.h"
#include "ingest/ingest_pipeline.h"
#include "ingest/pseudonymizer.h"
#include "service/counter_fold_loop.h"
#include "service/health_probe.h"
#include "service/ingest_service.h"
#include "service/json_log.h"
#include "service/server_runner.h"
#include "storage/migrator.h"
#include "storage/pg_batch_store.h"
#include "storage/pg_connection.h"

namespace {

sonar::core::Instant SystemNow() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sonar;
  CLI::App app{"sonar-ingest: events over gRPC into live counters in PostgreSQL"};
  std::string database_url, log_level = "info";
  service::ServerFlags server_flags{.listen = "127.0.0.1:50051"};
  int workers = 2, max_in_flight = 4, max_batch_events = 10'000, drain_grace_ms = 25'000;
  int max_group_events = 4'000;
  int max_streams = 256;
  uint64_t max_inflight_bytes = uint64_t{256} << 20;
  int fold_interval_ms = 1000;
  bool migrate_only = false;
  std::string hmac_key_file;
  app.set_config("--config", "", "Read options from a TOML/INI file");
  app.add_option("--database-url", database_url, "libpq URL of the database")
      ->envname("SONAR_DATABASE_URL")
      ->required();
  service::AddServerFlags(app, server_flags, "SONAR_INGEST");
  app.add_option("--workers", workers, "database connections committing batches")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--max-group-events", max_group_events,
                 "a worker commits the request parts queued for it in one transaction while they "
                 "hold at most this many events; 0: one transaction per part")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--max-in-flight", max_in_flight, "batches per stream between read and ack")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--max-batch-events", max_batch_events, "events allowed in one request")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--max-streams", max_streams,
                 "open Ingest streams; more are refused with RESOURCE_EXHAUSTED")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  app.add_option("--max-inflight-bytes", max_inflight_bytes,
                 "request bytes read and not yet committed, over all calls; streams stop reading "
                 "beyond it, a larger request gets RESOURCE_EXHAUSTED")
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--fold-interval-ms", fold_interval_ms,
                 "how often the batches' counter deltas are folded into the counter tables")
      ->check(CLI::Range(10, 600'000))
      ->capture_default_str();
  app.add_option("--drain-grace-ms", drain_grace_ms, "time to finish in-flight work on SIGTERM")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->envname("SONAR_LOG_LEVEL")
      ->capture_default_str();
  app.add_flag("--migrate-only", migrate_only, "apply the schema migrations and exit");
  app.add_option("--hmac-key-file", hmac_key_file,
                 "secret (>= 32 bytes) for pseudonymising client refs with HMAC-SHA256 before "
                 "they are stored; without it refs are stored as sent")
      ->envname("SONAR_HMAC_KEY_FILE");
  CLI11_PARSE(app, argc, argv);

  service::BlockTerminationSignals();
  service::InitJsonLogging("sonar-ingest", log_level);

  auto applied = storage::ApplyMigrations(database_url);
  if (!applied.ok()) {
    service::LogLine("migrations_failed")
        .Add("code", static_cast<int>(applied.status().code()))
        .Add("error", std::string(applied.status().message()))
        .Error();
    return 1;
  }
  service::LogLine("migrations_applied")
      .Add("applied", static_cast<uint64_t>(applied->size()))
      .Add("known", static_cast<uint64_t>(storage::BuiltinMigrations().size()))
      .Info();
  if (migrate_only) return 0;

  auto security = service::LoadServerSecurity(server_flags);
  if (!security.ok()) return 2;

  std::optional<ingest::Pseudonymizer> pseudonymizer;
  if (!hmac_key_file.empty()) {
    auto loaded = ingest::Pseudonymizer::FromKeyFile(hmac_key_file);
    if (!loaded.ok()) {
      service::LogLine("hmac_key_invalid")
          .Add("code", static_cast<int>(loaded.status().code()))
          .Add("error", std::string(loaded.status().message()))
          .Error();
      return 1;
    }
    pseudonymizer = *std::move(loaded);
    service::LogLine("pseudonymisation_enabled").Add("key_id", pseudonymizer->key_id()).Info();
  } else {
    service::LogLine("pseudonymisation_disabled")
        .Add("hint", "pass --hmac-key-file so client refs are stored as keyed pseudonyms")
        .Warn();
  }

  const core::ReferenceData& reference = core::ReferenceData::Builtin();
  ingest::IngestPipeline pipeline(
      [&](int) { return std::make_unique<storage::PgBatchStore>(database_url); }, reference,
      SystemNow,
      {.workers = workers,
       .queue_capacity = 1024,
       .max_attempts = 5,
       .max_group_events = static_cast<size_t>(max_group_events),
       .pseudonymizer = pseudonymizer ? &*pseudonymizer : nullptr});
  service::IngestServiceImpl ingest_service(pipeline,
                                            {.max_in_flight_per_stream = max_in_flight,
                                             .max_events_per_batch = max_batch_events,
                                             .max_streams = max_streams,
                                             .max_inflight_bytes = max_inflight_bytes},
                                            security->authorizer);
  const auto health = service::HealthProbe::OfDatabase(database_url);
  service::CounterFoldLoop folding(database_url, std::chrono::milliseconds(fold_interval_ms));
  folding.Start();

  auto last_tick = std::chrono::steady_clock::now();
  ingest::PipelineStats last_stats;
  service::FoldStats last_folds;
  service::ServerHooks hooks;
  hooks.services = {&ingest_service};
  hooks.healthy = [&] { return health->Healthy(); };
  hooks.drain = [&](std::chrono::milliseconds grace) {
    const bool all = ingest_service.Drain(grace);
    pipeline.Shutdown();
    folding.Stop();
    service::LogLine("drained").Add("all_streams_ended", all).Info();
  };
  hooks.tick = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_tick < std::chrono::seconds(10)) return;
    const ingest::PipelineStats s = pipeline.Stats();
    const service::FoldStats f = folding.Stats();
    const double seconds = std::chrono::duration<double>(now - last_tick).count();
    const uint64_t events =
        (s.events_accepted + s.events_duplicate + s.events_rejected) -
        (last_stats.events_accepted + last_stats.events_duplicate + last_stats.events_rejected);
    service::LogLine("throughput")
        .Add("events_per_s", events / seconds)
        .Add("batches", s.batches_committed - last_stats.batches_committed)
        .Add("failed_batches", s.batches_failed - last_stats.batches_failed)
        .Add("retried_parts", s.parts_retried - last_stats.parts_retried)
        .Add("parts", s.parts_committed - last_stats.parts_committed)
        .Add("transactions", s.transactions_committed - last_stats.transactions_committed)
        .Add("accepted_total", s.events_accepted)
        .Add("duplicates_total", s.events_duplicate)
        .Add("rejected_total", s.events_rejected)
        .Add("queued", static_cast<uint64_t>(s.queued))
        .Add("inflight_bytes", ingest_service.inflight_bytes().now)
        .Add("folds", f.folds - last_folds.folds)
        .Add("folded_batches", f.folded_batches - last_folds.folded_batches)
        .Add("fold_failures", f.failures - last_folds.failures)
        .Info();
    last_folds = f;
    last_tick = now;
    last_stats = s;
  };
  return service::RunServer({.program = "sonar-ingest",
                             .listen = server_flags.listen,
                             .port_file = server_flags.port_file,
                             .credentials = security->credentials,
                             .health_listen = server_flags.health_listen,
                             .max_connection_age_ms = server_flags.max_connection_age_ms,
                             .health_services = {"sonar.v1.IngestService"},
                             .drain_grace = std::chrono::milliseconds(drain_grace_ms)},
                            hooks);
}
