#include "service/server_runner.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <csignal>
#include <ctime>
#include <fstream>

#include "service/json_log.h"

namespace sonar::service {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

void SetServing(grpc::Server* server, const ServerConfig& config, bool serving) {
  if (server == nullptr) return;
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);
  for (const std::string& name : config.health_services) health->SetServingStatus(name, serving);
}

}  // namespace

void AddServerFlags(CLI::App& app, ServerFlags& flags, const std::string& env_prefix) {
  app.add_option("--listen", flags.listen, "host:port to serve on (port 0: pick a free one)")
      ->envname(env_prefix + "_LISTEN")
      ->capture_default_str();
  app.add_option("--port-file", flags.port_file, "write the bound port to this file");
  app.add_option("--health-listen", flags.health_listen,
                 "host:port of a plaintext server with only grpc.health.v1 (for probes)")
      ->envname(env_prefix + "_HEALTH_LISTEN");
  app.add_option("--tls-cert", flags.tls.cert, "PEM certificate chain of this server")
      ->envname("SONAR_TLS_CERT");
  app.add_option("--tls-key", flags.tls.key, "PEM private key of this server")
      ->envname("SONAR_TLS_KEY");
  app.add_option("--tls-client-ca", flags.tls.client_ca,
                 "PEM CA of client certificates: clients must present one (mutual TLS)")
      ->envname("SONAR_TLS_CLIENT_CA");
  app.add_flag("--plaintext", flags.plaintext, "serve without TLS (must be asked for explicitly)")
      ->envname("SONAR_PLAINTEXT");
  app.add_option("--auth-file", flags.auth_file,
                 "roles by bearer token or client certificate CN; without it every caller may "
                 "call everything")
      ->envname("SONAR_AUTH_FILE");
  app.add_option("--max-connection-age-ms", flags.max_connection_age_ms,
                 "close connections after this age so long streams rebalance across replicas")
      ->capture_default_str();
}

absl::StatusOr<ServerSecurity> LoadServerSecurity(const ServerFlags& flags) {
  auto invalid = [](const absl::Status& status) {
    LogLine("configuration_invalid")
        .Add("code", static_cast<int>(status.code()))
        .Add("error", std::string(status.message()))
        .Error();
    return status;
  };
  ServerSecurity security;
  auto credentials = MakeServerCredentials(flags.tls, flags.plaintext);
  if (!credentials.ok()) return invalid(credentials.status());
  security.credentials = *credentials;
  if (flags.auth_file.empty()) {
    security.authorizer = std::make_shared<const Authorizer>();
  } else {
    auto authorizer = Authorizer::FromFile(flags.auth_file);
    if (!authorizer.ok()) return invalid(authorizer.status());
    security.authorizer = *authorizer;
  }
  LogLine("security_configured")
      .Add("tls", !flags.plaintext)
      .Add("mutual_tls", !flags.tls.client_ca.empty())
      .Add("authorization", security.authorizer->enabled())
      .Info();
  return security;
}

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int RunServer(const ServerConfig& config, const ServerHooks& hooks) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(
      config.listen, config.credentials ? config.credentials : grpc::InsecureServerCredentials(),
      &port);
  builder.SetMaxReceiveMessageSize(config.max_receive_bytes);
  if (config.max_connection_age_ms > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, config.max_connection_age_ms);
    // Streams in flight get time to finish their batches before the connection closes.
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 30'000);
  }
  for (grpc::Service* s : hooks.services) builder.RegisterService(s);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    LogLine("server_start_failed").Add("listen", config.listen).Add("code", 14).Error();
    return 1;
  }
  std::unique_ptr<grpc::Server> health_server;
  if (!config.health_listen.empty()) {
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(config.health_listen, grpc::InsecureServerCredentials());
    health_server = health_builder.BuildAndStart();
    if (!health_server) {
      LogLine("server_start_failed").Add("listen", config.health_listen).Add("code", 14).Error();
      return 1;
    }
  }
  if (!config.port_file.empty()) {
    std::ofstream(config.port_file) << port << "\n";
  }
  bool serving = hooks.healthy ? hooks.healthy() : true;
  SetServing(server.get(), config, serving);
  SetServing(health_server.get(), config, serving);
  LogLine("server_started")
      .Add("listen", config.listen)
      .Add("port", port)
      .Add("serving", serving)
      .Info();

  const sigset_t signals = TerminationSignals();
  const timespec one_second{1, 0};
  int signal = -1;
  while (signal < 0) {
    siginfo_t info;
    signal = sigtimedwait(&signals, &info, &one_second);
    if (signal >= 0) break;
    if (hooks.tick) hooks.tick();
    const bool now_serving = hooks.healthy ? hooks.healthy() : true;
    if (now_serving != serving) {
      serving = now_serving;
      SetServing(server.get(), config, serving);
      SetServing(health_server.get(), config, serving);
      LogLine(serving ? "health_serving" : "health_not_serving").Add("serving", serving).Warn();
    }
  }
  LogLine("shutdown_started")
      .Add("signal", signal)
      .Add("grace_ms", static_cast<int64_t>(config.drain_grace.count()))
      .Info();
  SetServing(server.get(), config, false);
  SetServing(health_server.get(), config, false);
  if (hooks.drain) hooks.drain(config.drain_grace);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  if (health_server) health_server->Shutdown(std::chrono::system_clock::now());
  LogLine("shutdown_complete").Info();
  return 0;
}

}  // namespace sonar::service
