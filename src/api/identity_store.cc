#include "api/identity_store.h"

#include <algorithm>

namespace tally::api {

void IdentityStore::Put(SessionIdentity identity) {
  std::lock_guard lock(mu_);
  std::string id = identity.client_id;
  by_id_[std::move(id)] = std::move(identity);
}

void IdentityStore::Remove(const std::string& client_id) {
  std::lock_guard lock(mu_);
  by_id_.erase(client_id);
}

std::optional<SessionIdentity> IdentityStore::Find(const std::string& client_id) const {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(client_id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::vector<SessionIdentity> IdentityStore::All() const {
  std::lock_guard lock(mu_);
  std::vector<SessionIdentity> out;
  out.reserve(by_id_.size());
  for (const auto& [id, s] : by_id_) out.push_back(s);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.client_id < b.client_id; });
  return out;
}

size_t IdentityStore::Size() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

void IdentityStore::Clear() {
  std::lock_guard lock(mu_);
  by_id_.clear();
}

void IdentityStore::Save(BinaryWriter& w) const {
  // Sorted: the same state saves to the same bytes.
  const auto all = All();
  w.U64(all.size());
  for (const auto& s : all) {
    w.Str(s.client_id);
    w.Str(s.principal.tenant);
    w.Str(s.principal.subject);
    w.U64(s.principal.roles.size());
    for (const auto& r : s.principal.roles) w.Str(r);
    w.Str(s.browser);
    w.U64(s.channels.size());
    for (const auto& c : s.channels) w.Str(c);
    w.Str(s.home);
    w.I64(s.since);
  }
}

bool IdentityStore::Load(BinaryReader& r) {
  std::unordered_map<std::string, SessionIdentity> loaded;
  const size_t n = r.Count(6);
  for (size_t i = 0; i < n && r.Ok(); ++i) {
    SessionIdentity s;
    s.client_id = r.Str();
    s.principal.tenant = r.Str();
    s.principal.subject = r.Str();
    s.principal.roles.resize(r.Count());
    for (auto& role : s.principal.roles) role = r.Str();
    s.browser = r.Str();
    s.channels.resize(r.Count());
    for (auto& c : s.channels) c = r.Str();
    s.home = r.Str();
    s.since = r.I64();
    std::string id = s.client_id;
    loaded[std::move(id)] = std::move(s);
  }
  if (!r.Ok()) return false;
  std::lock_guard lock(mu_);
  by_id_ = std::move(loaded);
  return true;
}

}  // namespace tally::api
