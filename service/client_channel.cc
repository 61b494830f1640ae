#include "service/client_channel.h"

#include "service/security.h"

namespace sonar::service {
namespace {

struct ChannelConfig {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments arguments;
};

ChannelConfig& Config() {
  static ChannelConfig config;
  return config;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

}  // namespace

absl::Status ConfigureClientChannels(const ClientSecurity& security) {
  ChannelConfig config;
  if (security.ca_file.empty()) {
    if (!security.token_file.empty() || !security.cert_file.empty()) {
      return absl::InvalidArgumentError(
          "a token or client certificate needs TLS: pass --tls-ca as well");
    }
    Config() = std::move(config);
    return absl::OkStatus();
  }
  grpc::SslCredentialsOptions ssl;
  auto ca = ReadSecretFile(security.ca_file);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *ca;
  if (security.cert_file.empty() != security.key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!security.cert_file.empty()) {
    auto cert = ReadSecretFile(security.cert_file);
    if (!cert.ok()) return cert.status();
    auto key = ReadSecretFile(security.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  config.credentials = grpc::SslCredentials(ssl);
  if (!security.token_file.empty()) {
    auto token = ReadSecretFile(security.token_file);
    if (!token.ok()) return token.status();
    config.credentials = grpc::CompositeChannelCredentials(
        config.credentials, grpc::AccessTokenCredentials(Trimmed(*token)));
  }
  if (!security.server_name.empty()) {
    config.arguments.SetSslTargetNameOverride(security.server_name);
  }
  Config() = std::move(config);
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& addr) {
  return grpc::CreateCustomChannel(addr, Config().credentials, Config().arguments);
}

}  // namespace sonar::service
