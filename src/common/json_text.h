// Tiny helpers to write JSON text without a JSON library (used by logging and by the HTTP edge
// for error envelopes). Threading: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace tally {

// Appends `text` as a quoted JSON string (RFC 8259 escaping, invalid UTF-8 bytes replaced).
void AppendJsonString(std::string& out, std::string_view text);
[[nodiscard]] std::string JsonString(std::string_view text);

}  // namespace tally
