// AuthService: the /auth/v3 endpoints (OAuth 2 token with password, client_credentials and
// refresh_token grants; userinfo) and the check every API request goes through (x-api-key when
// configured, then `Authorization: Bearer <JWT>`, scheme matched case-insensitively).
// Threading: immutable after construction (except an internal, locked cache of verified tokens);
// all methods are safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/jwks.h"
#include "auth/jwt.h"
#include "common/clock.h"
#include "common/errc.h"
#include "common/http.h"
#include "common/principal.h"
#include "common/string_hash.h"
#include "config/config.h"

namespace tally::auth {

// 32 random bytes for an HS256 key of this process only (no auth.secret, no secret_file).
[[nodiscard]] std::string RandomSigningKey();

class AuthService final {
 public:
  AuthService(const config::AuthConfig& config, const Clock& clock);

  // Errors: kUnauthenticated (401) with what is missing or wrong.
  [[nodiscard]] Result<Principal> Authenticate(const HttpRequest& request) const;

  // POST /auth/v3/oauth/token (application/x-www-form-urlencoded).
  void Token(HttpRequest& request, const RouteParams& params, Responder responder) const;
  // GET /auth/v3/userinfo.
  void UserInfo(HttpRequest& request, const RouteParams& params, Responder responder) const;

  // Password and client-secret hashes verified (tests: an unknown name costs the same work as a
  // known one, so names cannot be told apart by the time an answer takes).
  [[nodiscard]] std::uint64_t PasswordChecksForTest() const { return password_checks_.load(); }

  // Issues an access token directly (tests, tools).
  [[nodiscard]] std::string IssueAccessToken(const Principal& principal) const;
  [[nodiscard]] bool SecretIsEphemeral() const { return ephemeral_; }
  // Accepts RS256/ES256 tokens signed by these keys (call before serving).
  void SetJwks(Jwks&& jwks) { jwks_.emplace(std::move(jwks)); }

 private:
  [[nodiscard]] std::string Issue(const Principal& p, const char* use, std::int64_t ttl_s) const;
  [[nodiscard]] VerifyOptions Options() const;
  Result<Principal> AuthenticateClient(const HttpRequest& request,
                                       const std::vector<std::pair<std::string, std::string>>& form,
                                       const config::ClientConfig** client) const;

  // A password check that always happens: against the stored hash, or against a dummy hash of
  // the same cost when the name is unknown.
  bool CheckSecret(std::string_view secret, const std::string* encoded) const;
  // Failed logins per key ("ip:…", "user:…", "client:…"): a window of one minute.
  [[nodiscard]] bool Throttled(const std::vector<std::string>& keys, TimeMs now,
                               std::int64_t& retry_after_s) const;
  void RecordFailure(const std::vector<std::string>& keys, TimeMs now) const;

  config::AuthConfig config_;
  const Clock& clock_;
  std::string dummy_hash_;
  mutable std::atomic<std::uint64_t> password_checks_{0};
  mutable std::mutex failures_mu_;
  mutable std::unordered_map<std::string, std::vector<TimeMs>> failures_;
  std::string secret_;
  bool ephemeral_ = false;
  std::optional<Jwks> jwks_;

  // Verified HS256 access tokens → their principal, until the token expires: a long-poll client
  // presents the same token on every request, and verifying it (base64 + HMAC) each time cost
  // ~7 % of the server's CPU under CometD load. Cleared when it reaches kCacheLimit entries.
  static constexpr size_t kCacheLimit = 10'000;
  struct Verified {
    Principal principal;
    std::int64_t expires_at_ms = 0;
  };
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, Verified, StringHash, std::equal_to<>> cache_;
};

}  // namespace tally::auth
