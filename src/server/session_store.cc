#include "server/session_store.h"

#include <boost/json.hpp>

#include "common/http.h"
#include "common/log.h"

namespace tally::server {
namespace json = boost::json;
namespace {

constexpr std::string_view kPrefix = "session/";

std::optional<std::string> Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

std::optional<std::vector<std::string>> Strings(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) return std::nullopt;
    out.emplace_back(item.as_string());
  }
  return out;
}

}  // namespace

RestoreResult RestoreIdentities(bayeux::Server& bayeux, storage::Journal& journal) {
  RestoreResult result;
  auto saved = journal.States(std::string(kPrefix));
  if (!saved) {
    TALLY_LOG_ERROR("notifications: cannot read the stored CometD sessions: {}",
                    saved.error().message);
    return result;
  }
  for (const auto& [key, value] : *saved) {
    boost::system::error_code ec;
    const json::value v = json::parse(value, ec);
    const json::object* o = !ec && v.is_object() ? &v.as_object() : nullptr;
    std::optional<std::string> tenant, subject, browser;
    std::optional<std::vector<std::string>> roles, subs;
    if (o != nullptr) {
      tenant = Str(*o, "tenant");
      subject = Str(*o, "subject");
      browser = Str(*o, "browser");
      roles = Strings(*o, "roles");
      subs = Strings(*o, "subscriptions");
    }
    const std::string client_id = key.substr(kPrefix.size());
    if (!tenant || !subject || !browser || !roles || !subs || client_id.empty()) {
      ++result.damaged;
      TALLY_LOG_ERROR("notifications: stored CometD session '{}' is damaged; skipped",
                      Clip(key, 80));
      continue;
    }
    Principal p;
    p.tenant = std::move(*tenant);
    p.subject = std::move(*subject);
    p.roles = std::move(*roles);
    bayeux.Restore(client_id, p, *browser, *subs);
    result.identities.push_back(bayeux::Server::Identity{client_id, p, *browser, *subs});
    ++result.restored;
  }
  if (result.restored > 0) {
    TALLY_LOG_INFO("notifications: {} CometD sessions restored; they may reconnect",
                   result.restored);
  }
  return result;
}

}  // namespace tally::server
