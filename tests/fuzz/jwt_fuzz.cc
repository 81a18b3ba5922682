// Token verification (auth/jwt.h, auth/jwks.h, AuthService::Authenticate). The first byte picks
// what the rest is:
//   0: a token, verified by every verifier (and as an Authorization header value);
//   1: "header JSON\npayload JSON", signed HS256 with the service's key, so the claims checks
//      are reached past the signature;
//   2: the same, signed ES256 by a key of the service's JWKS;
//   3: a JWKS document (parsed, then asked to verify a token).
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/base64.h"
#include "auth/jwks.h"
#include "auth/jwt.h"
#include "auth/service.h"
#include "fuzz/fuzz_support.h"

namespace tally::fuzz {
namespace {

struct Keys {
  EVP_PKEY* ec = nullptr;
  EVP_PKEY* rsa = nullptr;
  std::string jwks_text;
};

std::string Bn(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(key, name, &bn);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

const Keys& GetKeys() {
  static const Keys keys = [] {
    Keys k;
    k.ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    k.rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
    unsigned char point[65];
    size_t len = 0;
    EVP_PKEY_get_octet_string_param(k.ec, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len);
    const std::string x(reinterpret_cast<char*>(point) + 1, 32);
    const std::string y(reinterpret_cast<char*>(point) + 33, 32);
    k.jwks_text = R"({"keys":[{"kty":"EC","crv":"P-256","kid":"ec1","x":")" +
                  auth::Base64Encode(x, true) + R"(","y":")" + auth::Base64Encode(y, true) +
                  R"("},{"kty":"RSA","kid":"rsa1","alg":"RS256","n":")" +
                  auth::Base64Encode(Bn(k.rsa, OSSL_PKEY_PARAM_RSA_N), true) + R"(","e":")" +
                  auth::Base64Encode(Bn(k.rsa, OSSL_PKEY_PARAM_RSA_E), true) + R"("}]})";
    return k;
  }();
  return keys;
}

std::string SignEs256(std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char der[128];
  size_t len = sizeof der;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, GetKeys().ec);
  EVP_DigestSign(ctx, der, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = der;
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  std::string rs(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(rs.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(rs.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return rs;
}

std::string SignHs256(std::string_view input) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const std::string& key = GetWorld().secret;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

struct Verifiers {
  ManualClock clock{kT0 + 60'000};
  auth::AuthService service{GetWorld().config.auth, clock};
  auth::Jwks jwks = *auth::Jwks::Parse(GetKeys().jwks_text);
  Verifiers() { service.SetJwks(*auth::Jwks::Parse(GetKeys().jwks_text)); }
};

Verifiers& GetVerifiers() {
  static Verifiers v;
  return v;
}

auth::VerifyOptions Options() {
  auth::VerifyOptions o;
  o.now_s = (kT0 + 60'000) / 1000;
  o.issuer = "tally";
  o.audience = "tally";
  return o;
}

// Every verifier on one token; an accepted token's principal is what its claims say.
void VerifyAll(std::string_view token) {
  Verifiers& v = GetVerifiers();
  (void)auth::TokenAlgorithm(token);
  (void)auth::CheckJwtShape(token);
  auto hs = auth::VerifyHs256(token, GetWorld().secret, Options());
  if (hs) {
    TALLY_FUZZ_CHECK(!hs->subject.empty() && hs->expires_at != 0, "claims without sub or exp");
  }
  auth::VerifyOptions external = Options();  // no external issuer or audience is configured
  external.issuer.clear();
  external.audience.clear();
  auto ext = v.jwks.Verify(token, external);
  if (ext) TALLY_FUZZ_CHECK(!ext->subject.empty(), "claims without sub");
  HttpRequest req;
  req.headers.emplace_back("authorization", "Bearer " + std::string(token));
  auto who = v.service.Authenticate(req);
  if (who) {
    TALLY_FUZZ_CHECK(hs.has_value() || ext.has_value(), "accepted by the service only");
    // Twice: the second answer comes from the service's cache and must be the same.
    auto again = v.service.Authenticate(req);
    TALLY_FUZZ_CHECK(again && again->subject == who->subject && again->tenant == who->tenant &&
                         again->roles == who->roles,
                     "the cached principal differs");
  }
}

}  // namespace
}  // namespace tally::fuzz

TALLY_FUZZ_TARGET(jwt) {
  using namespace tally;
  if (input.empty()) return 0;
  const int mode = static_cast<unsigned char>(input[0]) % 4;
  const std::string_view rest = input.substr(1);
  switch (mode) {
    case 0: {
      fuzz::VerifyAll(rest);
      HttpRequest req;
      req.headers.emplace_back("authorization", std::string(rest));
      (void)fuzz::GetVerifiers().service.Authenticate(req);
      break;
    }
    case 1:
    case 2: {
      const size_t nl = rest.find('\n');
      const std::string_view header = rest.substr(0, nl);
      const std::string_view payload =
          nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      const std::string signing =
          auth::Base64Encode(header, true) + "." + auth::Base64Encode(payload, true);
      const std::string signature = mode == 1 ? fuzz::SignHs256(signing) : fuzz::SignEs256(signing);
      fuzz::VerifyAll(signing + "." + auth::Base64Encode(signature, true));
      break;
    }
    default: {
      auto jwks = auth::Jwks::Parse(rest);
      if (jwks) {
        const std::string header = auth::Base64Encode(R"({"alg":"ES256","kid":"ec1"})", true);
        const std::string body = auth::Base64Encode(R"({"sub":"x","exp":9999999999})", true);
        const std::string signing = header + "." + body;
        (void)jwks->Verify(signing + "." + auth::Base64Encode(fuzz::SignEs256(signing), true),
                           fuzz::Options());
      }
      break;
    }
  }
  return 0;
}
