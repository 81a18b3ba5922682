#include "storage/jetstream.h"

#include <nats/nats.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <mutex>

namespace tally::storage {
namespace {

// Headers of a batch message (Nats-Msg-Id is set by the client from the key).
constexpr const char* kStampHeader = "Tally-Stamp";
constexpr const char* kCountHeader = "Tally-Count";
constexpr const char* kOriginHeader = "Tally-Origin";
constexpr const char* kRequestHeader = "Tally-Request";
constexpr const char* kKeyHeader = "Tally-Key";
constexpr const char* kHashHeader = "Tally-Body-Hash";
constexpr std::size_t kChunkBytes = 512 * 1024;

const char* KindName(StreamKind k) {
  switch (k) {
    case StreamKind::kEvents: return "events";
    case StreamKind::kCommands: return "commands";
    case StreamKind::kSessions: return "sessions";
  }
  return "events";
}

std::optional<StreamKind> KindOf(std::string_view name) {
  if (name == "events") return StreamKind::kEvents;
  if (name == "commands") return StreamKind::kCommands;
  if (name == "sessions") return StreamKind::kSessions;
  return std::nullopt;
}

Error NatsError(const std::string& what, natsStatus s, jsErrCode code = static_cast<jsErrCode>(0)) {
  std::string text = what + ": " + natsStatus_GetText(s);
  if (code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0' && std::strstr(text.c_str(), last) == nullptr) {
    text += std::string(": ") + last;
  }
  const bool unavailable = s == NATS_TIMEOUT || s == NATS_NO_SERVER ||
                           s == NATS_CONNECTION_CLOSED || s == NATS_NO_RESPONDERS ||
                           s == NATS_CONNECTION_DISCONNECTED || code == JSClusterNoPeersErr ||
                           code == JSStreamOfflineErr || code == JSClusterNotAvailErr;
  return Error{unavailable ? Errc::kUnavailable : Errc::kInternal, text};
}

std::string Header(natsMsg* m, const char* key) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, key, &v) != NATS_OK || v == nullptr) return {};
  return v;
}

std::uint64_t ParseU64(const std::string& s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// The tenant of a subject "<prefix>.<token>.<kind>", decoded.
std::string TenantOfToken(std::string_view token) {
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 2 < token.size()) {
      unsigned v = 0;
      std::from_chars(token.data() + i + 1, token.data() + i + 3, v, 16);
      out.push_back(static_cast<char>(v));
      i += 2;
    } else {
      out.push_back(token[i]);
    }
  }
  return out;
}

Result<StreamBatch> Decode(natsMsg* m) {
  StreamBatch b;
  const std::string subject = natsMsg_GetSubject(m);
  const size_t last = subject.rfind('.');
  const size_t first =
      last == std::string::npos || last == 0 ? std::string::npos : subject.rfind('.', last - 1);
  if (first == std::string::npos) return Error{Errc::kInvalidArgument, "subject " + subject};
  const auto kind = KindOf(std::string_view(subject).substr(last + 1));
  if (!kind) return Error{Errc::kInvalidArgument, "unknown record kind in subject " + subject};
  b.kind = *kind;
  b.tenant = TenantOfToken(std::string_view(subject).substr(first + 1, last - first - 1));
  b.stamp = static_cast<TimeMs>(ParseU64(Header(m, kStampHeader)));
  b.origin = Header(m, kOriginHeader);
  b.request = ParseU64(Header(m, kRequestHeader));
  b.key = Header(m, kKeyHeader);
  b.body_hash = Header(m, kHashHeader);
  const std::uint64_t count = ParseU64(Header(m, kCountHeader));
  const char* data = natsMsg_GetData(m);
  const int len = natsMsg_GetDataLength(m);
  std::string_view body(data == nullptr ? "" : data, static_cast<size_t>(std::max(len, 0)));
  while (!body.empty()) {
    const size_t nl = body.find('\n');
    b.bodies.emplace_back(body.substr(0, nl));
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
  }
  if (b.bodies.size() != count) {
    return Error{Errc::kInvalidArgument, "message holds " + std::to_string(b.bodies.size()) +
                                             " records, its header says " + std::to_string(count)};
  }
  return b;
}

std::once_flag nats_opened;

}  // namespace

std::string SubjectToken(const std::string& tenant) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : tenant) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == '-';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('~');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (out.empty()) out = "~";
  return out;
}

struct JetStream::Impl {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  kvStore* kv = nullptr;
  std::mutex mu;  // guards subs
  std::vector<natsSubscription*> subs;

  struct Follower {
    OnDelivered on;
  };
  std::vector<std::unique_ptr<Follower>> followers;  // outlive their subscriptions

  ~Impl() {
    for (natsSubscription* s : subs) {
      natsSubscription_Unsubscribe(s);
      natsSubscription_Destroy(s);
    }
    if (kv != nullptr) kvStore_Destroy(kv);
    if (js != nullptr) jsCtx_Destroy(js);
    if (nc != nullptr) {
      natsConnection_Close(nc);
      natsConnection_Destroy(nc);
    }
  }
};

std::string JetStream::Subject(const std::string& tenant, StreamKind kind) const {
  return options_.subject_prefix + "." + SubjectToken(tenant) + "." + KindName(kind);
}

Result<std::unique_ptr<JetStream>> JetStream::Open(const JetStreamOptions& o) {
  std::call_once(nats_opened, [] { nats_Open(-1); });
  if (o.servers.empty()) return Error{Errc::kInvalidArgument, "jetstream.servers is empty"};
  std::unique_ptr<JetStream> self(new JetStream());
  self->options_ = o;
  self->impl_ = std::make_unique<Impl>();
  auto& I = *self->impl_;

  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  std::vector<const char*> urls;
  for (const auto& u : o.servers) urls.push_back(u.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts, o.client_name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, o.timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);  // forever
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 200);
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, 0);  // publish fails, never queues
  if (s == NATS_OK && !o.credentials_file.empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(opts, o.credentials_file.c_str(), nullptr);
  }
  if (s == NATS_OK && !o.user.empty()) {
    s = natsOptions_SetUserInfo(opts, o.user.c_str(), o.password.c_str());
  }
  if (s == NATS_OK && !o.token.empty()) s = natsOptions_SetToken(opts, o.token.c_str());
  if (s == NATS_OK && (!o.tls_ca_file.empty() || !o.tls_cert_file.empty())) {
    s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK && !o.tls_ca_file.empty()) {
      s = natsOptions_LoadCATrustedCertificates(opts, o.tls_ca_file.c_str());
    }
    if (s == NATS_OK && !o.tls_cert_file.empty()) {
      s = natsOptions_LoadCertificatesChain(opts, o.tls_cert_file.c_str(), o.tls_key_file.c_str());
    }
  }
  if (s != NATS_OK) {
    natsOptions_Destroy(opts);
    return Error{Errc::kInvalidArgument, NatsError("jetstream options", s).message};
  }
  s = natsConnection_Connect(&I.nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    Error e = NatsError("cannot connect to NATS at " + o.servers.front() +
                            (o.servers.size() > 1 ? " (and the others listed)" : ""),
                        s);
    e.code = Errc::kUnavailable;
    return e;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = o.timeout_ms;
  s = natsConnection_JetStream(&I.js, I.nc, &jo);
  if (s != NATS_OK) return NatsError("JetStream context", s);

  // The stream: created on first start, its replicas and duplicate window kept up to date.
  const std::string all = o.subject_prefix + ".>";
  const char* subjects[] = {all.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = o.stream.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Retention = js_LimitsPolicy;
  cfg.Replicas = o.replicas;
  cfg.Duplicates = o.duplicate_window_ms * 1'000'000;  // nanoseconds
  cfg.MaxMsgSize = o.max_message_bytes;
  cfg.AllowDirect = true;
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  s = js_GetStreamInfo(&info, I.js, o.stream.c_str(), nullptr, &code);
  if (s == NATS_OK) {
    const bool differs = info->Config->Replicas != o.replicas ||
                         info->Config->Duplicates != cfg.Duplicates ||
                         info->Config->MaxMsgSize != cfg.MaxMsgSize;
    jsStreamInfo_Destroy(info);
    info = nullptr;
    if (differs) {
      s = js_UpdateStream(&info, I.js, &cfg, nullptr, &code);
      if (s != NATS_OK) return NatsError("cannot update stream " + o.stream, s, code);
      jsStreamInfo_Destroy(info);
    }
  } else if (code == JSStreamNotFoundErr) {
    s = js_AddStream(&info, I.js, &cfg, nullptr, &code);
    if (s != NATS_OK) return NatsError("cannot create stream " + o.stream, s, code);
    jsStreamInfo_Destroy(info);
  } else {
    return NatsError("cannot read stream " + o.stream, s, code);
  }

  // The snapshot bucket.
  s = js_KeyValue(&I.kv, I.js, o.snapshot_bucket.c_str());
  if (s != NATS_OK) {
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = o.snapshot_bucket.c_str();
    kc.History = 1;
    kc.Replicas = o.replicas;
    kc.StorageType = js_FileStorage;
    kc.MaxValueSize = static_cast<std::int32_t>(kChunkBytes + 1024);
    s = js_CreateKeyValue(&I.kv, I.js, &kc);
    if (s != NATS_OK) return NatsError("cannot create bucket " + o.snapshot_bucket, s);
  }
  return self;
}

JetStream::~JetStream() = default;

Result<PublishAck> JetStream::Publish(const StreamBatch& b,
                                      std::optional<std::uint64_t> expect_events_seq) {
  auto& I = *impl_;
  std::string data;
  size_t total = 0;
  for (const auto& body : b.bodies) total += body.size() + 1;
  data.reserve(total);
  for (size_t i = 0; i < b.bodies.size(); ++i) {
    if (i > 0) data += '\n';
    data += b.bodies[i];
  }
  const std::string subject = Subject(b.tenant, b.kind);
  natsMsg* m = nullptr;
  natsStatus s =
      natsMsg_Create(&m, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
  const std::string stamp = std::to_string(b.stamp);
  const std::string count = std::to_string(b.bodies.size());
  const std::string request = std::to_string(b.request);
  if (s == NATS_OK) s = natsMsgHeader_Set(m, kStampHeader, stamp.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(m, kCountHeader, count.c_str());
  if (s == NATS_OK && !b.origin.empty()) s = natsMsgHeader_Set(m, kOriginHeader, b.origin.c_str());
  if (s == NATS_OK && b.request != 0) s = natsMsgHeader_Set(m, kRequestHeader, request.c_str());
  if (s == NATS_OK && !b.key.empty()) s = natsMsgHeader_Set(m, kKeyHeader, b.key.c_str());
  if (s == NATS_OK && !b.body_hash.empty()) {
    s = natsMsgHeader_Set(m, kHashHeader, b.body_hash.c_str());
  }
  if (s != NATS_OK) {
    natsMsg_Destroy(m);
    return NatsError("cannot build the message", s);
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = options_.timeout_ms;
  // Nats-Msg-Id: the key, or its fingerprint when long (the stream keeps ids in memory).
  if (!b.key.empty()) po.MsgId = b.key.c_str();
  if (expect_events_seq) {
    if (*expect_events_seq == 0) {
      po.ExpectNoMessage = true;
    } else {
      po.ExpectLastSubjectSeq = *expect_events_seq;
    }
  }
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  s = js_PublishMsg(&ack, I.js, m, &po, &code);
  natsMsg_Destroy(m);
  if (s != NATS_OK) {
    if (code == JSStreamWrongLastSequenceErr) {
      return Error{Errc::kAlreadyExists,
                   "conflict: another node appended to tenant '" + b.tenant + "' meanwhile"};
    }
    return NatsError("publish to " + subject, s, code);
  }
  PublishAck out{ack->Sequence, ack->Duplicate};
  jsPubAck_Destroy(ack);
  return out;
}

bool JetStream::Connected() const {
  return impl_->nc != nullptr && natsConnection_Status(impl_->nc) == NATS_CONN_STATUS_CONNECTED;
}

Result<StreamBatch> JetStream::Get(std::uint64_t seq) {
  natsMsg* m = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetMsg(&m, impl_->js, options_.stream.c_str(), seq, nullptr, &code);
  if (s != NATS_OK) return NatsError("cannot read message " + std::to_string(seq), s, code);
  auto b = Decode(m);
  natsMsg_Destroy(m);
  return b;
}

Result<std::uint64_t> JetStream::LastEventsSeq(const std::string& tenant) {
  natsMsg* m = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const std::string subject = Subject(tenant, StreamKind::kEvents);
  natsStatus s =
      js_GetLastMsg(&m, impl_->js, options_.stream.c_str(), subject.c_str(), nullptr, &code);
  if (s != NATS_OK) {
    if (code == JSNoMessageFoundErr || s == NATS_NOT_FOUND) return std::uint64_t{0};
    return NatsError("cannot read the last message of " + subject, s, code);
  }
  const std::uint64_t seq = natsMsg_GetSequence(m);
  natsMsg_Destroy(m);
  return seq;
}

Result<std::uint64_t> JetStream::LastSeq() {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, impl_->js, options_.stream.c_str(), nullptr, &code);
  if (s != NATS_OK) return NatsError("cannot read stream " + options_.stream, s, code);
  const std::uint64_t last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  return last;
}

namespace {

// The bucket's keys, within `timeout_ms`: the client's own default waits for ever for the end of
// the listing, which a bucket without a quorum (or an ordered consumer being reset) never sends
// — a node starting then hung before its first log line.
natsStatus ListKeys(kvKeysList* keys, kvStore* kv, std::int64_t timeout_ms) {
  kvWatchOptions o;
  kvWatchOptions_Init(&o);
  o.Timeout = timeout_ms;
  return kvStore_Keys(keys, kv, &o);
}

// A stream message as delivered (destroys `m`).
JetStream::Delivered ToDelivered(natsMsg* m) {
  JetStream::Delivered d;
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
    d.seq = meta->Sequence.Stream;
    d.pending = meta->NumPending;
    jsMsgMetaData_Destroy(meta);
  } else {
    d.ok = false;
    d.error = "no JetStream metadata";
  }
  if (d.ok) {
    auto decoded = Decode(m);
    if (decoded) {
      d.batch = std::move(*decoded);
    } else {
      d.ok = false;
      d.error = decoded.error().message;
    }
  }
  natsMsg_Destroy(m);
  return d;
}

void OnMessage(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
  auto* on = static_cast<JetStream::OnDelivered*>(closure);
  (*on)(ToDelivered(m));
}

// The ordered consumer of a tenant's subjects from `after` on.
jsSubOptions FollowOptions(const JetStreamOptions& options, std::uint64_t after) {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = options.stream.c_str();
  so.Ordered = true;
  // Idle heartbeats every second (the client's default for ordered consumers is 5 s): a
  // consumer lost with the NATS server that held it is noticed and recreated at the next
  // sequence within about two of them, so a node whose server died receives the stream again
  // in seconds (docs/cluster.md, failures).
  so.Config.Heartbeat = 1'000'000'000;  // ns
  if (after == 0) {
    so.Config.DeliverPolicy = js_DeliverAll;
  } else {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = after + 1;
  }
  return so;
}

}  // namespace

Result<void> JetStream::Follow(const std::string& tenant, std::uint64_t after, OnDelivered on) {
  auto& I = *impl_;
  auto follower = std::make_unique<Impl::Follower>(Impl::Follower{std::move(on)});
  const std::string filter = options_.subject_prefix + "." + SubjectToken(tenant) + ".>";
  jsSubOptions so = FollowOptions(options_, after);
  natsSubscription* sub = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s =
      js_Subscribe(&sub, I.js, filter.c_str(), OnMessage, &follower->on, nullptr, &so, &code);
  if (s != NATS_OK) return NatsError("cannot follow " + filter, s, code);
  // Deliveries may queue up while the engine catches up: no slow-consumer drops.
  natsSubscription_SetPendingLimits(sub, -1, -1);
  std::lock_guard lock(I.mu);
  I.subs.push_back(sub);
  I.followers.push_back(std::move(follower));
  return {};
}

Result<std::uint64_t> JetStream::Read(const std::string& tenant, std::uint64_t after,
                                      const std::function<bool(Delivered&&)>& on,
                                      const std::atomic<bool>* stop) {
  auto pending = Pending(tenant, after);
  if (!pending) return pending.error();
  if (*pending == 0) return after;
  const std::uint64_t newest = after + *pending;
  const std::string filter = options_.subject_prefix + "." + SubjectToken(tenant) + ".>";
  jsSubOptions so = FollowOptions(options_, after);
  natsSubscription* sub = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_SubscribeSync(&sub, impl_->js, filter.c_str(), nullptr, &so, &code);
  if (s != NATS_OK) return NatsError("cannot read " + filter, s, code);
  natsSubscription_SetPendingLimits(sub, -1, -1);
  std::uint64_t last = after;
  std::int64_t idle_ms = 0;
  Result<std::uint64_t> result = after;
  for (;;) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      result = Error{Errc::kUnavailable, "reading " + filter + " was stopped"};
      break;
    }
    natsMsg* m = nullptr;
    constexpr std::int64_t kPollMs = 200;  // how soon `stop` is seen
    s = natsSubscription_NextMsg(&m, sub, kPollMs);
    if (s == NATS_TIMEOUT) {
      idle_ms += kPollMs;
      if (idle_ms >= options_.timeout_ms) {
        result =
            Error{Errc::kUnavailable, "reading " + filter + ": no message from the stream for " +
                                          std::to_string(options_.timeout_ms) + " ms after seq " +
                                          std::to_string(last) + " (it holds messages up to " +
                                          std::to_string(newest) + ")"};
        break;
      }
      continue;
    }
    if (s == NATS_MISMATCH) continue;  // the ordered consumer is recreated; it goes on
    if (s != NATS_OK) {
      result = NatsError("cannot read " + filter, s);
      break;
    }
    idle_ms = 0;
    Delivered d = ToDelivered(m);
    const std::uint64_t seq = d.seq;
    last = std::max(last, seq);  // 0 when the message had no metadata
    bool more = false;
    try {
      more = on(std::move(d));
    } catch (...) {
      natsSubscription_Unsubscribe(sub);  // the consumer goes with the subscription
      natsSubscription_Destroy(sub);
      throw;
    }
    if (!more) {
      result = last;
      break;
    }
    if (last >= newest) {
      result = last;
      break;
    }
  }
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  return result;
}

Result<std::uint64_t> JetStream::Pending(const std::string& tenant, std::uint64_t after) {
  std::uint64_t newest = 0;
  for (StreamKind kind : {StreamKind::kEvents, StreamKind::kCommands, StreamKind::kSessions}) {
    natsMsg* m = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const std::string subject = Subject(tenant, kind);
    natsStatus s =
        js_GetLastMsg(&m, impl_->js, options_.stream.c_str(), subject.c_str(), nullptr, &code);
    if (s != NATS_OK) {
      if (code == JSNoMessageFoundErr || s == NATS_NOT_FOUND) continue;
      return NatsError("cannot read the last message of " + subject, s, code);
    }
    newest = std::max<std::uint64_t>(newest, natsMsg_GetSequence(m));
    natsMsg_Destroy(m);
  }
  return newest > after ? newest - after : 0;
}

void JetStream::Stop() {
  auto& I = *impl_;
  std::lock_guard lock(I.mu);
  for (natsSubscription* s : I.subs) {
    natsSubscription_Unsubscribe(s);
    natsSubscription_Destroy(s);
  }
  I.subs.clear();
}

namespace {

std::string MetaJson(const StreamSnapshotInfo& info, size_t chunks) {
  std::string out = "{\"taken_at\":" + std::to_string(info.taken_at) +
                    ",\"bytes\":" + std::to_string(info.bytes) +
                    ",\"chunks\":" + std::to_string(chunks) + ",\"positions\":[";
  bool first = true;
  for (const auto& [tenant, seq] : info.positions) {
    if (!first) out += ',';
    first = false;
    out += "[\"" + SubjectToken(tenant) + "\"," + std::to_string(seq) + "]";
  }
  out += "]}";
  return out;
}

// The meta value is written by MetaJson only: a small, fixed shape.
std::optional<StreamSnapshotInfo> ParseMeta(const std::string& id, std::string_view v,
                                            size_t& chunks) {
  StreamSnapshotInfo info;
  info.id = id;
  auto number = [&](std::string_view key) -> std::optional<std::uint64_t> {
    const std::string k = "\"" + std::string(key) + "\":";
    const size_t p = v.find(k);
    if (p == std::string_view::npos) return std::nullopt;
    std::uint64_t n = 0;
    const char* start = v.data() + p + k.size();
    if (std::from_chars(start, v.data() + v.size(), n).ec != std::errc{}) return std::nullopt;
    return n;
  };
  auto taken = number("taken_at");
  auto bytes = number("bytes");
  auto c = number("chunks");
  if (!taken || !bytes || !c) return std::nullopt;
  info.taken_at = static_cast<TimeMs>(*taken);
  info.bytes = *bytes;
  chunks = *c;
  size_t p = v.find("\"positions\":[");
  if (p == std::string_view::npos) return std::nullopt;
  p += 13;
  while (p < v.size() && v[p] == '[') {
    const size_t q1 = v.find('"', p);
    const size_t q2 = q1 == std::string_view::npos ? q1 : v.find('"', q1 + 1);
    if (q2 == std::string_view::npos || q2 + 2 > v.size()) return std::nullopt;
    std::uint64_t seq = 0;
    const char* start = v.data() + q2 + 2;
    auto r = std::from_chars(start, v.data() + v.size(), seq);
    if (r.ec != std::errc{}) return std::nullopt;
    info.positions[TenantOfToken(v.substr(q1 + 1, q2 - q1 - 1))] = seq;
    p = static_cast<size_t>(r.ptr - v.data()) + 1;  // past ']'
    if (p < v.size() && v[p] == ',') ++p;
  }
  return info;
}

}  // namespace

Result<void> JetStream::PutSnapshot(const std::string& group, const StreamSnapshotInfo& info,
                                    const std::string& data, int keep) {
  auto& I = *impl_;
  const size_t chunks = (data.size() + kChunkBytes - 1) / kChunkBytes;
  const std::string base = group + "." + info.id;
  for (size_t i = 0; i < chunks; ++i) {
    const std::string key = base + "." + std::to_string(i);
    const size_t at = i * kChunkBytes;
    const size_t n = std::min(kChunkBytes, data.size() - at);
    std::uint64_t rev = 0;
    natsStatus s = kvStore_Put(&rev, I.kv, key.c_str(), data.data() + at, static_cast<int>(n));
    if (s != NATS_OK) return NatsError("cannot store snapshot chunk " + key, s);
  }
  // The meta entry last: a snapshot is listed only once every chunk is stored.
  const std::string meta = MetaJson(info, chunks);
  std::uint64_t rev = 0;
  natsStatus s = kvStore_PutString(&rev, I.kv, (base + ".meta").c_str(), meta.c_str());
  if (s != NATS_OK) return NatsError("cannot store snapshot " + base, s);
  // Keep the newest `keep` of the group.
  auto listed = Snapshots(group);
  if (!listed) return listed.error();
  for (size_t i = static_cast<size_t>(std::max(keep, 1)); i < listed->size(); ++i) {
    const std::string old = group + "." + (*listed)[i].id;
    kvStore_Purge(I.kv, (old + ".meta").c_str(), nullptr);
    for (size_t c = 0;; ++c) {
      kvEntry* e = nullptr;
      const std::string key = old + "." + std::to_string(c);
      if (kvStore_Get(&e, I.kv, key.c_str()) != NATS_OK) break;
      kvEntry_Destroy(e);
      kvStore_Purge(I.kv, key.c_str(), nullptr);
    }
  }
  return {};
}

Result<std::vector<StreamSnapshotInfo>> JetStream::AllSnapshots() { return Snapshots(""); }

Result<std::vector<StreamSnapshotInfo>> JetStream::Snapshots(const std::string& group) {
  auto& I = *impl_;
  kvKeysList keys;
  std::vector<StreamSnapshotInfo> out;
  natsStatus s = ListKeys(&keys, I.kv, options_.timeout_ms);
  if (s == NATS_NOT_FOUND) return out;
  if (s != NATS_OK) return NatsError("cannot list snapshots", s);
  for (int i = 0; i < keys.Count; ++i) {
    const std::string key = keys.Keys[i];
    if (key.size() < 5 || key.compare(key.size() - 5, 5, ".meta") != 0) continue;
    if (!group.empty() && key.compare(0, group.size() + 1, group + ".") != 0) continue;
    const size_t dot = key.find('.');
    const std::string id = key.substr(dot + 1, key.size() - 5 - dot - 1);
    kvEntry* e = nullptr;
    if (kvStore_Get(&e, I.kv, key.c_str()) != NATS_OK) continue;
    size_t chunks = 0;
    auto info = ParseMeta(id, std::string_view(kvEntry_ValueString(e)), chunks);
    kvEntry_Destroy(e);
    if (info) out.push_back(std::move(*info));
  }
  kvKeysList_Destroy(&keys);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.taken_at != b.taken_at ? a.taken_at > b.taken_at : a.id > b.id;
  });
  return out;
}

Result<std::string> JetStream::ReadSnapshot(const std::string& group, const std::string& id) {
  auto& I = *impl_;
  const std::string base = group + "." + id;
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, I.kv, (base + ".meta").c_str());
  if (s != NATS_OK) return NatsError("snapshot " + base, s);
  size_t chunks = 0;
  auto info = ParseMeta(id, std::string_view(kvEntry_ValueString(e)), chunks);
  kvEntry_Destroy(e);
  if (!info) return Error{Errc::kInvalidArgument, "snapshot " + base + ": damaged meta entry"};
  std::string data;
  data.reserve(info->bytes);
  for (size_t c = 0; c < chunks; ++c) {
    const std::string key = base + "." + std::to_string(c);
    s = kvStore_Get(&e, I.kv, key.c_str());
    if (s != NATS_OK) return NatsError("snapshot chunk " + key, s);
    data.append(static_cast<const char*>(kvEntry_Value(e)),
                static_cast<size_t>(kvEntry_ValueLen(e)));
    kvEntry_Destroy(e);
  }
  if (data.size() != info->bytes) {
    return Error{Errc::kInvalidArgument, "snapshot " + base + ": " + std::to_string(data.size()) +
                                             " bytes, its meta says " +
                                             std::to_string(info->bytes)};
  }
  return data;
}

Result<void> JetStream::PutValue(const std::string& key, const std::string& value) {
  std::uint64_t rev = 0;
  natsStatus s = kvStore_PutString(&rev, impl_->kv, key.c_str(), value.c_str());
  if (s != NATS_OK) return NatsError("cannot store " + key, s);
  return {};
}

Result<std::vector<std::pair<std::string, std::string>>> JetStream::Values(
    const std::string& prefix) {
  kvKeysList keys;
  std::vector<std::pair<std::string, std::string>> out;
  natsStatus s = ListKeys(&keys, impl_->kv, options_.timeout_ms);
  if (s == NATS_NOT_FOUND) return out;
  if (s != NATS_OK) return NatsError("cannot list the bucket", s);
  for (int i = 0; i < keys.Count; ++i) {
    const std::string key = keys.Keys[i];
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    kvEntry* e = nullptr;
    if (kvStore_Get(&e, impl_->kv, key.c_str()) != NATS_OK) continue;
    out.emplace_back(key, kvEntry_ValueString(e));
    kvEntry_Destroy(e);
  }
  kvKeysList_Destroy(&keys);
  return out;
}

void JetStream::DeleteValue(const std::string& key) {
  kvStore_Purge(impl_->kv, key.c_str(), nullptr);
}

Result<void> JetStream::PurgeTenant(const std::string& tenant, std::uint64_t before_seq) {
  if (before_seq <= 1) return {};
  const std::string filter = options_.subject_prefix + "." + SubjectToken(tenant) + ".>";
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Stream.Purge.Subject = filter.c_str();
  jo.Stream.Purge.Sequence = before_seq;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_PurgeStream(impl_->js, options_.stream.c_str(), &jo, &code);
  if (s != NATS_OK) return NatsError("cannot purge " + filter, s, code);
  return {};
}

}  // namespace tally::storage
