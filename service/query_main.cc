// sonar-query: serves QueryService from the counters the ingest service keeps.
#include <CLI/CLI.hpp>
#include <chrono>

#include "core/reference_data.h"
#include "service/health_probe.h"
#include "service/json_log.h"
#include "service/query_service.h"
#include "service/scheduling.h"
#include "service/server_runner.h"
#include "storage/pg_connection.h"
#include "storage/pg_counts_feed.h"

int main(int argc, char** argv) {
  using namespace sonar;
  CLI::App app{"sonar-query: live counts, quarterly figures and the publication"};
  std::string database_url, read_database_url, log_level = "info";
  service::ServerFlags server_flags{.listen = "127.0.0.1:50052"};
  int workers = 2, drain_grace_ms = 5'000, realtime_priority = 0, max_watchers = 1024;
  app.set_config("--config", "", "Read options from a TOML/INI file");
  app.add_option("--database-url", database_url, "libpq URL of the database")
      ->envname("SONAR_DATABASE_URL")
      ->required();
  app.add_option("--read-database-url", read_database_url,
                 "libpq URL for counter reads, e.g. a streaming replica (default: "
                 "--database-url); publications (read and written) and change notifications use "
                 "--database-url")
      ->envname("SONAR_READ_DATABASE_URL");
  service::AddServerFlags(app, server_flags, "SONAR_QUERY");
  app.add_option("--workers", workers, "database connections serving reads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--drain-grace-ms", drain_grace_ms, "time to finish in-flight work on SIGTERM")
      ->capture_default_str();
  app.add_option("--max-watchers", max_watchers,
                 "open WatchLiveCounts streams at most; more get RESOURCE_EXHAUSTED")
      ->envname("SONAR_QUERY_MAX_WATCHERS")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--realtime-priority", realtime_priority,
                 "run the process in the SCHED_RR class at this priority (1-99; 0: the normal "
                 "class), so that on cores shared with sonar-ingest and PostgreSQL a request "
                 "does not wait for their time slices; needs CAP_SYS_NICE or RLIMIT_RTPRIO "
                 "(docs/scaling.md)")
      ->envname("SONAR_QUERY_REALTIME_PRIORITY")
      ->check(CLI::Range(0, service::kMaxRealtimePriority))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->envname("SONAR_LOG_LEVEL")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  service::BlockTerminationSignals();
  service::InitJsonLogging("sonar-query", log_level);
  if (realtime_priority > 0) {
    // Before any thread starts: every thread inherits the class, also those gRPC starts later
    // from any other thread. Besides answering (about 0.05 ms of CPU a request from memory),
    // the process applies one change row per committed batch part to its read model and runs
    // the database reads and publishing, which mostly wait for the database.
    const absl::Status scheduled = service::UseRealtimePriority(realtime_priority);
    if (!scheduled.ok()) {
      service::LogLine("realtime_priority_refused")
          .Add("code", static_cast<int>(scheduled.code()))
          .Add("reason", std::string(scheduled.message()))
          .Error();
      return 2;
    }
    service::LogLine("realtime_priority")
        .Add("policy", "SCHED_RR")
        .Add("priority", realtime_priority)
        .Info();
  }
  auto security = service::LoadServerSecurity(server_flags);
  if (!security.ok()) return 2;
  const core::ReferenceData& reference = core::ReferenceData::Builtin();
  const std::string read_url = read_database_url.empty() ? database_url : read_database_url;
  service::WorkerPool<service::QueryBackend> backends(
      workers, [&](int) { return std::make_unique<service::QueryBackend>(database_url, read_url); },
      1024);
  // The read model follows the primary (NOTIFY is not replicated); it wakes the watchers after
  // every applied change.
  storage::PgCountsFeed feed(database_url);
  service::QueryServiceImpl query_service(
      backends, reference,
      [] {
        return std::chrono::time_point_cast<std::chrono::microseconds>(
            std::chrono::system_clock::now());
      },
      security->authorizer, &feed, static_cast<size_t>(max_watchers));
  feed.Start([&] { query_service.NotifyChanged(); });
  const auto health = service::HealthProbe::OfDatabase(read_url);

  service::ServerHooks hooks;
  hooks.services = {&query_service};
  bool listening = false;
  storage::PgCountsFeed::Stats reported;
  hooks.tick = [&] {
    // Reads depend on the feed; say when it connects or loses its connection, and when it
    // (re)loads its snapshot.
    if (feed.connected() != listening) {
      listening = !listening;
      service::LogLine(listening ? "change_listener_connected" : "change_listener_disconnected")
          .Add("connected", listening)
          .Info();
    }
    const storage::PgCountsFeed::Stats now = feed.stats();
    if (now.reloads != reported.reloads) {
      service::LogLine("read_model_loaded")
          .Add("reloads", now.reloads)
          .Add("forced_reloads", now.forced_reloads)
          .Add("load_ms", now.last_reload_ms)
          .Add("batches_applied", now.batches_applied)
          .Info();
    }
    reported = now;
  };
  hooks.healthy = [&] { return health->Healthy(); };
  hooks.drain = [&](std::chrono::milliseconds) {
    feed.Stop();
    query_service.StopWatches();
    backends.Shutdown();
  };
  return service::RunServer({.program = "sonar-query",
                             .listen = server_flags.listen,
                             .port_file = server_flags.port_file,
                             .credentials = security->credentials,
                             .health_listen = server_flags.health_listen,
                             .max_connection_age_ms = server_flags.max_connection_age_ms,
                             .health_services = {"sonar.v1.QueryService"},
                             .drain_grace = std::chrono::milliseconds(drain_grace_ms)},
                            hooks);
}
