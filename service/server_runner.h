// What both servers share: listening, gRPC health (grpc.health.v1) and reflection, JSON logs,
// and the SIGTERM drain (health NOT_SERVING at once, no new streams, in-flight work finished,
// exit 0).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

namespace sonar::service {

struct ServerConfig {
  std::string program;              // "sonar-ingest"
  std::string listen;               // "127.0.0.1:50051"; port 0 picks a free port
  std::string port_file;            // if set, the bound port is written there
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
