#include "service/security.h"

#include <openssl/crypto.h>

#include <fstream>
#include <sstream>

namespace sonar::service {
namespace {

absl::StatusOr<std::set<Role>> ParseRoles(const std::string& text) {
  std::set<Role> roles;
  std::stringstream ss(text);
  std::string role;
  while (std::getline(ss, role, ',')) {
    if (role == "ingest") {
      roles.insert(Role::kIngest);
    } else if (role == "query") {
      roles.insert(Role::kQuery);
    } else if (role == "admin") {
      roles.insert(Role::kAdmin);
    } else {
      return absl::InvalidArgumentError("auth file: unknown role (ingest, query, admin)");
    }
  }
  return roles;
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kIngest:
      return "ingest";
    case Role::kQuery:
      return "query";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read a configured key, certificate or auth file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsFiles& tls,
                                                                               bool plaintext) {
  // A client CA with --plaintext would be ignored while the operator believes clients are
  // checked: refused like the other TLS files.
  const bool has_tls = !tls.cert.empty() || !tls.key.empty() || !tls.client_ca.empty();
  if (plaintext && has_tls) {
    return absl::InvalidArgumentError("--plaintext and TLS files exclude each other");
  }
  if (plaintext) return grpc::InsecureServerCredentials();
  if (tls.cert.empty() || tls.key.empty()) {
    return absl::InvalidArgumentError(
        "no TLS configured: pass --tls-cert and --tls-key, or --plaintext to serve without TLS");
  }
  auto cert = ReadSecretFile(tls.cert);
  if (!cert.ok()) return cert.status();
  auto key = ReadSecretFile(tls.key);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls.client_ca.empty()) {
    auto ca = ReadSecretFile(tls.client_ca);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<const Authorizer>> Authorizer::FromFile(const std::string& path) {
  auto text = ReadSecretFile(path);
  if (!text.ok()) return text.status();
  return FromText(*text);
}

absl::StatusOr<std::shared_ptr<const Authorizer>> Authorizer::FromText(const std::string& text) {
  auto auth = std::make_shared<Authorizer>();
  auth->enabled_ = true;
  std::stringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::stringstream fields(line);
    std::string kind, name, roles;
    if (!(fields >> kind) || kind[0] == '#') continue;
    if (!(fields >> name >> roles)) {
      return absl::InvalidArgumentError("auth file: expected '<token|cn> <value> <roles>'");
    }
    auto parsed = ParseRoles(roles);
    if (!parsed.ok()) return parsed.status();
    if (kind == "token") {
      auth->tokens_[name].insert(parsed->begin(), parsed->end());
    } else if (kind == "cn") {
      auth->common_names_[name].insert(parsed->begin(), parsed->end());
    } else {
      return absl::InvalidArgumentError("auth file: lines start with 'token' or 'cn'");
    }
  }
  return std::shared_ptr<const Authorizer>(std::move(auth));
}

grpc::Status Authorizer::Check(const grpc::ServerContextBase& context, Role role) const {
  if (!enabled_) return grpc::Status::OK;
  std::set<Role> granted;
  bool identified = false;
  const auto& metadata = context.client_metadata();
  auto header = metadata.find("authorization");
  if (header != metadata.end()) {
    const std::string value(header->second.data(), header->second.size());
    const std::string prefix = "Bearer ";
    if (value.rfind(prefix, 0) == 0) {
      const std::string token = value.substr(prefix.size());
      for (const auto& [known, roles] : tokens_) {
        if (ConstantTimeEquals(known, token)) {
          identified = true;
          granted.insert(roles.begin(), roles.end());
        }
      }
    }
  }
  if (const auto auth = context.auth_context()) {
    for (const auto& cn : auth->FindPropertyValues("x509_common_name")) {
      auto it = common_names_.find(std::string(cn.data(), cn.size()));
      if (it != common_names_.end()) {
        identified = true;
        granted.insert(it->second.begin(), it->second.end());
      }
    }
  }
  if (!identified) {
    return {grpc::StatusCode::UNAUTHENTICATED,
            "no known credentials: send a bearer token or a client certificate"};
  }
  if (granted.count(role) == 0) {
    return {grpc::StatusCode::PERMISSION_DENIED,
            std::string("this call needs the '") + RoleName(role) + "' role"};
  }
  return grpc::Status::OK;
}

}  // namespace sonar::service
