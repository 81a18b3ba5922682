#include "stats/key_interner.h"

#include <functional>
#include <mutex>

namespace tally::stats {

KeyInterner& KeyInterner::Global() {
  static KeyInterner interner;
  return interner;
}

std::uint32_t KeyInterner::Intern(std::string_view tenant, std::string_view key) {
  if (key.empty()) return 0;
  std::string full;
  full.reserve(tenant.size() + 1 + key.size());
  full.append(tenant);
  full.push_back('\x1f');
  full.append(key);
  {
    std::shared_lock lock(mu_);
    if (auto it = ids_.find(std::string_view(full)); it != ids_.end()) return it->second;
    if (ids_.size() >= kMaxKeys) return 0;
  }
  std::unique_lock lock(mu_);
  if (ids_.size() >= kMaxKeys) return 0;
  const auto id = static_cast<std::uint32_t>(ids_.size() + 1);
  return ids_.try_emplace(std::move(full), id).first->second;
}

std::uint32_t KeyInterner::Size() const {
  std::shared_lock lock(mu_);
  return static_cast<std::uint32_t>(ids_.size());
}

}  // namespace tally::stats
