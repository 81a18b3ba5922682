// Updates: the one exit of the notification path (DESIGN.md §5). Statistic updates, service
// state changes and the refresh of a resumed session are turned into Bayeux messages here — the
// StatisticUpdate and ServiceStateChange envelopes, grouped per destination, keyed per statistic
// so that a backed-up session keeps only the newest value of each — and handed to the CometD
// server on one ordered executor (a strand). Whatever is posted here in some order reaches a
// session in that order: a client never sees UNAVAILABLE before an update produced before it.
// Threading: Statistics/ServiceState from one thread at a time (the engine thread); the work
// runs on the executor set with SetExecutor (inline by default).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bayeux/server.h"
#include "stats/value.h"

namespace tally::api {

inline constexpr std::string_view kUpdatesChannel = "/statistics/v3/updates";
inline constexpr std::string_view kServiceChannel = "/statistics/v3/service";
// The cookie that binds a REST subscription to the caller's CometD session.
inline constexpr std::string_view kSessionCookie = "STATISTICS_SESSIONID";

// Where the updates of one open statistic go, and how its entries are labelled.
struct UpdateTarget {
  std::string principal_key;  // "tenant\\subject"
  std::string subscription_id;
  std::string session;  // bound CometD session ("": every session of the principal)
  std::string statistic_id;
  std::string name;  // catalog name ("" for ad-hoc)
  std::string object_id;
  std::string object_type;
};
using UpdateTargetPtr = std::shared_ptr<const UpdateTarget>;
using UpdateItems = std::vector<std::pair<UpdateTargetPtr, stats::StatValue>>;

class Updates final {
 public:
  explicit Updates(bayeux::Server* server) : server_(server) {}

  // Before serving: the ordered executor the messages are built and delivered on.
  void SetExecutor(std::function<void(std::function<void()>)> post) { post_ = std::move(post); }

  // New values of open statistics, one StatisticUpdate per destination. With `only_session`,
  // everything goes to that session (a resumed session's refresh), whatever the binding.
  void Statistics(UpdateItems items, std::string only_session = "");
  // The service state of a tenant changed (its event source went down or came back).
  void ServiceState(std::string tenant, bool available);

  // The entry of one statistic in StatisticUpdate (JSON text), as REST and CometD show it.
  [[nodiscard]] static std::string EntryText(const UpdateTarget& target,
                                             const stats::StatValue& value);

 private:
  void Run(std::function<void()> work);

  bayeux::Server* server_;
  std::function<void(std::function<void()>)> post_;
};

}  // namespace tally::api
