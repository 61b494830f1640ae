#include "ingest/pseudonymizer.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <sstream>

namespace sonar::ingest {
namespace {

constexpr size_t kMinKeyBytes = 32;

std::atomic<uint64_t> next_instance{1};

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

// This thread's copy of the last keyed context it used.
struct ThreadMac {
  uint64_t instance = 0;
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx;
};
thread_local ThreadMac thread_mac;

// HMAC-SHA256 initialised with `key`; null on failure.
std::shared_ptr<EVP_MAC_CTX> KeyedHmac(const std::string& key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  if (mac == nullptr) return nullptr;
  std::shared_ptr<EVP_MAC_CTX> ctx(EVP_MAC_CTX_new(mac), MacCtxFree());
  EVP_MAC_free(mac);  // the context holds its own reference
  if (!ctx) return nullptr;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_END};
  if (EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   params) != 1) {
    return nullptr;
  }
  return ctx;
}

// Appends base64url (no padding) of `data` to `out`.
void AppendBase64Url(std::string& out, const unsigned char* data, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t i = 0;
  for (; i + 2 < size; i += 3) {
    const uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i < size) {
    uint32_t v = data[i] << 16;
    if (i + 1 < size) v |= data[i + 1] << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    if (i + 1 < size) out.push_back(kAlphabet[(v >> 6) & 63]);
  }
}

std::string Trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

}  // namespace

absl::StatusOr<Pseudonymizer> Pseudonymizer::FromKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return errno == EACCES ? absl::PermissionDeniedError("HMAC key file is not readable")
                           : absl::NotFoundError("HMAC key file not found");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return FromKey(Trim(ss.str()));
}

absl::StatusOr<Pseudonymizer> Pseudonymizer::FromKey(std::string key) {
  if (key.size() < kMinKeyBytes) {
    return absl::InvalidArgumentError("HMAC key must be at least 32 bytes");
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "k";
  for (int i = 0; i < 4; ++i) {
    id.push_back(kHex[digest[i] >> 4]);
    id.push_back(kHex[digest[i] & 15]);
  }
  std::shared_ptr<EVP_MAC_CTX> keyed = KeyedHmac(key);
  if (!keyed) return absl::InternalError("HMAC-SHA256 is not available");
  return Pseudonymizer(std::move(key), std::move(id), std::move(keyed));
}

Pseudonymizer::Pseudonymizer(std::string key, std::string key_id,
                             std::shared_ptr<evp_mac_ctx_st> keyed)
    : key_(std::move(key)),
      key_id_(std::move(key_id)),
      keyed_(std::move(keyed)),
      instance_(next_instance++) {}

std::string Pseudonymizer::Apply(std::string_view client_ref) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_size = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(client_ref.data());
  if (thread_mac.instance != instance_) {
    thread_mac.ctx.reset(EVP_MAC_CTX_dup(keyed_.get()));
    thread_mac.instance = thread_mac.ctx ? instance_ : 0;
  }
  // Re-initialising without a key restarts the MAC with the key already set.
  EVP_MAC_CTX* ctx = thread_mac.ctx.get();
  if (ctx == nullptr || EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(ctx, data, client_ref.size()) != 1 ||
      EVP_MAC_final(ctx, mac, &mac_size, sizeof(mac)) != 1) {
    thread_mac = {};  // e.g. out of memory: the one-shot form, and a fresh copy next time
    unsigned int size = 0;
    HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), data, client_ref.size(), mac,
         &size);
    mac_size = size;
  }
  std::string out;
  out.reserve(key_id_.size() + 1 + 4 * ((mac_size + 2) / 3));
  out.append(key_id_).push_back('.');
  AppendBase64Url(out, mac, mac_size);  // into the reserved space: one allocation in all
  return out;
}

}  // namespace sonar::ingest
