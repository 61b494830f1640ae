// Channels of sonarctl (and of tests that use its client code): plaintext by default; TLS when
// a CA file is configured, with a client certificate for mutual TLS and a bearer token (sent
// only over TLS). Configure once at start, before any channel is made.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"

namespace sonar::service {

struct ClientSecurity {
  std::string ca_file;      // set: use TLS, trusting this CA
  std::string cert_file;    // client certificate (mutual TLS)
  std::string key_file;     // its key
  std::string token_file;   // bearer token; requires TLS
  std::string server_name;  // overrides the name checked against the server certificate
};

// INVALID_ARGUMENT for a token without TLS or a certificate without key; NOT_FOUND for a file.
[[nodiscard]] absl::Status ConfigureClientChannels(const ClientSecurity& security);

[[nodiscard]] std::shared_ptr<grpc::Channel> MakeChannel(const std::string& addr);

}  // namespace sonar::service
