#include "server/journal_setup.h"

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/log.h"

namespace tally::server {

storage::JetStreamOptions JetStreamOptionsOf(const config::Config& config,
                                             const std::string& node) {
  const auto& j = config.jetstream;
  storage::JetStreamOptions o;
  o.servers = j.servers;
  o.stream = j.stream;
  o.subject_prefix = j.subject_prefix;
  o.replicas = j.replicas;
  o.duplicate_window_ms = j.duplicate_window_s * 1000;
  o.timeout_ms = j.timeout_ms;
  o.credentials_file = config.Resolve(j.credentials_file);
  o.user = j.user;
  o.password = j.password;
  o.token = j.token;
  o.tls_ca_file = config.Resolve(j.tls_ca_file);
  o.tls_cert_file = config.Resolve(j.tls_cert_file);
  o.tls_key_file = config.Resolve(j.tls_key_file);
  o.client_name = "tally " + node;
  o.snapshot_bucket = j.stream + "_SNAPSHOTS";
  return o;
}

Result<std::unique_ptr<JournalSetup>> JournalSetup::Open(const config::Config& config,
                                                         const Clock& clock,
                                                         const std::string& node) {
  std::unique_ptr<JournalSetup> s(new JournalSetup());
  s->config_ = &config;
  s->clock_ = &clock;
  s->node_ = node;
  if (config.storage.backend == "jetstream") {
    s->clustered_ = true;
    s->durable_ = true;
    s->tenants_ = config.cluster.tenants;
    if (s->tenants_.empty()) {
      for (const auto& t : config.tenants) s->tenants_.push_back(t.name);
    }
    s->group_ = SnapshotGroup(s->tenants_);
    return s;
  }
  storage::JournalOptions options;
  options.path = config.Resolve(config.storage.path);
  options.max_bytes = config.storage.max_bytes;
  options.durability = config.storage.durability == "off"      ? storage::Durability::kOff
                       : config.storage.durability == "normal" ? storage::Durability::kNormal
                                                               : storage::Durability::kFull;
  if (options.path.empty()) {
    TALLY_LOG_WARN(
        "storage.path is not set: the journal is in memory and nothing survives a restart");
    options.path = ":memory:";
  } else {
    std::error_code ec;
    const auto parent = std::filesystem::path(options.path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  }
  auto journal = storage::Journal::Open(options);
  if (!journal) return journal.error();
  s->journal_ = std::move(*journal);
  s->durable_ = options.path != ":memory:";
  s->writer_ = std::make_unique<storage::JournalWriter>(*s->journal_);
  s->writer_->SetRetention(static_cast<std::int64_t>(config.storage.retention_days * 86'400'000.0),
                           static_cast<int>(config.storage.keep_snapshots));
  s->snapshots_ = std::make_unique<JournalSnapshots>(*s->journal_, *s->writer_);
  return s;
}

JournalSetup::~JournalSetup() { Stop(); }

Result<void> JournalSetup::Connect(const std::function<bool()>& stopping) {
  if (!clustered_ || jetstream_) return {};
  const auto options = JetStreamOptionsOf(*config_, node_);
  auto last_log = std::chrono::steady_clock::time_point{};
  for (;;) {
    auto js = storage::JetStream::Open(options);
    if (js) {
      jetstream_ = std::move(*js);
      break;
    }
    if (js.error().code != Errc::kUnavailable) return js.error();
    if (std::chrono::steady_clock::now() - last_log > std::chrono::seconds(5)) {
      last_log = std::chrono::steady_clock::now();
      TALLY_LOG_WARN("journal: {}; retrying (the node is not ready meanwhile)", js.error().message);
    }
    for (int i = 0; i < 10; ++i) {
      if (stopping()) return Error{Errc::kUnavailable, "stopped while connecting to NATS"};
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  TALLY_LOG_INFO(
      "journal: JetStream stream '{}' ({} replicas) on {}; this node '{}' carries {} "
      "tenant(s), snapshot group {}",
      options.stream, options.replicas, options.servers.front(), node_, tenants_.size(), group_);
  cluster_ = std::make_unique<ClusterLog>(*jetstream_, config_->cluster.publishers);
  const std::int64_t retention =
      static_cast<std::int64_t>(config_->storage.retention_days * 86'400'000.0);
  snapshots_ = std::make_unique<ClusterSnapshots>(*cluster_, group_, node_,
                                                  static_cast<int>(config_->storage.keep_snapshots),
                                                  retention, *clock_);
  return {};
}

void JournalSetup::Start() {
  if (writer_) writer_->Start();
  if (cluster_) cluster_->Start();
}

void JournalSetup::Stop() {
  if (writer_) writer_->Stop();
  if (cluster_) cluster_->Stop();
  if (jetstream_) jetstream_->Stop();
}

}  // namespace tally::server
