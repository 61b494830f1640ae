// Transport security and authorisation for both servers.
//
// TLS: a certificate and key by file; with a client CA file, clients must present a certificate
// signed by it (mutual TLS). Plaintext only when explicitly asked for (--plaintext).
// Roles: `ingest` may call IngestService, `query` the read RPCs of QueryService, `admin`
// PublishQuarter. An identity is a bearer token (`authorization: Bearer <token>` metadata) or a
// client certificate's common name, mapped to roles by an auth file:
//   # comment
//   token <secret> <role>[,<role>...]
//   cn <common name> <role>[,<role>...]
// Without an auth file every caller may call everything (logged at start). Tokens are compared
// in constant time and never logged. Thread-safe after construction.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"

namespace sonar::service {

enum class Role { kIngest, kQuery, kAdmin };

struct TlsFiles {
  std::string cert;       // PEM certificate chain
  std::string key;        // PEM private key
  std::string client_ca;  // PEM CA for client certificates: set = mutual TLS
};

// Server credentials: TLS from `tls`, or insecure only if `plaintext`. INVALID_ARGUMENT when
// neither (or both) is configured, NOT_FOUND when a file cannot be read.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& tls, bool plaintext);

class Authorizer final {
 public:
  // Everyone may call everything.
  Authorizer() = default;
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<const Authorizer>> FromFile(
      const std::string& path);
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<const Authorizer>> FromText(
      const std::string& text);

  // OK; UNAUTHENTICATED when the caller presents no known identity; PERMISSION_DENIED when the
  // identity lacks `role`. Messages never contain the presented credentials.
  [[nodiscard]] grpc::Status Check(const grpc::ServerContextBase& context, Role role) const;
  [[nodiscard]] bool enabled() const { return enabled_; }

 private:
  bool enabled_ = false;
  std::map<std::string, std::set<Role>> tokens_;
  std::map<std::string, std::set<Role>> common_names_;
};

// Reads a whole file; NOT_FOUND if it cannot.
[[nodiscard]] absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

}  // namespace sonar::service
