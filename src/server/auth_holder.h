// The authentication in use: replaced whole by a live reload (users, clients, API keys, JWKS),
// read by every request. A request holds the service it started with until it ends.
// Threading: Get() and Set() from any thread.
#pragma once

#include <atomic>
#include <memory>

#include "auth/service.h"

namespace tally::server {

class AuthHolder final {
 public:
  explicit AuthHolder(std::shared_ptr<const auth::AuthService> first)
      : current_(std::move(first)) {}
  [[nodiscard]] std::shared_ptr<const auth::AuthService> Get() const { return current_.load(); }
  void Set(std::shared_ptr<const auth::AuthService> next) { current_.store(std::move(next)); }
  [[nodiscard]] Result<Principal> Authenticate(const HttpRequest& request) const {
    return Get()->Authenticate(request);
  }

 private:
  std::atomic<std::shared_ptr<const auth::AuthService>> current_;
};

}  // namespace tally::server
