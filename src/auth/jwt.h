// JSON Web Tokens signed with HS256 (RFC 7519 / 7515): what Tally issues from /auth/v3 and
// verifies on every request. Verification checks the algorithm (only HS256 here; RS256/ES256
// from a JWKS file come with the REST issue), the signature (constant time), expiry and
// not-before with a bounded clock skew, issuer and audience.
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"

namespace tally::auth {

struct Claims {
  std::string subject;             // "sub": user or client id
  std::string tenant;              // the tenant claim (name configurable on verify)
  std::vector<std::string> roles;  // "roles": statistics:read, events:write, admin
  std::string issuer;              // "iss"
  std::string audience;            // "aud"
  std::string token_use;           // "use": "access" or "refresh"
  std::string id;                  // "jti"
  std::int64_t issued_at = 0;      // "iat", seconds
  std::int64_t expires_at = 0;     // "exp", seconds
  std::int64_t not_before = 0;     // "nbf", seconds (0: absent)

  [[nodiscard]] bool HasRole(std::string_view role) const;
};

[[nodiscard]] std::string SignHs256(const Claims& claims, std::string_view secret,
                                    std::string_view tenant_claim = "tenant");

struct VerifyOptions {
  std::int64_t now_s = 0;
  std::int64_t max_skew_s = 60;
  std::string issuer;    // required value when not empty
  std::string audience;  // required value when not empty
  std::string tenant_claim = "tenant";
};

// The compact serialization every accepted token has (RFC 7515/7519): three dot-separated
// base64url parts without padding, a JSON object header without "crit" (no extension is
// understood here, so a token that requires one is refused). Called first by both verifiers.
[[nodiscard]] Result<void> CheckJwtShape(std::string_view token);

// Checks the claims of a token whose signature was verified elsewhere (JWKS).
[[nodiscard]] Result<Claims> VerifyClaimsOnly(std::string_view token, const VerifyOptions& options);

// Errors are kUnauthenticated with a message that says what is wrong ("token expired", …).
[[nodiscard]] Result<Claims> VerifyHs256(std::string_view token, std::string_view secret,
                                         const VerifyOptions& options);

}  // namespace tally::auth
