#include "auth/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <gtest/gtest.h>

#include "auth/base64.h"

namespace tally::auth {
namespace {

std::string Bn(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

std::string Sign(EVP_PKEY* key, bool ec, const std::string& input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (!ec) return sig;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(s), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(s), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(s);
  return raw;
}

std::string Token(EVP_PKEY* key, const std::string& alg, const std::string& kid,
                  const std::string& payload) {
  const std::string input =
      Base64Encode(R"({"alg":")" + alg + R"(","kid":")" + kid + R"("})", true) + "." +
      Base64Encode(payload, true);
  return input + "." + Base64Encode(Sign(key, alg == "ES256", input), true);
}

class JwksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rsa_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
    ec_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    other_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    ASSERT_NE(rsa_, nullptr);
    ASSERT_NE(ec_, nullptr);
    unsigned char point[65];
    size_t len = 0;
    EVP_PKEY_get_octet_string_param(ec_, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len);
    ASSERT_EQ(len, 65u);
    const std::string x(reinterpret_cast<char*>(point) + 1, 32);
    const std::string y(reinterpret_cast<char*>(point) + 33, 32);
    jwks_text_ = R"({"keys":[{"kty":"RSA","kid":"r1","alg":"RS256","n":")" +
                 Base64Encode(Bn(rsa_, OSSL_PKEY_PARAM_RSA_N), true) + R"(","e":")" +
                 Base64Encode(Bn(rsa_, OSSL_PKEY_PARAM_RSA_E), true) +
                 R"("},{"kty":"EC","crv":"P-256","kid":"e1","x":")" + Base64Encode(x, true) +
                 R"(","y":")" + Base64Encode(y, true) + R"("}]})";
  }
  void TearDown() override {
    EVP_PKEY_free(rsa_);
    EVP_PKEY_free(ec_);
    EVP_PKEY_free(other_);
  }

  EVP_PKEY* rsa_ = nullptr;
  EVP_PKEY* ec_ = nullptr;
  EVP_PKEY* other_ = nullptr;
  std::string jwks_text_;
  const std::string payload_ =
      R"({"sub":"ext-user","tenant":"acme","iss":"idp","aud":"tally","exp":5000})";
};

TEST_F(JwksTest, VerifiesRs256AndEs256) {
  auto jwks = Jwks::Parse(jwks_text_);
  ASSERT_TRUE(jwks) << jwks.error().message;
  EXPECT_EQ(jwks->Size(), 2u);
  const VerifyOptions opts{1000, 60, "idp", "tally", "tenant"};
  auto rs = jwks->Verify(Token(rsa_, "RS256", "r1", payload_), opts);
  ASSERT_TRUE(rs) << rs.error().message;
  EXPECT_EQ(rs->subject, "ext-user");
  EXPECT_EQ(rs->tenant, "acme");
  auto es = jwks->Verify(Token(ec_, "ES256", "e1", payload_), opts);
  ASSERT_TRUE(es) << es.error().message;
  EXPECT_EQ(TokenAlgorithm(Token(ec_, "ES256", "e1", payload_)), "ES256");
}

TEST_F(JwksTest, RefusesUnknownKeysWrongSignaturesAndBadClaims) {
  auto jwks = Jwks::Parse(jwks_text_);
  ASSERT_TRUE(jwks);
  const VerifyOptions opts{1000, 60, "idp", "tally", "tenant"};
  auto forged = jwks->Verify(Token(other_, "ES256", "e1", payload_), opts);
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().message, "token signature is invalid");
  auto unknown = jwks->Verify(Token(ec_, "ES256", "nope", payload_), opts);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "no key in the JWKS for alg 'ES256' and kid 'nope'");
  auto expired =
      jwks->Verify(Token(rsa_, "RS256", "r1", payload_), VerifyOptions{9000, 60, "", "", "tenant"});
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().message, "token expired");
  auto issuer = jwks->Verify(Token(rsa_, "RS256", "r1", payload_),
                             VerifyOptions{1000, 60, "other", "", "tenant"});
  EXPECT_FALSE(issuer);
}

TEST(JwksParseTest, ErrorsNameTheKeyAndField) {
  EXPECT_EQ(Jwks::Parse("{").error().message.rfind("JWKS is not JSON", 0), 0u);
  EXPECT_EQ(Jwks::Parse(R"({"keys":{}})").error().message, "JWKS: 'keys' must be an array");
  EXPECT_EQ(Jwks::Parse(R"({"keys":[{"kty":"oct"}]})").error().message,
            "keys[0].kty: expected RSA or EC, got 'oct'");
  EXPECT_EQ(Jwks::Parse(R"({"keys":[{"kty":"EC","crv":"P-384"}]})").error().message,
            "keys[0].crv: only P-256 is supported");
  EXPECT_EQ(Jwks::Parse(R"({"keys":[{"kty":"RSA","n":"***","e":"AQAB"}]})").error().message,
            "keys[0].n: not base64url");
}

}  // namespace
}  // namespace tally::auth
