#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

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

// Issue 18, weak spot 7: padded or "crit" tokens are refused.
TEST(JwtTest, Issue18RefusesPaddingAndCritHeaders) {
  const VerifyOptions at{1'500, 60, "", "", "tenant"};
  const std::string token = SignHs256(Sample(), "secret");
  ASSERT_TRUE(VerifyHs256(token, "secret", at));
  EXPECT_FALSE(VerifyHs256(token + "=", "secret", at));
  EXPECT_FALSE(VerifyHs256(token + "==", "secret", at));
  // The same claims under a header that requires an extension, correctly signed.
  const std::string header = Base64Encode(R"({"alg":"HS256","typ":"JWT","crit":["exp"]})", true);
  const std::string rest = token.substr(token.find('.'));
  const std::string body = rest.substr(1, rest.rfind('.') - 1);
  const std::string input = header + "." + body;
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), "secret", 6, reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  const std::string crit =
      input + "." + Base64Encode(std::string(reinterpret_cast<char*>(mac), len), true);
  auto r = VerifyHs256(crit, "secret", at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "token header has 'crit': no JWS extension is supported");
}

class TokenEndpointTest : public ::testing::Test {
 protected:
  TokenEndpointTest() : auth_(Config(), clock_) {}
  static config::AuthConfig Config() {
    config::AuthConfig c;
    c.secret = "token-endpoint-test-secret-0123456789abcdef";
    c.max_failed_logins_per_minute = 5;
    c.users.push_back({"ann", "acme", HashPassword("ann-pw", 1000), {"statistics:read"}});
    c.clients.push_back({"board", HashPassword("board-secret", 1000), "acme", {"statistics:read"}});
    return c;
  }
  int Login(const std::string& user, const std::string& password, const std::string& ip) {
    HttpRequest req;
    req.remote = ip + ":4000";
    req.headers.emplace_back("authorization", "Basic " + Base64Encode("board:board-secret"));
    req.body = "grant_type=password&username=" + user + "&password=" + password;
    int status = 0;
    auth_.Token(req, RouteParams{}, Responder([&](HttpResponse&& r) { status = r.status; }));
    return status;
  }
  ManualClock clock_{1'800'000'000'000};
  AuthService auth_;
};

TEST_F(TokenEndpointTest, Issue18FailedLoginsAreLimitedPerAddressAndPerName) {
  EXPECT_EQ(Login("ann", "ann-pw", "10.0.0.1"), 200);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Login("ann", "wrong", "10.0.0.1"), 400);
  EXPECT_EQ(Login("ann", "ann-pw", "10.0.0.1"), 429) << "even the right password, for a minute";
  EXPECT_EQ(Login("ann", "ann-pw", "10.0.0.2"), 429) << "the name is limited from anywhere";
  EXPECT_EQ(Login("bob", "x", "10.0.0.2"), 400) << "another name from another address is not";
  clock_.AdvanceMs(61'000);
  EXPECT_EQ(Login("ann", "ann-pw", "10.0.0.1"), 200);
}

TEST_F(TokenEndpointTest, Issue18AnUnknownUserCostsTheSameWorkAsAKnownOne) {
  const auto before = auth_.PasswordChecksForTest();
  EXPECT_EQ(Login("ann", "wrong", "10.0.0.3"), 400);
  const auto known = auth_.PasswordChecksForTest() - before;
  EXPECT_EQ(Login("nobody", "wrong", "10.0.0.4"), 400);
  const auto unknown = auth_.PasswordChecksForTest() - before - known;
  EXPECT_EQ(known, unknown);
  EXPECT_EQ(known, 2u);  // the client secret and the password
}

// Issue 18, found by fuzzing (tests/fuzz/corpus/jwt/issue18-exp-overflow): a correctly signed
// token with "exp" near 2^63 overflowed exp + skew (signed, undefined) and, as a double beyond
// int64, made an undefined conversion; dates must be seconds between 1970 and 9999.
TEST(Issue18Fuzz, NumericDatesOutsideTheCalendarAreRefused) {
  const VerifyOptions at{1'500, 60, "", "", "tenant"};
  auto sign = [](const std::string& payload) {
    const std::string input =
        Base64Encode(R"({"alg":"HS256","typ":"JWT"})", true) + "." + Base64Encode(payload, true);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), "secret", 6, reinterpret_cast<const unsigned char*>(input.data()),
         input.size(), mac, &len);
    return input + "." +
           Base64Encode(std::string_view(reinterpret_cast<const char*>(mac), len), true);
  };
  for (const char* exp :
       {"9223372036854775807", "18446744073709551615", "1e300", "-1", "253402300800", "\"2800\""}) {
    auto r = VerifyHs256(sign(std::string(R"({"sub":"x","exp":)") + exp + "}"), "secret", at);
    ASSERT_FALSE(r) << exp;
    EXPECT_EQ(r.error().message, "token claim 'exp' is not a date in seconds between 1970 and 9999")
        << exp;
  }
  auto nbf = VerifyHs256(sign(R"({"sub":"x","exp":2800,"nbf":9.3e18})"), "secret", at);
  ASSERT_FALSE(nbf);
  EXPECT_EQ(nbf.error().message,
            "token claim 'nbf' is not a date in seconds between 1970 and 9999");
  // The last second of 9999 is a date; a fraction is truncated.
  auto last = VerifyHs256(sign(R"({"sub":"x","exp":253402300799,"iat":1000.9})"), "secret", at);
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_EQ(last->expires_at, 253'402'300'799);
  EXPECT_EQ(last->issued_at, 1000);
}

}  // namespace
}  // namespace tally::auth
