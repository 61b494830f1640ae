// Replaces a producer's client_ref by a keyed pseudonym before anything is stored:
// "<key id>.<base64url(HMAC-SHA256(key, client_ref))>". The same reference under the same key
// always gives the same pseudonym, so a person's events still meet; without the key the
// database cannot be linked back to what producers sent. The key id (from the key itself) is
// stored with every pseudonym, so a key rotation is visible in the data.
//
// Immutable after construction; thread-safe. Each thread keeps its own copy of the keyed MAC
// context (made once per thread and key, see Apply), so pseudonymising an event costs no
// algorithm fetch or key schedule.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

struct evp_mac_ctx_st;  // OpenSSL's EVP_MAC_CTX

namespace sonar::ingest {

class Pseudonymizer final {
 public:
  // The key file holds the secret (at least 32 bytes; surrounding whitespace is ignored).
  // Errors: NOT_FOUND / PERMISSION_DENIED when unreadable, INVALID_ARGUMENT when too short.
  [[nodiscard]] static absl::StatusOr<Pseudonymizer> FromKeyFile(const std::string& path);
  [[nodiscard]] static absl::StatusOr<Pseudonymizer> FromKey(std::string key);

  [[nodiscard]] std::string Apply(std::string_view client_ref) const;
  // "k" + the first 8 hex digits of SHA-256(key).
  [[nodiscard]] const std::string& key_id() const { return key_id_; }

 private:
  Pseudonymizer(std::string key, std::string key_id, std::shared_ptr<evp_mac_ctx_st> keyed);
  std::string key_;
  std::string key_id_;
  // HMAC-SHA256 initialised with the key; never used directly, only duplicated per thread.
  std::shared_ptr<evp_mac_ctx_st> keyed_;
  // Identifies keyed_ for the per-thread copies (never reused, unlike an address).
  uint64_t instance_ = 0;
};

}  // namespace sonar::ingest
