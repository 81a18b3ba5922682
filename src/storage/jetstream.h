// JetStream: the record log on a NATS JetStream stream (DESIGN.md §7), for a cluster of Tally
// nodes. One stream in file storage, `replicas` copies (a publish is acknowledged once a quorum
// stored it); subjects `<prefix>.<tenant>.<kind>` — a tenant's ingest batches on `…events`, its
// API commands on `…commands`, CometD session identities on `…sessions` — so a node follows only
// the tenants it carries. One stream message is one batch of records (an ingest batch, one
// command); its stream sequence is the order every node applies. Idempotency keys are
// `Nats-Msg-Id` (the stream's duplicate window). Ordered appends use
// `Nats-Expected-Last-Subject-Sequence` on the tenant's events subject: a publish succeeds only
// if nothing was appended to that tenant's events since the sequence the publisher had seen.
// Snapshots live in a JetStream key/value bucket, chunked, readable by every node.
// Threading: thread-safe (the NATS client is); Follow() callbacks run on the client's delivery
// thread of each subscription, one message at a time, in stream order.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/errc.h"
#include "storage/journal.h"

namespace tally::storage {

struct JetStreamOptions {
  std::vector<std::string> servers = {"nats://127.0.0.1:4222"};
  std::string stream = "TALLY";
  std::string subject_prefix = "tally";
  int replicas = 1;
  std::int64_t duplicate_window_ms = 3'600'000;  // Nats-Msg-Id (Idempotency-Key) dedup window
  std::int64_t timeout_ms = 5000;                // connect, publish ack, API requests
  std::int32_t max_message_bytes = 8 << 20;      // one batch; the server's max_payload caps it
  // Credentials the C client supports: a .creds file (JWT + NKey), user/password, a token; TLS.
  std::string credentials_file;
  std::string user;
  std::string password;
  std::string token;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string client_name = "tally";  // shown by the NATS server (the node's name)
  std::string snapshot_bucket = "TALLY_SNAPSHOTS";
};

enum class StreamKind : std::uint8_t { kEvents = 1, kCommands = 2, kSessions = 3 };

// One stream message: a batch of records of one tenant and one kind, stamped once by the node
// that published it.
struct StreamBatch {
  StreamKind kind = StreamKind::kEvents;
  std::string tenant;
  TimeMs stamp = 0;
  std::vector<std::string> bodies;  // one per record
  std::string key;                  // idempotency key ("" = none) → Nats-Msg-Id
  std::string body_hash;            // fingerprint of what the key was sent with
  std::string origin;               // the publishing node
  std::uint64_t request = 0;        // the publisher's request number (to answer its client)
};

struct PublishAck {
  std::uint64_t seq = 0;
  bool duplicate = false;  // the key was stored already: seq is the stored message's
};

// A snapshot in the bucket: for a group of nodes (the same set of tenants), the position of
// each tenant it covers.
struct StreamSnapshotInfo {
  std::string id;  // "<taken_at>-<node>"
  TimeMs taken_at = 0;
  std::uint64_t bytes = 0;
  std::map<std::string, std::uint64_t> positions;  // tenant → last stream seq applied
};

class JetStream {
 public:
  // Connects (the client reconnects on its own after), creates or updates the stream and the
  // snapshot bucket. Errors name what failed (kUnavailable when no server answers).
  [[nodiscard]] static Result<std::unique_ptr<JetStream>> Open(const JetStreamOptions& options);
  ~JetStream();
  JetStream(const JetStream&) = delete;
  JetStream& operator=(const JetStream&) = delete;

  // Publishes and waits for the acknowledgment (stored on a quorum). With `expect_events_seq`,
  // only if the tenant's events subject still ends at that sequence: otherwise kAlreadyExists
  // ("conflict"). kUnavailable: no quorum, no server, a timeout — nothing may be assumed stored
  // (a retry with the same key is safe).
  [[nodiscard]] Result<PublishAck> Publish(const StreamBatch& batch,
                                           std::optional<std::uint64_t> expect_events_seq);
  // The message at `seq` (a duplicate's original), decoded.
  [[nodiscard]] Result<StreamBatch> Get(std::uint64_t seq);
  // The newest sequence on the tenant's events subject (0: none yet).
  [[nodiscard]] Result<std::uint64_t> LastEventsSeq(const std::string& tenant);
  // The stream's newest sequence.
  [[nodiscard]] Result<std::uint64_t> LastSeq();
  // Whether the connection to NATS is up right now (not reconnecting, not closed).
  [[nodiscard]] bool Connected() const;

  // Follows every message of `tenant` after `after`, in stream order: `on` gets each one with
  // how many more are pending at the server (0: caught up as of that message). Runs until
  // Stop() or destruction. An undecodable message is passed with `ok` false.
  struct Delivered {
    std::uint64_t seq = 0;
    std::uint64_t pending = 0;
    bool ok = true;
    std::string error;
    StreamBatch batch;
  };
  using OnDelivered = std::function<void(Delivered&&)>;
  [[nodiscard]] Result<void> Follow(const std::string& tenant, std::uint64_t after, OnDelivered on);
  // Reads `tenant`'s messages after `after` up to the newest at the call, in stream order, on the
  // caller's thread (an ordered consumer of its own, gone at return): `on` gets each one and
  // returns false to stop early. Returns the last sequence read. kUnavailable when the stream
  // sends nothing for `timeout_ms`, or `stop` (may be null) became true.
  [[nodiscard]] Result<std::uint64_t> Read(const std::string& tenant, std::uint64_t after,
                                           const std::function<bool(Delivered&&)>& on,
                                           const std::atomic<bool>* stop = nullptr);
  // Messages of `tenant` after `after` at the server right now (0: caught up).
  [[nodiscard]] Result<std::uint64_t> Pending(const std::string& tenant, std::uint64_t after);
  void Stop();

  // Snapshots of `group`, chunked into the bucket; the newest `keep` are kept.
  [[nodiscard]] Result<void> PutSnapshot(const std::string& group, const StreamSnapshotInfo& info,
                                         const std::string& data, int keep);
  [[nodiscard]] Result<std::vector<StreamSnapshotInfo>> Snapshots(const std::string& group);
  // Every group's snapshots (for retention: never purge what a kept snapshot needs).
  [[nodiscard]] Result<std::vector<StreamSnapshotInfo>> AllSnapshots();
  [[nodiscard]] Result<std::string> ReadSnapshot(const std::string& group, const std::string& id);

  // Small values in the snapshot bucket (retention marks). Keys: [-_=/.A-Za-z0-9].
  [[nodiscard]] Result<void> PutValue(const std::string& key, const std::string& value);
  [[nodiscard]] Result<std::vector<std::pair<std::string, std::string>>> Values(
      const std::string& prefix);
  void DeleteValue(const std::string& key);

  // Retention: removes `tenant`'s messages below `before_seq`.
  [[nodiscard]] Result<void> PurgeTenant(const std::string& tenant, std::uint64_t before_seq);

  // "<prefix>.<token>.<kind>" (a tenant name as a subject token: [A-Za-z0-9_-] kept, others ~XX).
  [[nodiscard]] std::string Subject(const std::string& tenant, StreamKind kind) const;
  [[nodiscard]] const JetStreamOptions& options() const { return options_; }

 private:
  JetStream() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  JetStreamOptions options_;
};

// A tenant name as one NATS subject token.
[[nodiscard]] std::string SubjectToken(const std::string& tenant);

}  // namespace tally::storage
