#include "auth/jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>

#include <optional>
#include <utility>

#include "auth/base64.h"

namespace tally::auth {
namespace json = boost::json;
namespace {

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

Error Unauthenticated(const std::string& what) { return Error{Errc::kUnauthenticated, what}; }

std::string StringClaim(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The latest NumericDate accepted (9999-12-31T23:59:59Z), in seconds.
constexpr std::int64_t kMaxNumericDate = 253'402'300'799;

// A NumericDate claim in seconds: 0 when absent; nullopt for anything but a number in
// 0..kMaxNumericDate, so the expiry arithmetic (seconds + skew, then milliseconds) never
// overflows (issue 18, found by fuzzing: "exp":9223372036854775807 overflowed exp + skew).
std::optional<std::int64_t> DateClaim(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_int64()) {
    const std::int64_t x = v->as_int64();
    if (x < 0 || x > kMaxNumericDate) return std::nullopt;
    return x;
  }
  if (v->is_uint64()) {
    if (v->as_uint64() > static_cast<std::uint64_t>(kMaxNumericDate)) return std::nullopt;
    return static_cast<std::int64_t>(v->as_uint64());
  }
  if (v->is_double()) {
    const double d = v->as_double();
    // Also false for NaN; the cast is defined only inside the range.
    if (!(d >= 0 && d <= static_cast<double>(kMaxNumericDate))) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

}  // namespace

bool Claims::HasRole(std::string_view role) const {
  for (const auto& r : roles) {
    if (r == role || r == "admin") return true;
  }
  return false;
}

std::string SignHs256(const Claims& c, std::string_view secret, std::string_view tenant_claim) {
  json::object payload;
  payload["sub"] = c.subject;
  if (!c.tenant.empty()) payload[tenant_claim] = c.tenant;
  json::array roles;
  for (const auto& r : c.roles) roles.emplace_back(r);
  payload["roles"] = std::move(roles);
  if (!c.issuer.empty()) payload["iss"] = c.issuer;
  if (!c.audience.empty()) payload["aud"] = c.audience;
  if (!c.token_use.empty()) payload["use"] = c.token_use;
  if (!c.id.empty()) payload["jti"] = c.id;
  payload["iat"] = c.issued_at;
  payload["exp"] = c.expires_at;
  if (c.not_before != 0) payload["nbf"] = c.not_before;
  const std::string header = Base64Encode(R"({"alg":"HS256","typ":"JWT"})", true);
  const std::string body = Base64Encode(json::serialize(payload), true);
  const std::string signing_input = header + "." + body;
  return signing_input + "." + Base64Encode(HmacSha256(secret, signing_input), true);
}

Result<void> CheckJwtShape(std::string_view token) {
  const size_t d1 = token.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d1 == std::string_view::npos || d2 == std::string_view::npos ||
      token.find('.', d2 + 1) != std::string_view::npos) {
    return Unauthenticated("token is not a JWT (expected three dot-separated parts)");
  }
  for (const char c : token) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return Unauthenticated("token is not base64url without padding");
  }
  const auto header_text = Base64Decode(token.substr(0, d1), true);
  if (!header_text) return Unauthenticated("token is not base64url");
  boost::system::error_code ec;
  const json::value header = json::parse(*header_text, ec);
  if (ec || !header.is_object()) return Unauthenticated("token header is not JSON");
  if (header.as_object().contains("crit")) {
    return Unauthenticated("token header has 'crit': no JWS extension is supported");
  }
  return {};
}

Result<Claims> VerifyHs256(std::string_view token, std::string_view secret,
                           const VerifyOptions& options) {
  if (auto shape = CheckJwtShape(token); !shape) return shape.error();
  const size_t d1 = token.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d1 == std::string_view::npos || d2 == std::string_view::npos ||
      token.find('.', d2 + 1) != std::string_view::npos) {
    return Unauthenticated("token is not a JWT (expected three dot-separated parts)");
  }
  const auto header_text = Base64Decode(token.substr(0, d1), true);
  const auto payload_text = Base64Decode(token.substr(d1 + 1, d2 - d1 - 1), true);
  const auto signature = Base64Decode(token.substr(d2 + 1), true);
  if (!header_text || !payload_text || !signature) return Unauthenticated("token is not base64url");
  boost::system::error_code ec;
  const json::value header = json::parse(*header_text, ec);
  if (ec || !header.is_object()) return Unauthenticated("token header is not JSON");
  const std::string alg = StringClaim(header.as_object(), "alg");
  if (alg != "HS256") {
    return Unauthenticated("token algorithm '" + alg + "' is not accepted (HS256 expected)");
  }
  const std::string expected = HmacSha256(secret, token.substr(0, d2));
  if (signature->size() != expected.size() ||
      CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    return Unauthenticated("token signature is invalid");
  }
  return VerifyClaimsOnly(token, options);
}

Result<Claims> VerifyClaimsOnly(std::string_view token, const VerifyOptions& options) {
  const size_t d1 = token.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return Unauthenticated("token is not a JWT");
  const auto payload_text = Base64Decode(token.substr(d1 + 1, d2 - d1 - 1), true);
  if (!payload_text) return Unauthenticated("token is not base64url");
  boost::system::error_code ec;
  const json::value payload = json::parse(*payload_text, ec);
  if (ec || !payload.is_object()) return Unauthenticated("token payload is not JSON");
  const json::object& o = payload.as_object();
  Claims c;
  c.subject = StringClaim(o, "sub");
  c.tenant = StringClaim(o, options.tenant_claim);
  c.issuer = StringClaim(o, "iss");
  c.audience = StringClaim(o, "aud");
  c.token_use = StringClaim(o, "use");
  c.id = StringClaim(o, "jti");
  for (const auto& [key, target] : {std::pair{"iat", &c.issued_at}, std::pair{"exp", &c.expires_at},
                                    std::pair{"nbf", &c.not_before}}) {
    const auto date = DateClaim(o, key);
    if (!date) {
      return Unauthenticated(std::string("token claim '") + key +
                             "' is not a date in seconds between 1970 and 9999");
    }
    *target = *date;
  }
  if (const json::value* r = o.if_contains("roles"); r != nullptr && r->is_array()) {
    for (const auto& role : r->as_array()) {
      if (role.is_string()) c.roles.emplace_back(role.as_string());
    }
  }
  if (c.subject.empty()) return Unauthenticated("token has no subject");
  if (c.expires_at == 0) return Unauthenticated("token has no expiry");
  if (options.now_s > c.expires_at + options.max_skew_s)
    return Error{Errc::kCredentialsExpired, "token expired"};
  if (c.not_before != 0 && options.now_s + options.max_skew_s < c.not_before) {
    return Unauthenticated("token is not valid yet");
  }
  if (!options.issuer.empty() && c.issuer != options.issuer) {
    return Unauthenticated("token issuer '" + c.issuer + "' is not accepted");
  }
  if (!options.audience.empty() && c.audience != options.audience) {
    return Unauthenticated("token audience '" + c.audience + "' is not accepted");
  }
  return c;
}

}  // namespace tally::auth
