// KeyInterner: a DN's place in the engine, found without the engine building or hashing a
// string. The decoder (events::ParseEvent, on an I/O thread) gives each event the number of its
// tenant and order key ("7001@default"); the engine keeps, per number, where that key is (its DN
// and queue), checked against a version that changes whenever a key gets a DN or queue. The
// same string always gets the same number within a process. Bounded: past kMaxKeys distinct keys
// (a source inventing DNs) new ones get 0, "no number", and take the string path.
// Threading: Intern() from any thread (a shared lock for keys already known).
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>

#include <boost/unordered/unordered_flat_map.hpp>

#include "common/string_hash.h"

namespace tally::stats {

class KeyInterner final {
 public:
  static constexpr std::uint32_t kMaxKeys = 1'000'000;
  // The process's interner (what the decoder and every engine share).
  static KeyInterner& Global();
  // The number of `tenant` + `key` (1, 2, …), or 0 when the table is full or `key` is empty.
  [[nodiscard]] std::uint32_t Intern(std::string_view tenant, std::string_view key);
  [[nodiscard]] std::uint32_t Size() const;

 private:
  mutable std::shared_mutex mu_;
  boost::unordered_flat_map<std::string, std::uint32_t, StringHash, std::equal_to<>> ids_;
};

}  // namespace tally::stats
