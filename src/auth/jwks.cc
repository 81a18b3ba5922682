#include "auth/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <boost/json.hpp>

#include "auth/base64.h"

namespace tally::auth {
namespace json = boost::json;

struct Jwks::Key {
  std::string kid;
  std::string alg;  // RS256 or ES256
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

std::string Str(const json::object& o, std::string_view k) {
  const json::value* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

EVP_PKEY* FromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  if (ctx != nullptr && params != nullptr && EVP_PKEY_fromdata_init(ctx) == 1) {
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) pkey = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return pkey;
}

Result<EVP_PKEY*> RsaKey(const std::string& n64, const std::string& e64, const std::string& where) {
  auto n = Base64Decode(n64, true);
  auto e = Base64Decode(e64, true);
  if (!n || n->empty()) return Error{Errc::kInvalidArgument, where + ".n: not base64url"};
  if (!e || e->empty()) return Error{Errc::kInvalidArgument, where + ".e: not base64url"};
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                           static_cast<int>(n->size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                           static_cast<int>(e->size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
  EVP_PKEY* pkey = FromParams("RSA", bld);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  if (pkey == nullptr) return Error{Errc::kInvalidArgument, where + ": not a usable RSA key"};
  return pkey;
}

Result<EVP_PKEY*> EcKey(const std::string& x64, const std::string& y64, const std::string& where) {
  auto x = Base64Decode(x64, true);
  auto y = Base64Decode(y64, true);
  if (!x || x->size() != 32)
    return Error{Errc::kInvalidArgument, where + ".x: not a 32-byte base64url"};
  if (!y || y->size() != 32)
    return Error{Errc::kInvalidArgument, where + ".y: not a 32-byte base64url"};
  std::string point = "\x04" + *x + *y;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  EVP_PKEY* pkey = FromParams("EC", bld);
  OSSL_PARAM_BLD_free(bld);
  if (pkey == nullptr) return Error{Errc::kInvalidArgument, where + ": not a point on P-256"};
  return pkey;
}

bool VerifySignature(EVP_PKEY* key, bool ec, std::string_view input, std::string signature) {
  if (ec) {
    // JWS carries r||s; OpenSSL wants DER.
    if (signature.size() != 64) return false;
    ECDSA_SIG* sig = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()), 32, nullptr);
    BIGNUM* s =
        BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()) + 32, 32, nullptr);
    ECDSA_SIG_set0(sig, r, s);
    unsigned char* der = nullptr;
    const int len = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    if (len <= 0) return false;
    signature.assign(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

}  // namespace

Jwks::Jwks() = default;
Jwks::~Jwks() = default;
Jwks::Jwks(Jwks&&) noexcept = default;
Jwks& Jwks::operator=(Jwks&&) noexcept = default;
size_t Jwks::Size() const { return keys_.size(); }

Result<Jwks> Jwks::Parse(std::string_view text) {
  boost::system::error_code ec;
  json::value doc = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return Error{Errc::kInvalidArgument, "JWKS is not JSON: " + ec.message()};
  const json::value* keys = doc.is_object() ? doc.as_object().if_contains("keys") : nullptr;
  if (keys == nullptr || !keys->is_array())
    return Error{Errc::kInvalidArgument, "JWKS: 'keys' must be an array"};
  Jwks jwks;
  for (size_t i = 0; i < keys->as_array().size(); ++i) {
    const std::string where = "keys[" + std::to_string(i) + "]";
    const json::value& kv = keys->as_array()[i];
    if (!kv.is_object()) return Error{Errc::kInvalidArgument, where + ": must be an object"};
    const json::object& o = kv.as_object();
    auto key = std::make_unique<Key>();
    key->kid = Str(o, "kid");
    const std::string kty = Str(o, "kty");
    Result<EVP_PKEY*> pkey = Error{};
    if (kty == "RSA") {
      key->alg = "RS256";
      pkey = RsaKey(Str(o, "n"), Str(o, "e"), where);
    } else if (kty == "EC") {
      if (Str(o, "crv") != "P-256")
        return Error{Errc::kInvalidArgument, where + ".crv: only P-256 is supported"};
      key->alg = "ES256";
      pkey = EcKey(Str(o, "x"), Str(o, "y"), where);
    } else {
      return Error{Errc::kInvalidArgument, where + ".kty: expected RSA or EC, got '" + kty + "'"};
    }
    if (!pkey) return pkey.error();
    const std::string alg = Str(o, "alg");
    if (!alg.empty() && alg != key->alg) {
      EVP_PKEY_free(*pkey);
      return Error{Errc::kInvalidArgument, where + ".alg: '" + alg + "' does not fit kty " + kty};
    }
    key->pkey = *pkey;
    jwks.keys_.push_back(std::move(key));
  }
  return jwks;
}

std::string TokenAlgorithm(std::string_view token) {
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos) return {};
  auto header = Base64Decode(token.substr(0, dot), true);
  if (!header) return {};
  boost::system::error_code ec;
  json::value h = json::parse(*header, ec);
  if (ec || !h.is_object()) return {};
  return Str(h.as_object(), "alg");
}

Result<Claims> Jwks::Verify(std::string_view token, const VerifyOptions& options) const {
  if (auto shape = CheckJwtShape(token); !shape) return shape.error();
  const size_t d1 = token.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return Error{Errc::kUnauthenticated, "token is not a JWT"};
  auto header_text = Base64Decode(token.substr(0, d1), true);
  auto signature = Base64Decode(token.substr(d2 + 1), true);
  if (!header_text || !signature) return Error{Errc::kUnauthenticated, "token is not base64url"};
  boost::system::error_code ec;
  json::value header = json::parse(*header_text, ec);
  if (ec || !header.is_object()) return Error{Errc::kUnauthenticated, "token header is not JSON"};
  const std::string alg = Str(header.as_object(), "alg");
  const std::string kid = Str(header.as_object(), "kid");
  bool any_key = false;
  for (const auto& key : keys_) {
    if (key->alg != alg || (!kid.empty() && key->kid != kid)) continue;
    any_key = true;
    if (VerifySignature(key->pkey, alg == "ES256", token.substr(0, d2), *signature)) {
      // The signature is good: check the claims with the HS256 path's rules.
      return VerifyClaimsOnly(token, options);
    }
  }
  if (!any_key) {
    return Error{Errc::kUnauthenticated, "no key in the JWKS for alg '" + alg + "'" +
                                             (kid.empty() ? "" : " and kid '" + kid + "'")};
  }
  return Error{Errc::kUnauthenticated, "token signature is invalid"};
}

}  // namespace tally::auth
