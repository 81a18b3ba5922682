// A real nats-server with JetStream for tests (Debian nats-server 2.9): started on a free
// loopback port with its store in a fresh temporary directory, stopped by PID (SIGTERM) and its
// directory removed on destruction. Tests only.
// Threading: one thread.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/errc.h"
#include "storage/jetstream.h"

namespace tally::storage::testing {

class NatsServer final {
 public:
  NatsServer() = default;
  ~NatsServer() { Stop(); }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  // Starts it; an empty string when it listens within 10 s, else why not.
  [[nodiscard]] std::string Start(const std::string& name);
  void Stop();
  [[nodiscard]] std::string Url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  // A JetStream client of this server on stream `stream`, subjects `prefix`.…
  [[nodiscard]] Result<std::unique_ptr<JetStream>> Connect(const std::string& stream,
                                                           const std::string& prefix) const {
    JetStreamOptions o;
    o.servers = {Url()};
    o.stream = stream;
    o.subject_prefix = prefix;
    return JetStream::Open(o);
  }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tally::storage::testing
