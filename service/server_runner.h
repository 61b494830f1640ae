// What both servers share: listening, gRPC health (grpc.health.v1) and reflection, JSON logs,
// and the SIGTERM drain (health NOT_SERVING at once, no new streams, in-flight work finished,
// exit 0).
#pragma once

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "service/security.h"

namespace sonar::service {

// The listening and security flags both servers share.
struct ServerFlags {
  std::string listen;
  std::string port_file;
  std::string health_listen;  // plaintext, health-only port for orchestrator probes
  TlsFiles tls;
  bool plaintext = false;
  std::string auth_file;
  int max_connection_age_ms = 0;  // 0 = connections live as long as the client wants
};

// Registers --listen (env <ENV_PREFIX>_LISTEN), --port-file, --health-listen, --tls-cert,
// --tls-key, --tls-client-ca, --plaintext, --auth-file (env SONAR_AUTH_FILE) and
// --max-connection-age-ms.
void AddServerFlags(CLI::App& app, ServerFlags& flags, const std::string& env_prefix);

// The credentials and authorizer the flags ask for; logs what it chose, never a secret.
struct ServerSecurity {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::shared_ptr<const Authorizer> authorizer;
};
// Logs `configuration_invalid` (with the status code and message) when it fails.
[[nodiscard]] absl::StatusOr<ServerSecurity> LoadServerSecurity(const ServerFlags& flags);

struct ServerConfig {
  std::string program;    // "sonar-ingest"
  std::string listen;     // "127.0.0.1:50051"; port 0 picks a free port
  std::string port_file;  // if set, the bound port is written there
  std::shared_ptr<grpc::ServerCredentials> credentials;  // null = plaintext
  std::string health_listen;                 // if set, a plaintext server with only grpc.health.v1
  int max_connection_age_ms = 0;             // GRPC_ARG_MAX_CONNECTION_AGE_MS; 0 = unset
  std::vector<std::string> health_services;  // service names reported in grpc.health.v1
  std::chrono::milliseconds drain_grace{25'000};
  int max_receive_bytes = 16 * 1024 * 1024;
};

struct ServerHooks {
  std::vector<grpc::Service*> services;
  // Polled about once a second; NOT_SERVING while false (e.g. the database is unreachable).
  std::function<bool()> healthy;
  // Runs on SIGTERM/SIGINT before the server shuts down; gets the grace period.
  std::function<void(std::chrono::milliseconds)> drain;
  // Runs about once a second with nothing else to do (throughput logs).
  std::function<void()> tick;
};

// Blocks SIGTERM/SIGINT in the calling thread (call before starting any thread), so that only
// RunServer's wait receives them.
void BlockTerminationSignals();

// Serves until SIGTERM/SIGINT; returns the process exit code.
[[nodiscard]] int RunServer(const ServerConfig& config, const ServerHooks& hooks);

}  // namespace sonar::service
