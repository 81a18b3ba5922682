// Verification of externally issued JWTs (RS256, ES256) against a JWKS document (RFC 7517):
// RSA keys (n, e) and P-256 EC keys (x, y), selected by `kid` when the token names one.
// Claims are checked as for Tally's own tokens (expiry, skew, issuer, audience).
// Threading: immutable after Parse(); Verify() is safe from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwt.h"
#include "common/errc.h"

namespace tally::auth {

class Jwks final {
 public:
  ~Jwks();
  Jwks(Jwks&&) noexcept;
  Jwks& operator=(Jwks&&) noexcept;

  // Errors name the key index and field ("keys[1].n: not base64url").
  [[nodiscard]] static Result<Jwks> Parse(std::string_view json);
  [[nodiscard]] Result<Claims> Verify(std::string_view token, const VerifyOptions& options) const;
  [[nodiscard]] size_t Size() const;

 private:
  Jwks();
  struct Key;
  std::vector<std::unique_ptr<Key>> keys_;
};

// The algorithm named in a token's header ("HS256", "RS256", …), or empty if unreadable.
[[nodiscard]] std::string TokenAlgorithm(std::string_view token);

}  // namespace tally::auth
