#include "api/request_fields.h"

#include "api/statistics_api.h"

namespace tally::api {

namespace json = boost::json;

HttpResponse Json(int status, const json::object& body) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

json::object Ok(json::object data) {
  json::object o(3, data.storage());  // in the data's storage: moved in, not copied
  o["status"] = json::object({{"code", 0}}, data.storage());
  o["data"] = std::move(data);
  return o;
}

// 200 with the envelope, and `errors` when some statistics could not be answered.
void SendOk(const Responder& r, json::object data, json::array errors) {
  json::object out = Ok(std::move(data));
  if (!errors.empty()) out["errors"] = std::move(errors);
  r.Send(Json(200, out));
}

json::object ErrorEntry(int code, const std::string& message) {
  return json::object{{"status", json::object{{"code", code}, {"message", message}}}};
}

// Reads a required string member; `where` names it in errors ("data.statistics[2].objectId").
// Ids are at most `max` characters and have no control characters (they are echoed in answers
// and used as path segments).
Result<std::string> RequiredString(const json::object& o, std::string_view key,
                                   const std::string& where, size_t max) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return Error{Errc::kInvalidArgument, "field '" + where + "' is required"};
  }
  if (!v->is_string()) {
    return Error{Errc::kInvalidArgument, "field '" + where + "' must be a string"};
  }
  if (v->as_string().empty()) {
    return Error{Errc::kInvalidArgument, "field '" + where + "' must not be empty"};
  }
  const json::string& s = v->as_string();
  if (s.size() > max) {
    return Error{Errc::kInvalidArgument,
                 "field '" + where + "' is longer than " + std::to_string(max) + " characters"};
  }
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Error{Errc::kInvalidArgument, "field '" + where + "' has a control character"};
    }
  }
  return std::string(s);
}

Result<json::object> ParseObject(const std::string& body, const json::storage_ptr& sp) {
  if (body.empty())
    return Error{Errc::kInvalidArgument, "the request body is empty (JSON expected)"};
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, sp);
  if (ec) return Error{Errc::kInvalidArgument, "malformed JSON body: " + ec.message()};
  if (!v.is_object()) return Error{Errc::kInvalidArgument, "the JSON body must be an object"};
  return std::move(v.as_object());
}

Result<const json::array*> StatisticsArray(const json::object& body) {
  const json::value* data = body.if_contains("data");
  if (data == nullptr || !data->is_object()) {
    return Error{Errc::kInvalidArgument, "field 'data' is required (an object)"};
  }
  const json::value* stats = data->as_object().if_contains("statistics");
  if (stats == nullptr || !stats->is_array()) {
    return Error{Errc::kInvalidArgument, "field 'data.statistics' is required (an array)"};
  }
  return &stats->as_array();
}

Result<stats::ObjectRef> ObjectOf(const std::string& type, const std::string& id,
                                  const std::string& where) {
  const auto t = stats::ParseObjectType(type);
  if (!t) {
    return Error{Errc::kInvalidArgument,
                 "field '" + where + "': unknown object type '" + type + "'"};
  }
  return stats::ObjectRef{*t, id};
}

// The object of one `data.statistics[i]` entry (objectType, objectId), with errors naming it.
Result<EntryObjectRef> EntryObject(const json::value& item, const std::string& where) {
  if (!item.is_object()) {
    return Error{Errc::kInvalidArgument, "field '" + where + "' must be an object"};
  }
  const auto& o = item.as_object();
  auto type = RequiredString(o, "objectType", where + ".objectType");
  if (!type) return type.error();
  auto id = RequiredString(o, "objectId", where + ".objectId", 512);
  if (!id) return id.error();
  auto ref = ObjectOf(*type, *id, where + ".objectType");
  if (!ref) return ref.error();
  return EntryObjectRef{*type, *ref};
}

// Definition fields as strings: numbers and booleans are accepted (Genesys sends both forms).
Result<stats::KeyValues> DefinitionFields(const json::object& def, const std::string& where) {
  stats::KeyValues kv;
  for (const auto& [key, value] : def) {
    std::string text;
    if (value.is_string()) {
      text = std::string(value.as_string());
    } else if (value.is_int64()) {
      text = std::to_string(value.as_int64());
    } else if (value.is_uint64()) {
      text = std::to_string(value.as_uint64());
    } else if (value.is_double()) {
      text = json::serialize(value);
    } else if (value.is_bool()) {
      text = value.as_bool() ? "true" : "false";
    } else if (value.is_null()) {
      continue;
    } else {
      return Error{Errc::kInvalidArgument,
                   "field '" + where + "." + std::string(key) + "' must be a string or a number"};
    }
    if (key == kAccumulateFromKey && text != "open" && text != "window") {
      return Error{Errc::kInvalidArgument, "field '" + where + "." + std::string(key) +
                                               "' must be \"window\" (exact from the window's "
                                               "start, the default) or \"open\""};
    }
    kv.emplace_back(std::string(key), std::move(text));
  }
  return kv;
}

// Takes the accumulateFrom key out of a definition: true when the statistic is exact on open.
bool TakeAccumulateFrom(stats::KeyValues& kv) {
  bool exact = true;
  for (auto it = kv.begin(); it != kv.end();) {
    if (it->first == kAccumulateFromKey) {
      exact = it->second != "open";
      it = kv.erase(it);
    } else {
      ++it;
    }
  }
  return exact;
}

std::string QueryValue(const std::vector<std::pair<std::string, std::string>>& q,
                       std::string_view key) {
  for (const auto& [k, v] : q) {
    if (k == key) return v;
  }
  return {};
}

}  // namespace tally::api
