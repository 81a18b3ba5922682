// IdentityStore: the CometD session identities a client may come back with — clientId,
// principal, browser cookie, channel subscriptions, and the node that holds the session live
// (its home) — kept the one way all durable client state is kept: changed only by journaled
// commands (session-open when a session starts or moves to a node, drop-session when it ends),
// saved in snapshots with the subscription registry. So after a restart, or on another node of a
// cluster, a client carries on with its clientId and cookies without a new handshake: the
// CometD server looks the identity up when an unknown clientId arrives.
// Threading: thread-safe (one mutex); written on the engine thread, read by the CometD server on
// I/O threads.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/binary.h"
#include "common/clock.h"
#include "common/principal.h"

namespace tally::api {

struct SessionIdentity {
  std::string client_id;
  Principal principal;
  std::string browser;
  std::vector<std::string> channels;
  std::string home;  // the node holding it live ("" on one node)
  TimeMs since = 0;  // stamp of the record that put it there
};

class IdentityStore final {
 public:
  void Put(SessionIdentity identity);
  void Remove(const std::string& client_id);
  [[nodiscard]] std::optional<SessionIdentity> Find(const std::string& client_id) const;
  [[nodiscard]] std::vector<SessionIdentity> All() const;
  [[nodiscard]] size_t Size() const;

  // Snapshots: every identity; Load is all or nothing (false on damaged bytes).
  void Save(BinaryWriter& w) const;
  [[nodiscard]] bool Load(BinaryReader& r);
  void Clear();

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, SessionIdentity> by_id_;
};

}  // namespace tally::api
