// Base64 (RFC 4648 §4) and base64url without padding (§5, as JWT uses it).
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tally::auth {

[[nodiscard]] std::string Base64Encode(std::string_view data, bool url = false);
// Accepts padded or unpadded input of the chosen alphabet; nullopt on any invalid character.
[[nodiscard]] std::optional<std::string> Base64Decode(std::string_view text, bool url = false);

}  // namespace tally::auth
