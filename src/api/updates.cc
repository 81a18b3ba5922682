#include "api/updates.h"

#include <boost/json.hpp>

#include <string_view>
#include <unordered_map>

#include "api/values.h"

namespace tally::api {
namespace json = boost::json;
namespace {

// StatisticUpdate's data: head, the entries joined by ',', tail. Every update message has the
// same head and tail, so CometD can merge a backed-up session's queued updates per key.
const std::string kUpdateHead =
    R"({"name":"StatisticUpdate","topic":"/statistics/v3/updates","data":{"statistics":[)";
const std::string kUpdateTail = "]}}";

std::string EntryKey(const UpdateTarget& t) {
  std::string key = t.subscription_id;
  key += '\x1f';
  key += t.statistic_id;
  return key;
}

}  // namespace

std::string Updates::EntryText(const UpdateTarget& t, const stats::StatValue& v) {
  // Built in an arena on the stack: an entry and its value are a dozen small objects and
  // strings, and only their text is kept.
  unsigned char arena[2048];
  json::monotonic_resource mr(arena, sizeof arena);
  const json::storage_ptr sp(&mr);
  json::object o(7, sp);
  o["subscriptionId"] = t.subscription_id;
  o["statisticId"] = t.statistic_id;
  if (!t.name.empty()) o["name"] = t.name;
  o["objectId"] = t.object_id;
  o["objectType"] = t.object_type;
  o["value"] = ValueJson(v, sp);
  o["timestamp"] = v.timestamp;
  return json::serialize(o);
}

void Updates::Run(std::function<void()> work) {
  if (post_) {
    post_(std::move(work));
  } else {
    work();
  }
}

void Updates::Statistics(UpdateItems items, std::string only_session) {
  if (server_ == nullptr || items.empty()) return;
  auto shared = std::make_shared<UpdateItems>(std::move(items));
  Run([server = server_, shared, only = std::move(only_session)] {
    // One message per destination: a session, or every session of a principal; destinations
    // in the order they first appear. Keys are views of the targets' strings (kept by `shared`).
    struct Group {
      bayeux::Delivery to;
      std::vector<bayeux::Message::Part> parts;
    };
    std::vector<Group> groups;
    std::unordered_map<std::string_view, size_t> by_session;
    std::unordered_map<std::string_view, size_t> by_principal;
    for (const auto& [target, value] : *shared) {
      const std::string& session = only.empty() ? target->session : only;
      const bool principal = session.empty();
      const std::string_view to = principal ? target->principal_key : session;
      auto [it, fresh] = (principal ? by_principal : by_session).try_emplace(to, groups.size());
      if (fresh) groups.push_back(Group{bayeux::Delivery{to, principal, nullptr}, {}});
      groups[it->second].parts.push_back(
          bayeux::Message::Part{EntryKey(*target), EntryText(*target, value)});
    }
    std::vector<bayeux::Delivery> deliveries;
    deliveries.reserve(groups.size());
    for (auto& g : groups) {
      g.to.message =
          bayeux::MakeKeyedMessage(kUpdatesChannel, kUpdateHead, std::move(g.parts), kUpdateTail);
      deliveries.push_back(std::move(g.to));
    }
    server->Deliver(deliveries);  // one hold of the CometD lock for all of them
  });
}

void Updates::ServiceState(std::string tenant, bool available) {
  if (server_ == nullptr) return;
  Run([server = server_, tenant = std::move(tenant), available] {
    const json::object data{
        {"name", "ServiceStateChange"},
        {"topic", kServiceChannel},
        {"data", json::object{{"serviceState", available ? "AVAILABLE" : "UNAVAILABLE"}}}};
    server->DeliverToTenant(tenant, bayeux::MakeMessage(kServiceChannel, json::serialize(data)));
  });
}

}  // namespace tally::api
