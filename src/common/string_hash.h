// A transparent hash of strings: maps keyed by std::string (with std::equal_to<>) look up a
// std::string_view or a literal without building a string. Threading: stateless.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace tally {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace tally
