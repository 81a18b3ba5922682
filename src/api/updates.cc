#include "api/updates.h"

#include <boost/json.hpp>

#include <charconv>

#include <string_view>
#include <unordered_map>

#include "api/values.h"
#include "common/json_text.h"

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
  // Written straight out (the members in the order REST shows them); only the value goes
  // through a JSON tree, built in an arena on the stack.
  std::string out;
  out.reserve(160 + t.subscription_id.size() + t.statistic_id.size() + t.name.size() +
              t.object_id.size() + t.object_type.size());
  out += R"({"subscriptionId":)";
  AppendJsonString(out, t.subscription_id);
  out += R"(,"statisticId":)";
  AppendJsonString(out, t.statistic_id);
  if (!t.name.empty()) {
    out += R"(,"name":)";
    AppendJsonString(out, t.name);
  }
  out += R"(,"objectId":)";
  AppendJsonString(out, t.object_id);
  out += R"(,"objectType":)";
  AppendJsonString(out, t.object_type);
  out += R"(,"value":)";
  {
    unsigned char arena[2048];
    json::monotonic_resource mr(arena, sizeof arena);
    const json::storage_ptr sp(&mr);
    json::serializer sr;
    const json::value value = ValueJson(v, sp);
    sr.reset(&value);
    char buf[512];
    while (!sr.done()) out += sr.read(buf);
  }
  out += R"(,"timestamp":)";
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, v.timestamp).ptr;
  out.append(digits, end);
  out += '}';
  return out;
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
