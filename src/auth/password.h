// Password hashing for configured users and clients: salted PBKDF2-HMAC-SHA256 (OpenSSL),
// encoded as "pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>".
// Threading: pure functions (OpenSSL's PBKDF2 and RAND are thread-safe).
#pragma once

#include <string>
#include <string_view>

#include "common/errc.h"

namespace tally::auth {

inline constexpr int kDefaultIterations = 210'000;  // OWASP 2023 guidance for PBKDF2-SHA256

[[nodiscard]] std::string HashPassword(std::string_view password,
                                       int iterations = kDefaultIterations);
// True when `password` matches `encoded`; constant time in the hash comparison. A malformed
// `encoded` value never matches.
[[nodiscard]] bool VerifyPassword(std::string_view password, std::string_view encoded);
// Checks the encoding without a password (config validation); the error says what is wrong.
[[nodiscard]] Result<void> CheckPasswordHash(std::string_view encoded);

// Raw PBKDF2-HMAC-SHA256 (exposed for the RFC test vectors).
[[nodiscard]] std::string Pbkdf2Sha256(std::string_view password, std::string_view salt,
                                       int iterations, size_t length);

}  // namespace tally::auth
