#include "server/service_state.h"

#include <algorithm>

namespace tally::server {

bool ServiceState::OnLink(const stats::Event& e) {
  std::lock_guard lock(mu_);
  auto& down = links_down_[e.tenant];
  const bool was_up = down.empty();
  auto it = std::find(down.begin(), down.end(), e.switch_id);
  if (e.type == stats::EventType::kLinkDisconnected) {
    if (it == down.end()) down.push_back(e.switch_id);
  } else if (it != down.end()) {
    down.erase(it);
  }
  if (e.switch_id == kHeartbeatSwitch) going_down_[e.tenant] = false;
  return was_up != down.empty();
}

bool ServiceState::TenantUp(const std::string& tenant) const {
  std::lock_guard lock(mu_);
  auto it = links_down_.find(tenant);
  return it == links_down_.end() || it->second.empty();
}

bool ServiceState::HeartbeatDown(const std::string& tenant) const {
  if (auto g = going_down_.find(tenant); g != going_down_.end() && g->second) return true;
  auto it = links_down_.find(tenant);
  return it != links_down_.end() &&
         std::find(it->second.begin(), it->second.end(), kHeartbeatSwitch) != it->second.end();
}

bool ServiceState::NoteBatch(const std::string& tenant, TimeMs stamp) {
  std::lock_guard lock(mu_);
  auto& last = last_activity_[tenant];
  last = std::max(last, stamp);
  if (!HeartbeatDown(tenant)) return false;
  going_down_[tenant] = false;  // the link-up goes with this batch
  return true;
}

void ServiceState::NoteApplied(const std::string& tenant, TimeMs stamp) {
  std::lock_guard lock(mu_);
  auto& last = last_activity_[tenant];
  last = std::max(last, stamp);
}

std::vector<std::string> ServiceState::Silent(const std::vector<std::string>& tenants, TimeMs now,
                                              TimeMs timeout) {
  std::vector<std::string> silent;
  std::lock_guard lock(mu_);
  for (const auto& t : tenants) {
    auto [it, fresh] = last_activity_.try_emplace(t, now);
    if (fresh || HeartbeatDown(t) || now - it->second < timeout) continue;
    going_down_[t] = true;
    silent.push_back(t);
  }
  return silent;
}

void ServiceState::Save(BinaryWriter& w) const {
  std::lock_guard lock(mu_);
  w.U64(links_down_.size());
  for (const auto& [tenant, switches] : links_down_) {
    w.Str(tenant);
    w.U64(switches.size());
    for (const auto& sw : switches) w.Str(sw);
  }
}

void ServiceState::AdoptLinks(const ServiceState& other) {
  std::scoped_lock lock(mu_, other.mu_);
  links_down_ = other.links_down_;
}

bool ServiceState::Load(BinaryReader& r) {
  std::unordered_map<std::string, std::vector<std::string>> links;
  const size_t tenants = r.Count(2);
  for (size_t i = 0; i < tenants && r.Ok(); ++i) {
    auto& down = links[r.Str()];
    down.resize(r.Count());
    for (auto& sw : down) sw = r.Str();
  }
  if (!r.Ok()) return false;
  std::lock_guard lock(mu_);
  links_down_ = std::move(links);
  return true;
}

}  // namespace tally::server
