#include "auth/password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <stdexcept>

#include "auth/base64.h"

namespace tally::auth {
namespace {

constexpr std::string_view kScheme = "pbkdf2-sha256";

struct Parsed {
  int iterations = 0;
  std::string salt;
  std::string hash;
};

Result<Parsed> Parse(std::string_view encoded) {
  auto bad = [](const char* what) -> Result<Parsed> {
    return Error{Errc::kInvalidArgument,
                 std::string("password hash: ") + what +
                     " (expected pbkdf2-sha256$ITERATIONS$SALT$HASH; run `tally hash-password`)"};
  };
  std::string_view parts[4];
  for (int i = 0; i < 3; ++i) {
    const size_t d = encoded.find('$');
    if (d == std::string_view::npos) return bad("too few fields");
    parts[i] = encoded.substr(0, d);
    encoded.remove_prefix(d + 1);
  }
  parts[3] = encoded;
  if (parts[0] != kScheme) return bad("unknown scheme");
  Parsed p;
  const auto [ptr, ec] =
      std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), p.iterations);
  if (ec != std::errc() || ptr != parts[1].data() + parts[1].size() || p.iterations < 1000) {
    return bad("iterations must be a number >= 1000");
  }
  auto salt = Base64Decode(parts[2]);
  auto hash = Base64Decode(parts[3]);
  if (!salt || salt->size() < 8) return bad("salt must be base64 of at least 8 bytes");
  if (!hash || hash->size() < 16) return bad("hash must be base64 of at least 16 bytes");
  p.salt = std::move(*salt);
  p.hash = std::move(*hash);
  return p;
}

}  // namespace

std::string Pbkdf2Sha256(std::string_view password, std::string_view salt, int iterations,
                         size_t length) {
  std::string out(length, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(length),
                        reinterpret_cast<unsigned char*>(out.data())) != 1) {
    throw std::runtime_error("PBKDF2 failed");  // only on OpenSSL misconfiguration
  }
  return out;
}

std::string HashPassword(std::string_view password, int iterations) {
  std::string salt(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) !=
      1) {
    throw std::runtime_error("no randomness for a salt");
  }
  const std::string hash = Pbkdf2Sha256(password, salt, iterations, 32);
  return std::string(kScheme) + "$" + std::to_string(iterations) + "$" + Base64Encode(salt) + "$" +
         Base64Encode(hash);
}

bool VerifyPassword(std::string_view password, std::string_view encoded) {
  auto p = Parse(encoded);
  if (!p) return false;
  const std::string hash = Pbkdf2Sha256(password, p->salt, p->iterations, p->hash.size());
  return CRYPTO_memcmp(hash.data(), p->hash.data(), hash.size()) == 0;
}

Result<void> CheckPasswordHash(std::string_view encoded) {
  auto p = Parse(encoded);
  if (!p) return p.error();
  return {};
}

}  // namespace tally::auth
