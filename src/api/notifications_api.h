// NotificationsApi: the CometD transports of /statistics/v3/notifications on the
// transport-neutral HTTP types (docs/notifications.md). Long-polling: POST to the base, the base
// with '/', and base/handshake|connect|subscribe|unsubscribe|disconnect; callback-polling
// (JSONP): GET with `jsonp=<callback>&message=<array>`; WebSocket on the base (no subprotocol).
// Each request's messages go to the bayeux::Server; every Bayeux reply is HTTP 200, GET without
// jsonp and bodies that are not JSON are 400.
// Threading: handlers run on I/O threads; replies may come from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/statistics_api.h"
#include "bayeux/server.h"

namespace tally::api {

class NotificationsApi final {
 public:
  static constexpr const char* kBase = "/statistics/v3/notifications";

  NotificationsApi(bayeux::Server& server, Authenticator authenticate);
  [[nodiscard]] std::vector<Route> Routes();
  [[nodiscard]] WsAcceptor WebSocket();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The value of cookie `name` in a request ("" when absent).
[[nodiscard]] std::string Cookie(const HttpRequest& request, std::string_view name);

}  // namespace tally::api
