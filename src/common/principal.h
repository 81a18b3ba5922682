// Principal: who is calling (from a verified token). Shared by auth (which produces it) and
// api (which uses it) without either depending on the other.
// Threading: plain value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tally {

struct Principal {
  std::string subject;  // user name or client id
  std::string tenant;   // empty for a multi-tenant client
  std::vector<std::string> roles;
  std::int64_t expires_at_ms = 0;  // when the credentials it came from expire (0: unknown)

  [[nodiscard]] bool HasRole(std::string_view role) const {
    for (const auto& r : roles) {
      if (r == role || r == "admin") return true;
    }
    return false;
  }
};

}  // namespace tally
