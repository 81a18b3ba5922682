#include <gtest/gtest.h>

#include "auth/base64.h"
#include "auth/jwt.h"
#include "auth/password.h"
#include "auth/service.h"
#include "common/clock.h"

namespace tally::auth {
namespace {

std::string Hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

TEST(Base64Test, StandardAndUrlAlphabets) {
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("\xfb\xff", true), "-_8");
  EXPECT_EQ(Base64Decode("Zm8="), "fo");
  EXPECT_EQ(Base64Decode("-_8", true), "\xfb\xff");
  EXPECT_FALSE(Base64Decode("-_8", false));
  EXPECT_FALSE(Base64Decode("Z"));
}

// RFC 7914 §11: PBKDF2-HMAC-SHA256 test vector.
TEST(PasswordTest, Pbkdf2MatchesTheRfcVector) {
  EXPECT_EQ(Hex(Pbkdf2Sha256("passwd", "salt", 1, 64)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
            "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
}

TEST(PasswordTest, HashAndVerify) {
  const std::string h = HashPassword("s3cret", 1000);
  EXPECT_EQ(h.rfind("pbkdf2-sha256$1000$", 0), 0u);
  EXPECT_TRUE(VerifyPassword("s3cret", h));
  EXPECT_FALSE(VerifyPassword("s3cret!", h));
  EXPECT_NE(HashPassword("s3cret", 1000), h);  // salted
  EXPECT_TRUE(CheckPasswordHash(h));
}

TEST(PasswordTest, MalformedHashesNeverMatch) {
  for (const char* bad : {"", "plain", "pbkdf2-sha256$10$AAAA$BBBB", "md5$1000$AAAAAAAAAAA=$x",
                          "pbkdf2-sha256$1000$%%%$AAAA"}) {
    EXPECT_FALSE(VerifyPassword("x", bad)) << bad;
    EXPECT_FALSE(CheckPasswordHash(bad)) << bad;
  }
}

Claims Sample() {
  Claims c;
  c.subject = "supervisor";
  c.tenant = "acme";
  c.roles = {"statistics:read"};
  c.issuer = "tally";
  c.audience = "tally";
  c.token_use = "access";
  c.issued_at = 1'000;
  c.expires_at = 2'800;
  return c;
}

TEST(JwtTest, SignAndVerifyRoundTrip) {
  const std::string token = SignHs256(Sample(), "secret");
  auto c = VerifyHs256(token, "secret", VerifyOptions{1'500, 60, "tally", "tally", "tenant"});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->subject, "supervisor");
  EXPECT_EQ(c->tenant, "acme");
  EXPECT_TRUE(c->HasRole("statistics:read"));
  EXPECT_FALSE(c->HasRole("events:write"));
}

TEST(JwtTest, RefusesForgedExpiredAndForeignTokens) {
  const std::string token = SignHs256(Sample(), "secret");
  const VerifyOptions at{1'500, 60, "tally", "tally", "tenant"};
  auto wrong_key = VerifyHs256(token, "other", at);
  ASSERT_FALSE(wrong_key);
  EXPECT_EQ(wrong_key.error().code, Errc::kUnauthenticated);
  EXPECT_EQ(wrong_key.error().message, "token signature is invalid");
  std::string tampered = token;
  tampered[tampered.find('.') + 3] ^= 1;
  EXPECT_FALSE(VerifyHs256(tampered, "secret", at));
  auto expired = VerifyHs256(token, "secret", VerifyOptions{2'861, 60, "", "", "tenant"});
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().message, "token expired");
  EXPECT_TRUE(VerifyHs256(token, "secret", VerifyOptions{2'859, 60, "", "", "tenant"}));
  auto issuer = VerifyHs256(token, "secret", VerifyOptions{1'500, 60, "someone", "", "tenant"});
  ASSERT_FALSE(issuer);
  EXPECT_EQ(issuer.error().message, "token issuer 'tally' is not accepted");
  EXPECT_FALSE(VerifyHs256(token, "secret", VerifyOptions{1'500, 60, "", "elsewhere", "tenant"}));
  EXPECT_FALSE(VerifyHs256("a.b", "secret", at));
  EXPECT_FALSE(VerifyHs256("not a token", "secret", at));
}

TEST(JwtTest, RefusesAlgNone) {
  const std::string header = Base64Encode(R"({"alg":"none","typ":"JWT"})", true);
  const std::string payload =
      Base64Encode(R"({"sub":"x","exp":99999999999,"roles":["admin"]})", true);
  auto r =
      VerifyHs256(header + "." + payload + ".", "secret", VerifyOptions{1, 60, "", "", "tenant"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "token algorithm 'none' is not accepted (HS256 expected)");
}

TEST(AuthServiceTest, ACachedTokenStillExpiresAndAForgedOneIsNeverCached) {
  config::AuthConfig config;
  config.secret = "auth-service-test-secret-0123456789abcdef";
  config.token_ttl_s = 60;
  ManualClock clock(1'800'000'000'000);
  AuthService auth(config, clock);
  const std::string token = auth.IssueAccessToken(Principal{"ann", "acme", {"statistics:read"}});
  HttpRequest req;
  req.headers.emplace_back("authorization", "Bearer " + token);
  for (int i = 0; i < 3; ++i) {  // verified once, then answered from the cache
    auto who = auth.Authenticate(req);
    ASSERT_TRUE(who) << who.error().message;
    EXPECT_EQ(who->subject, "ann");
    EXPECT_EQ(who->tenant, "acme");
  }
  clock.AdvanceMs((60 + config.max_skew_s + 1) * 1000);
  auto late = auth.Authenticate(req);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().message, "token expired");
  HttpRequest forged;
  std::string bad = token;
  char& c = bad[bad.size() - 10];  // inside the signature, all 6 bits are data
  c = c == 'A' ? 'B' : 'A';
  forged.headers.emplace_back("authorization", "Bearer " + bad);
  clock.SetMs(1'800'000'000'000);
  EXPECT_FALSE(auth.Authenticate(forged));
  EXPECT_FALSE(auth.Authenticate(forged)) << "a refused token stays refused";
}

}  // namespace
}  // namespace tally::auth
