// Structured logs: one JSON object per line on stderr, with stable keys
// ({"ts","level","event", ...fields}). Only ever log identifiers of streams, batches and counts;
// never a payload, a client reference, a token or a password.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sonar::service {

// Installs the JSON logger as spdlog's default, RouteProtobufLogs and RouteGrpcLogs. `level`:
// trace, debug, info, warn, error.
void InitJsonLogging(std::string_view program, std::string_view level);

// Sends protobuf's own log lines (e.g. a string field with invalid UTF-8) through the JSON logger
// as event "protobuf_log" with protobuf's level, source location and message (protobuf's messages
// name fields and types, not values; bytes outside printable ASCII become '?' all the same).
void RouteProtobufLogs();

// Sends gRPC core's log lines (gpr_log: at GRPC_VERBOSITY, by default errors only, e.g. a port
// already in use or a failed TLS handshake) through the JSON logger as event "grpc_log", with
// gRPC's severity, source location and message (printable ASCII, at most 1000 bytes).
void RouteGrpcLogs();

class LogLine final {
 public:
  explicit LogLine(std::string_view event);

  LogLine& Add(std::string_view key, std::string_view value);
  LogLine& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value));
  }
  LogLine& Add(std::string_view key, const std::string& value) {
    return Add(key, std::string_view(value));
  }
  LogLine& Add(std::string_view key, int64_t value);
  LogLine& Add(std::string_view key, uint64_t value);
  LogLine& Add(std::string_view key, int value) { return Add(key, int64_t{value}); }
  LogLine& Add(std::string_view key, uint32_t value) { return Add(key, uint64_t{value}); }
  LogLine& Add(std::string_view key, double value);
  LogLine& Add(std::string_view key, bool value);

  void Debug() const;
  void Info() const;
  void Warn() const;
  void Error() const;

 private:
  std::string body_;
};

// JSON string escaping (quotes included).
[[nodiscard]] std::string JsonQuote(std::string_view text);

}  // namespace sonar::service
