// ServiceState: whether each tenant's event sources are up (DESIGN.md §5). A link is down from an
// applied EventLinkDisconnected of its switch until the EventLinkConnected; the source heartbeat
// takes a tenant that sent nothing for the configured time down (switch "heartbeat") until its
// next batch. A tenant with any link down is UNAVAILABLE. Link state follows the applied records
// only, so every replica of a cluster agrees; the heartbeat's clock counts both what this node
// accepted and what it applied from others.
// Threading: every method takes the internal lock; OnLink runs on the engine thread, the rest on
// the write path or any reader.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/binary.h"
#include "common/clock.h"
#include "stats/event.h"

namespace tally::server {

inline constexpr std::string_view kHeartbeatSwitch = "heartbeat";

class ServiceState final {
 public:
  // An EventLinkConnected/Disconnected was applied: true when the tenant's state changed (all
  // links up ↔ some link down).
  bool OnLink(const stats::Event& e);
  [[nodiscard]] bool TenantUp(const std::string& tenant) const;

  // A batch of `tenant` was accepted at `stamp`: true when the heartbeat has taken the tenant
  // down (or is about to: its link-down is on its way to the journal), so its link comes back
  // first (the caller puts an EventLinkConnected ahead of the batch).
  bool NoteBatch(const std::string& tenant, TimeMs stamp);
  // A record of `tenant` stamped `stamp` was applied (a cluster: another node's batch counts).
  void NoteApplied(const std::string& tenant, TimeMs stamp);
  // Of `tenants`, those silent for `timeout` at `now` whose heartbeat link is not down yet;
  // they are marked as going down (the caller journals an EventLinkDisconnected for each). The
  // clock of a tenant starts at its first check.
  [[nodiscard]] std::vector<std::string> Silent(const std::vector<std::string>& tenants, TimeMs now,
                                                TimeMs timeout);

  // Snapshots: the links that are down.
  void Save(BinaryWriter& w) const;
  [[nodiscard]] bool Load(BinaryReader& r);
  // The links of `other` (a state just loaded) replace these.
  void AdoptLinks(const ServiceState& other);

 private:
  [[nodiscard]] bool HeartbeatDown(const std::string& tenant) const;  // under mu_

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::string>> links_down_;  // tenant → switches
  std::unordered_map<std::string, TimeMs> last_activity_;  // tenant → newest batch or record
  std::unordered_map<std::string, bool> going_down_;       // heartbeat link-down sent, not applied
};

}  // namespace tally::server
