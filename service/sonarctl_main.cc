// sonarctl: command-line client of the sonar services.
//   sonarctl --addr HOST:PORT ingest --file events.ndjson   stream events, print the summary
//   sonarctl --addr HOST:PORT live --region 29             print a region's live counts
//   sonarctl generate-seed --out events.ndjson             events that reproduce the seed table
//   sonarctl --addr HOST:PORT health [--service NAME]      exit 0 if SERVING (for probes)
//   sonarctl --addr HOST:PORT report --region 29 --quarter 2022-Q3 [--format
//   text|csv|json|markdown]
//            [--provisional] [--revision N]            the publication (no --region: national)
//   sonarctl --addr HOST:PORT publish --quarter 2022-Q3    freeze a quarter as a new revision
//   sonarctl --addr HOST:PORT diff --quarter 2022-Q3       cells changed since the last revision
//   sonarctl --addr HOST:PORT watch --region 29            follow the live counts
//   sonarctl verify --database-url URL                     counters == recomputation from events
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "service/client_channel.h"
#include "service/proto_mapping.h"
#include "service/sonarctl_ingest.h"
#include "service/sonarctl_query.h"
#include "sim/seed_population.h"
#include "sonar/v1/query.grpc.pb.h"
#include "storage/pg_verifier.h"

namespace {

std::string Grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back('.');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

void PrintRow(const std::string& name, const sonar::v1::Cells& c, int64_t register_total) {
  std::printf("%-32s %10s %10s %10s %10s %10s %10s\n", name.c_str(),
              Grouped(c.gemeente_with_profile()).c_str(),
              Grouped(c.gemeente_without_profile()).c_str(), Grouped(c.uwv_with_profile()).c_str(),
              Grouped(c.uwv_without_profile()).c_str(), Grouped(c.total_in_sonar()).c_str(),
              Grouped(register_total).c_str());
}

int Live(const std::string& addr, const std::string& region) {
  auto stub = sonar::v1::QueryService::NewStub(sonar::service::MakeChannel(addr));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  sonar::v1::GetLiveCountsRequest req;
  req.set_region(region);
  req.set_fresh(true);  // an operator wants every acknowledged batch counted
  sonar::v1::LiveCounts resp;
  grpc::Status status = stub->GetLiveCounts(&ctx, req, &resp);
  if (!status.ok()) {
    std::fprintf(stderr, "live: %s (code %d)\n", status.error_message().c_str(),
                 static_cast<int>(status.error_code()));
    return 1;
  }
  const auto& r = resp.region();
  std::printf("Live counts, region %s %s (%s), as of %s\n\n", r.number().c_str(), r.name().c_str(),
              r.cbs_code().c_str(),
              google::protobuf::util::TimeUtil::ToString(resp.as_of()).c_str());
  std::printf("%-32s %10s %10s %10s %10s %10s %10s\n", "Gemeente", "Gem+prof", "Gem-prof",
              "UWV+prof", "UWV-prof", "In Sonar", "Register");
  for (const auto& m : r.municipalities()) PrintRow(m.name(), m.cells(), m.register_total());
  PrintRow("TOTAAL AMR", r.total(), r.register_total());
  std::printf("\nKnown in Sonar: %s of %s in the register (%.1f%%)\n",
              Grouped(r.known_in_sonar()).c_str(), Grouped(r.register_total()).c_str(),
              r.coverage() * 100.0);
  return 0;
}

int Verify(const std::string& url) {
  auto report = sonar::storage::VerifyCounters(url);
  if (!report.ok()) {
    std::fprintf(stderr, "verify: %s\n", std::string(report.status().message()).c_str());
    return 2;
  }
  std::printf("events %lld (accepted in batches %lld), persons %lld\n",
              static_cast<long long>(report->events),
              static_cast<long long>(report->accepted_in_batches),
              static_cast<long long>(report->persons));
  std::printf("mismatches: live %lld, quarter %lld, history %lld\n",
              static_cast<long long>(report->live_mismatches),
              static_cast<long long>(report->quarter_mismatches),
              static_cast<long long>(report->history_mismatches));
  for (const std::string& e : report->examples) std::printf("  %s\n", e.c_str());
  std::printf("%s\n", report->ok() ? "OK" : "MISMATCH");
  return report->ok() ? 0 : 1;
}

int Health(const std::string& addr, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(sonar::service::MakeChannel(addr));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  const grpc::Status status = stub->Check(&ctx, req, &resp);
  if (!status.ok()) {
    std::printf("UNREACHABLE (code %d)\n", static_cast<int>(status.error_code()));
    return 1;
  }
  std::printf("%s\n",
              grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()).c_str());
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

// Writes the synthetic Zeeland population whose 2022-Q3 figures are the seed publication.
int GenerateSeed(const std::string& out_path, uint64_t seed, bool noise) {
  sonar::sim::PopulationOptions options;
  options.quarter = {2022, 3};
  options.rows = sonar::sim::ZeelandSeedRows();
  options.register_only = 1454;  // 4,125 in the register - 2,671 known in Sonar
  options.sonar_only = 37;
  options.seed = seed;
  options.noise = noise;
  options.now = sonar::core::Instant{*sonar::core::ParseDate("2022-11-15")};
  const auto population =
      sonar::sim::GeneratePopulation(options, sonar::core::ReferenceData::Builtin());
  std::ofstream out(out_path);
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", out_path.c_str());
    return 1;
  }
  google::protobuf::util::JsonPrintOptions json;
  json.add_whitespace = false;
  for (const auto& event : population.events) {
    std::string line;
    if (!google::protobuf::util::MessageToJsonString(sonar::service::ToProto(event), &line, json)
             .ok()) {
      return 1;
    }
    out << line << "\n";
  }
  std::printf("wrote %zu events to %s\n", population.events.size(), out_path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sonarctl: client of the sonar ingest and query services"};
  app.require_subcommand(1);
  std::string addr;
  app.add_option("--addr", addr,
                 "host:port of the service (default 127.0.0.1:50051 for ingest, "
                 "127.0.0.1:50052 for the query commands)");

  auto* ingest = app.add_subcommand("ingest", "stream events (NDJSON, protobuf JSON mapping)");
  sonar::service::IngestOptions ingest_options;
  ingest->add_option("--file", ingest_options.file, "NDJSON file, one Event per line ('-' = stdin)")
      ->required();
  ingest->add_option("--batch-size", ingest_options.batch_size, "events per request")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  ingest->add_option("--in-flight", ingest_options.in_flight, "requests sent before their ack")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  ingest
      ->add_option("--retries", ingest_options.retries,
                   "reconnect and resend unacknowledged batches this many times in a row "
                   "without progress")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();

  auto* live = app.add_subcommand("live", "print a region's live counts");
  std::string region;
  live->add_option("--region", region, "publication number (29) or CBS code (AM24)")->required();

  auto* generate = app.add_subcommand(
      "generate-seed", "write events (NDJSON) whose Zeeland 2022-Q3 figures are the seed table");
  std::string generate_out;
  uint64_t generate_seed = 1;
  bool generate_plain = false;
  generate->add_option("--out", generate_out, "output file")->required();
  generate->add_option("--seed", generate_seed, "random seed")->capture_default_str();
  generate->add_flag("--no-noise", generate_plain, "only the events that make up the end state");

  auto* health = app.add_subcommand("health", "check grpc.health.v1; exit 0 if SERVING");
  std::string health_service;
  health->add_option("--service", health_service, "service name (default: the whole server)");

  auto* report = app.add_subcommand("report", "print a quarter's publication");
  sonar::service::ReportCommand report_command;
  report->add_option("--region", report_command.region, "region; omit for the national report");
  report->add_option("--quarter", report_command.quarter, "e.g. 2022-Q3")->required();
  report->add_option("--format", report_command.format, "text, csv, json or markdown")
      ->capture_default_str();
  report->add_flag("--provisional", report_command.provisional, "the figures as known now");
  report->add_option("--revision", report_command.revision, "a specific published revision");

  auto* publish = app.add_subcommand("publish", "freeze an ended quarter as a new revision");
  std::string quarter;
  publish->add_option("--quarter", quarter, "e.g. 2022-Q3")->required();

  auto* diff = app.add_subcommand("diff",
                                  "cells whose provisional value differs from the last "
                                  "published revision");
  std::string diff_region;
  diff->add_option("--quarter", quarter, "e.g. 2022-Q3")->required();
  diff->add_option("--region", diff_region, "limit to one region");

  auto* watch = app.add_subcommand("watch", "print the live counts on every change");
  int watch_count = 0;
  watch->add_option("--region", region, "publication number (29) or CBS code (AM24)")->required();
  watch->add_option("--count", watch_count, "stop after this many messages (0 = never)");

  auto* verify = app.add_subcommand(
      "verify",
      "check the counters against a recomputation from the stored events (exit 1 on "
      "a mismatch)");
  std::string verify_url;
  verify->add_option("--database-url", verify_url, "libpq URL of the database")
      ->envname("SONAR_DATABASE_URL")
      ->required();

  sonar::service::ClientSecurity security;
  app.add_option("--tls-ca", security.ca_file, "use TLS, trusting this CA (PEM)")
      ->envname("SONAR_TLS_CA");
  app.add_option("--tls-cert", security.cert_file, "client certificate for mutual TLS (PEM)");
  app.add_option("--tls-key", security.key_file, "its private key (PEM)");
  app.add_option("--token-file", security.token_file, "bearer token (sent only over TLS)")
      ->envname("SONAR_TOKEN_FILE");
  app.add_option("--tls-server-name", security.server_name,
                 "name to check the server certificate against (default: the host in --addr)");

  CLI11_PARSE(app, argc, argv);
  if (auto configured = sonar::service::ConfigureClientChannels(security); !configured.ok()) {
    std::fprintf(stderr, "sonarctl: %s\n", std::string(configured.message()).c_str());
    return 2;
  }
  if (verify->parsed()) return Verify(verify_url);
  if (addr.empty()) addr = ingest->parsed() ? "127.0.0.1:50051" : "127.0.0.1:50052";
  if (health->parsed()) return Health(addr, health_service);
  if (report->parsed()) {
    report_command.addr = addr;
    return sonar::service::RunReport(report_command);
  }
  if (publish->parsed()) return sonar::service::RunPublish(addr, quarter);
  if (diff->parsed()) return sonar::service::RunDiff(addr, quarter, diff_region);
  if (watch->parsed()) return sonar::service::RunWatch(addr, region, watch_count);
  if (generate->parsed()) return GenerateSeed(generate_out, generate_seed, !generate_plain);
  if (ingest->parsed()) {
    ingest_options.addr = addr;
    return sonar::service::RunIngest(ingest_options, std::cout, std::cerr);
  }
  if (live->parsed()) return Live(addr, region);
  return 2;
}
