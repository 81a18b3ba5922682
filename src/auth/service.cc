#include "auth/service.h"

#include <openssl/rand.h>

#include <boost/json.hpp>

#include <atomic>

#include "auth/base64.h"
#include "auth/jwt.h"
#include "auth/password.h"

namespace tally::auth {
namespace json = boost::json;
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Form(const std::vector<std::pair<std::string, std::string>>& form,
                      std::string_view key) {
  for (const auto& [k, v] : form) {
    if (k == key) return v;
  }
  return {};
}

// OAuth 2 error body, with Tally's status envelope alongside.
HttpResponse OAuthError(int http, const std::string& error, const std::string& description) {
  json::object o;
  o["error"] = error;
  o["error_description"] = description;
  json::object status;
  status["code"] = http;
  status["message"] = description;
  o["status"] = std::move(status);
  o["path"] = "/auth/v3/oauth/token";
  HttpResponse r;
  r.status = http;
  r.body = json::serialize(o);
  if (http == 401) r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"tally\"");
  return r;
}

HttpResponse TooManyAttempts(std::int64_t retry_after_s) {
  HttpResponse r = OAuthError(429, "too_many_attempts",
                              "too many failed logins from this address or for this name; retry "
                              "after " +
                                  std::to_string(retry_after_s) + " s");
  r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
  return r;
}

std::string RandomId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return "x";
  return Base64Encode(std::string_view(reinterpret_cast<char*>(bytes), sizeof bytes), true);
}

}  // namespace

std::string RandomSigningKey() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no randomness for a key");
  return std::string(reinterpret_cast<char*>(bytes), sizeof bytes);
}

AuthService::AuthService(const config::AuthConfig& config, const Clock& clock)
    : config_(config), clock_(clock), secret_(config.secret) {
  if (secret_.empty()) {
    secret_ = RandomSigningKey();
    ephemeral_ = true;
  }
  // The dummy costs what a real check costs: the iterations of the configured hashes.
  int iterations = kDefaultIterations;
  const std::string* sample = !config_.users.empty()     ? &config_.users.front().password_hash
                              : !config_.clients.empty() ? &config_.clients.front().secret_hash
                                                         : nullptr;
  if (sample != nullptr) {
    const size_t a = sample->find('$');
    const size_t b = a == std::string::npos ? a : sample->find('$', a + 1);
    if (b != std::string::npos) {
      try {
        iterations = std::stoi(sample->substr(a + 1, b - a - 1));
      } catch (const std::exception&) {
        iterations = kDefaultIterations;
      }
    }
  }
  dummy_hash_ = HashPassword("no such user", iterations);
}

bool AuthService::CheckSecret(std::string_view secret, const std::string* encoded) const {
  password_checks_.fetch_add(1);
  const bool ok = VerifyPassword(secret, encoded != nullptr ? *encoded : dummy_hash_);
  return ok && encoded != nullptr;
}

bool AuthService::Throttled(const std::vector<std::string>& keys, TimeMs now,
                            std::int64_t& retry_after_s) const {
  const std::uint32_t limit = config_.max_failed_logins_per_minute;
  if (limit == 0) return false;
  std::lock_guard lock(failures_mu_);
  bool throttled = false;
  for (const auto& key : keys) {
    auto it = failures_.find(key);
    if (it == failures_.end()) continue;
    auto& times = it->second;
    std::erase_if(times, [&](TimeMs t) { return now - t >= 60'000; });
    if (times.size() >= limit) {
      throttled = true;
      retry_after_s =
          std::max<std::int64_t>(retry_after_s, (times.front() + 60'000 - now) / 1000 + 1);
    }
  }
  return throttled;
}

void AuthService::RecordFailure(const std::vector<std::string>& keys, TimeMs now) const {
  if (config_.max_failed_logins_per_minute == 0) return;
  std::lock_guard lock(failures_mu_);
  if (failures_.size() > 100'000) {
    // Bounded: forget keys whose failures have all left the window.
    std::erase_if(failures_, [&](const auto& kv) {
      return kv.second.empty() || now - kv.second.back() >= 60'000;
    });
  }
  for (const auto& key : keys) {
    auto& times = failures_[key];
    times.push_back(now);
    if (times.size() > config_.max_failed_logins_per_minute) times.erase(times.begin());
  }
}

std::string AuthService::Issue(const Principal& p, const char* use, std::int64_t ttl_s) const {
  Claims c;
  c.subject = p.subject;
  c.tenant = p.tenant;
  c.roles = p.roles;
  c.issuer = config_.issuer;
  c.audience = config_.audience;
  c.token_use = use;
  c.id = RandomId();
  c.issued_at = clock_.NowMs() / 1000;
  c.expires_at = c.issued_at + ttl_s;
  return SignHs256(c, secret_, config_.tenant_claim);
}

std::string AuthService::IssueAccessToken(const Principal& p) const {
  return Issue(p, "access", config_.token_ttl_s);
}

VerifyOptions AuthService::Options() const {
  VerifyOptions options;
  options.now_s = clock_.NowMs() / 1000;
  options.max_skew_s = config_.max_skew_s;
  options.issuer = config_.issuer;
  options.audience = config_.audience;
  options.tenant_claim = config_.tenant_claim;
  return options;
}

Result<Principal> AuthService::Authenticate(const HttpRequest& request) const {
  if (!config_.api_keys.empty()) {
    const std::string_view key = request.Header("x-api-key");
    bool ok = false;
    for (const auto& k : config_.api_keys) ok = ok || k == key;
    if (!ok) {
      return Error{Errc::kUnauthenticated, key.empty() ? "header 'x-api-key' is required"
                                                       : "header 'x-api-key' is not a known key"};
    }
  }
  const std::string_view auth = request.Header("authorization");
  if (auth.empty()) {
    return Error{Errc::kUnauthenticated, "header 'Authorization: Bearer <token>' is required"};
  }
  const size_t space = auth.find(' ');
  if (space == std::string_view::npos || Lower(auth.substr(0, space)) != "bearer") {
    return Error{Errc::kUnauthenticated, "header 'Authorization' must use the Bearer scheme"};
  }
  std::string_view token = auth.substr(space + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  const TimeMs now = clock_.NowMs();
  {
    // Only verified HS256 tokens are cached: a hit needs neither the header decoded nor the
    // signature checked.
    std::lock_guard lock(cache_mu_);
    auto it = cache_.find(token);
    if (it != cache_.end()) {
      if (now < it->second.expires_at_ms) return it->second.principal;
      cache_.erase(it);
    }
  }
  VerifyOptions options = Options();
  const std::string alg = TokenAlgorithm(token);
  if ((alg == "RS256" || alg == "ES256") && jwks_) {
    // An external identity provider's token (docs/api.md).
    options.issuer = config_.external_issuer;
    options.audience = config_.external_audience;
    auto ext = jwks_->Verify(token, options);
    if (!ext) return ext.error();
    return Principal{ext->subject, ext->tenant,
                     ext->roles.empty() ? std::vector<std::string>{"statistics:read"} : ext->roles,
                     (ext->expires_at + config_.max_skew_s) * 1000};
  }
  auto claims = VerifyHs256(token, secret_, options);
  if (!claims) return claims.error();
  if (!claims->token_use.empty() && claims->token_use != "access") {
    return Error{Errc::kUnauthenticated, "a refresh token is not an access token"};
  }
  // Until when this token is accepted (its expiry plus the allowed clock skew).
  Principal principal{claims->subject, claims->tenant, claims->roles,
                      (claims->expires_at + config_.max_skew_s) * 1000};
  if (claims->expires_at > 0 && claims->not_before * 1000 <= now) {
    std::lock_guard lock(cache_mu_);
    if (cache_.size() >= kCacheLimit) cache_.clear();
    cache_[std::string(token)] = Verified{principal, claims->expires_at * 1000};
  }
  return principal;
}

Result<Principal> AuthService::AuthenticateClient(
    const HttpRequest& request, const std::vector<std::pair<std::string, std::string>>& form,
    const config::ClientConfig** client) const {
  std::string id(Form(form, "client_id"));
  std::string secret(Form(form, "client_secret"));
  const std::string_view auth = request.Header("authorization");
  if (auth.size() > 6 && Lower(auth.substr(0, 6)) == "basic ") {
    auto decoded = Base64Decode(auth.substr(6));
    const size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      return Error{Errc::kUnauthenticated,
                   "header 'Authorization: Basic' is not base64(id:secret)"};
    }
    std::string decoded_id;
    std::string decoded_secret;
    if (!PercentDecode(decoded->substr(0, colon), decoded_id, true) ||
        !PercentDecode(decoded->substr(colon + 1), decoded_secret, true)) {
      return Error{Errc::kUnauthenticated, "client credentials are malformed"};
    }
    id = decoded_id;
    secret = decoded_secret;
  }
  if (id.empty()) {
    return Error{Errc::kUnauthenticated,
                 "client credentials are required (Authorization: Basic, or client_id and "
                 "client_secret)"};
  }
  const config::ClientConfig* found = nullptr;
  for (const auto& c : config_.clients) {
    if (c.id == id) found = &c;
  }
  if (CheckSecret(secret, found != nullptr ? &found->secret_hash : nullptr)) {
    *client = found;
    return Principal{found->id, found->tenant, found->roles};
  }
  return Error{Errc::kUnauthenticated, "unknown client or wrong client secret"};
}

void AuthService::Token(HttpRequest& request, const RouteParams&, Responder responder) const {
  bool ok = true;
  const auto form = ParseQuery(request.body, &ok);
  if (!ok) {
    responder.Send(OAuthError(400, "invalid_request", "the form body has a bad %-escape"));
    return;
  }
  const TimeMs now = clock_.NowMs();
  // The source address without its port (behind a proxy, the proxy's: the per-name limits
  // still hold).
  const std::string ip_key = "ip:" + request.remote.substr(0, request.remote.rfind(':'));
  {
    std::int64_t retry_after = 0;
    if (Throttled({ip_key}, now, retry_after)) {
      responder.Send(TooManyAttempts(retry_after));
      return;
    }
  }
  const config::ClientConfig* client = nullptr;
  auto client_principal = AuthenticateClient(request, form, &client);
  if (!client_principal) {
    RecordFailure({ip_key}, now);
    responder.Send(OAuthError(401, "invalid_client", client_principal.error().message));
    return;
  }
  const std::string_view scope = Form(form, "scope");
  if (!scope.empty() && scope != "*") {
    responder.Send(OAuthError(400, "invalid_scope", "field 'scope': only '*' is supported"));
    return;
  }
  const std::string grant(Form(form, "grant_type"));
  Principal who;
  if (grant == "password") {
    std::string username(Form(form, "username"));
    const std::string password(Form(form, "password"));
    if (username.empty()) {
      responder.Send(OAuthError(400, "invalid_request", "field 'username' is required"));
      return;
    }
    std::string tenant;
    if (const size_t bs = username.find('\\'); bs != std::string::npos) {
      tenant = username.substr(0, bs);
      username = username.substr(bs + 1);
    }
    const config::UserConfig* user = nullptr;
    for (const auto& u : config_.users) {
      if (u.name == username && (tenant.empty() || u.tenant == tenant)) {
        user = &u;
        break;
      }
    }
    const std::vector<std::string> keys{ip_key, "user:" + tenant + "\\" + username};
    std::int64_t retry_after = 0;
    if (Throttled(keys, now, retry_after)) {
      responder.Send(TooManyAttempts(retry_after));
      return;
    }
    if (!CheckSecret(password, user != nullptr ? &user->password_hash : nullptr)) {
      RecordFailure(keys, now);
      responder.Send(OAuthError(400, "invalid_grant", "bad user name or password"));
      return;
    }
    who =
        Principal{user->name, user->tenant,
                  user->roles.empty() ? std::vector<std::string>{"statistics:read"} : user->roles};
  } else if (grant == "client_credentials") {
    who = *client_principal;
  } else if (grant == "refresh_token") {
    const VerifyOptions options = Options();
    auto claims = VerifyHs256(Form(form, "refresh_token"), secret_, options);
    if (!claims || claims->token_use != "refresh") {
      responder.Send(OAuthError(400, "invalid_grant",
                                claims ? "field 'refresh_token' is not a refresh token"
                                       : "field 'refresh_token': " + claims.error().message));
      return;
    }
    who = Principal{claims->subject, claims->tenant, claims->roles};
  } else {
    responder.Send(OAuthError(400, "unsupported_grant_type",
                              "field 'grant_type' must be password, client_credentials or "
                              "refresh_token"));
    return;
  }
  json::object o;
  o["access_token"] = IssueAccessToken(who);
  o["token_type"] = "bearer";
  o["expires_in"] = config_.token_ttl_s;
  o["refresh_token"] = Issue(who, "refresh", config_.refresh_ttl_s);
  o["scope"] = "*";
  HttpResponse r;
  r.body = json::serialize(o);
  r.headers.emplace_back("Cache-Control", "no-store");
  responder.Send(std::move(r));
}

void AuthService::UserInfo(HttpRequest& request, const RouteParams&, Responder responder) const {
  auto who = Authenticate(request);
  if (!who) {
    responder.Send(ErrorResponse(who.error(), request.path));
    return;
  }
  json::object o;
  o["username"] = who->tenant.empty() ? who->subject : who->tenant + "\\" + who->subject;
  o["loginName"] = who->subject;
  o["cmeUserName"] = who->subject;
  o["contactCenterId"] = who->tenant;
  json::array roles;
  for (const auto& r : who->roles) roles.emplace_back(r);
  o["authorities"] = std::move(roles);
  HttpResponse r;
  r.body = json::serialize(o);
  responder.Send(std::move(r));
}

}  // namespace tally::auth
