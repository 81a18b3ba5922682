// JournalSetup: the journal the configuration chose (`[storage] backend`): the SQLite journal
// with its writer thread (one node), or the JetStream stream of a cluster with its publishers
// (`[jetstream]`, `[cluster]`; docs/cluster.md) — and where each keeps its snapshots.
// Threading: Open*/Connect/Start/Stop from the composition root (Connect on the recovery
// thread); the accessors after those.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "server/cluster_log.h"
#include "server/snapshotter.h"
#include "storage/jetstream.h"
#include "storage/journal.h"

namespace tally::server {

class JournalSetup final {
 public:
  // The SQLite journal (opened now) or a JetStream journal (opened by Connect()).
  [[nodiscard]] static Result<std::unique_ptr<JournalSetup>> Open(const config::Config& config,
                                                                  const Clock& clock,
                                                                  const std::string& node);
  ~JournalSetup();

  [[nodiscard]] bool Clustered() const { return clustered_; }
  [[nodiscard]] storage::Journal* Journal() { return journal_.get(); }
  [[nodiscard]] storage::JournalWriter* Writer() { return writer_.get(); }
  [[nodiscard]] bool Durable() const { return durable_; }  // survives the process
  // Valid once opened (SQLite) or connected (JetStream).
  [[nodiscard]] SnapshotStore* Snapshots() { return snapshots_.get(); }
  [[nodiscard]] ClusterLog* Cluster() { return cluster_.get(); }
  [[nodiscard]] const std::string& Group() const { return group_; }
  [[nodiscard]] const std::vector<std::string>& Tenants() const { return tenants_; }

  // JetStream: connects, retrying (logged) until it can or `stopping` says so.
  [[nodiscard]] Result<void> Connect(const std::function<bool()>& stopping);
  // The writer thread or the publishers.
  void Start();
  // Stores what is queued, then stops.
  void Stop();

 private:
  JournalSetup() = default;

  const config::Config* config_ = nullptr;
  const Clock* clock_ = nullptr;
  bool clustered_ = false;
  bool durable_ = false;
  std::string node_;
  std::string group_;
  std::vector<std::string> tenants_;  // a cluster: the tenants this node carries
  std::unique_ptr<storage::Journal> journal_;
  std::unique_ptr<storage::JournalWriter> writer_;
  std::unique_ptr<storage::JetStream> jetstream_;
  std::unique_ptr<ClusterLog> cluster_;
  std::unique_ptr<SnapshotStore> snapshots_;
};

// The JetStream client options of a configuration.
[[nodiscard]] storage::JetStreamOptions JetStreamOptionsOf(const config::Config& config,
                                                           const std::string& node);

}  // namespace tally::server
