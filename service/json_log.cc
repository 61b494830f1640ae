#include "service/json_log.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

namespace sonar::service {

void InitJsonLogging(std::string_view program, std::string_view level) {
  auto logger = spdlog::stderr_logger_mt(std::string(program));
  // The message is the rest of the object: `"event":"...", ...`.
  logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","program":"%n",%v})",
                      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
  RouteProtobufLogs();
  RouteGrpcLogs();
}

namespace {

// Printable ASCII only, at most `limit` bytes: whatever protobuf says, no raw bytes of a request.
std::string Printable(std::string_view text, size_t limit) {
  std::string out;
  for (char c : text.substr(0, limit)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7F ? c : '?');
  }
  return out;
}

void OnProtobufLog(google::protobuf::LogLevel level, const char* filename, int line,
                   const std::string& message) {
  LogLine log("protobuf_log");
  log.Add("source",
          Printable(std::string(filename ? filename : "") + ":" + std::to_string(line), 200))
      .Add("message", Printable(message, 500));
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      log.Info();
      break;
    case google::protobuf::LOGLEVEL_WARNING:
      log.Warn();
      break;
    default:  // ERROR, FATAL (protobuf aborts after a FATAL)
      log.Error();
  }
}

// gRPC core's own messages (at GRPC_VERBOSITY, ERROR by default: a port that is taken, a
// failed TLS handshake), which it would otherwise print as lines of its own format.
void OnGrpcLog(gpr_log_func_args* args) {
  LogLine log("grpc_log");
  log.Add("source",
          Printable(std::string(args->file ? args->file : "") + ":" + std::to_string(args->line),
                    200))
      .Add("message", Printable(args->message ? args->message : "", 1000));
  switch (args->severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      log.Debug();
      break;
    case GPR_LOG_SEVERITY_INFO:
      log.Info();
      break;
    default:
      log.Error();
  }
}

}  // namespace

void RouteProtobufLogs() { google::protobuf::SetLogHandler(&OnProtobufLog); }

void RouteGrpcLogs() { gpr_set_log_function(&OnGrpcLog); }

std::string JsonQuote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

LogLine::LogLine(std::string_view event) : body_("\"event\":" + JsonQuote(event)) {}

LogLine& LogLine::Add(std::string_view key, std::string_view value) {
  body_ += "," + JsonQuote(key) + ":" + JsonQuote(value);
  return *this;
}
LogLine& LogLine::Add(std::string_view key, int64_t value) {
  body_ += "," + JsonQuote(key) + ":" + std::to_string(value);
  return *this;
}
LogLine& LogLine::Add(std::string_view key, uint64_t value) {
  body_ += "," + JsonQuote(key) + ":" + std::to_string(value);
  return *this;
}
LogLine& LogLine::Add(std::string_view key, double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", value);
  body_ += "," + JsonQuote(key) + ":" + buf;
  return *this;
}
LogLine& LogLine::Add(std::string_view key, bool value) {
  body_ += "," + JsonQuote(key) + ":" + (value ? "true" : "false");
  return *this;
}

// `{}` keeps braces in the body from being read as format fields.
void LogLine::Debug() const { spdlog::debug("{}", body_); }
void LogLine::Info() const { spdlog::info("{}", body_); }
void LogLine::Warn() const { spdlog::warn("{}", body_); }
void LogLine::Error() const { spdlog::error("{}", body_); }

}  // namespace sonar::service
