#include "service/server_runner.h"

#include <csignal>
#include <ctime>
#include <fstream>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

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

void SetServing(grpc::Server& server, const ServerConfig& config, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);
  for (const std::string& name : config.health_services) health->SetServingStatus(name, serving);
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int RunServer(const ServerConfig& config, const ServerHooks& hooks) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(config.max_receive_bytes);
  for (grpc::Service* s : hooks.services) builder.RegisterService(s);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    LogLine("server_start_failed").Add("listen", config.listen).Add("code", 14).Error();
    return 1;
  }
  if (!config.port_file.empty()) {
    std::ofstream(config.port_file) << port << "\n";
  }
  bool serving = hooks.healthy ? hooks.healthy() : true;
  SetServing(*server, config, serving);
  LogLine("server_started").Add("listen", config.listen).Add("port", port).Add("serving", serving).Info();

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
      SetServing(*server, config, serving);
      LogLine(serving ? "health_serving" : "health_not_serving").Add("serving", serving).Warn();
    }
  }
  LogLine("shutdown_started").Add("signal", signal).Add("grace_ms", static_cast<int64_t>(config.drain_grace.count())).Info();
  SetServing(*server, config, false);
  if (hooks.drain) hooks.drain(config.drain_grace);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  LogLine("shutdown_complete").Info();
  return 0;
}

}  // namespace sonar::service
