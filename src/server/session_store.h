// CometD session identities an older build kept in the journal database's state table (this one
// journals them: api/identity_store.h). Read once at startup, with checks: a damaged one is
// skipped, logged and counted, never a reason not to start.
// Threading: at startup.
#pragma once

#include <cstdint>

#include "bayeux/server.h"
#include "storage/journal.h"

namespace tally::server {

struct RestoreResult {
  std::uint64_t restored = 0;
  std::uint64_t damaged = 0;  // skipped: not an identity this version can read
  std::vector<bayeux::Server::Identity> identities;  // what was restored
};
// Restores the stored identities into `bayeux` (they may reconnect).
[[nodiscard]] RestoreResult RestoreIdentities(bayeux::Server& bayeux, storage::Journal& journal);

}  // namespace tally::server
