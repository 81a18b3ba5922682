#include "events/codec.h"

#include <boost/json.hpp>

#include <charconv>

#include "stats/key_interner.h"

namespace tally::events {
namespace json = boost::json;
namespace {

using stats::CallType;
using stats::Event;
using stats::EventType;

constexpr size_t kMaxIdLength = 256;
constexpr size_t kMaxPairs = 64;

Error Bad(const std::string& field, const std::string& what) {
  return Error{Errc::kInvalidArgument, "field '" + field + "': " + what};
}

const char* KindName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64: return "an integer";
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "a value";
}

// Strings, and integers for DN-like ids (7001 as a number is accepted).
Result<std::string> IdString(const json::value& v, const std::string& field) {
  std::string out;
  if (v.is_string()) {
    out = std::string(v.as_string());
  } else if (v.is_int64()) {
    out = std::to_string(v.as_int64());
  } else if (v.is_uint64()) {
    out = std::to_string(v.as_uint64());
  } else {
    return Bad(field, std::string("expected a string, got ") + KindName(v));
  }
  if (out.size() > kMaxIdLength) return Bad(field, "longer than 256 characters");
  return out;
}

Result<stats::KeyValues> Pairs(const json::value& v, const std::string& field, bool numbers_ok) {
  if (!v.is_object()) return Bad(field, std::string("expected an object, got ") + KindName(v));
  const auto& obj = v.as_object();
  if (obj.size() > kMaxPairs) return Bad(field, "more than 64 keys");
  stats::KeyValues out;
  for (const auto& kv : obj) {
    const std::string key(kv.key());
    const json::value& val = kv.value();
    if (val.is_string()) {
      out.emplace_back(key, std::string(val.as_string()));
    } else if (numbers_ok && (val.is_int64() || val.is_uint64())) {
      out.emplace_back(
          key, val.is_int64() ? std::to_string(val.as_int64()) : std::to_string(val.as_uint64()));
    } else if (numbers_ok && val.is_double()) {
      char buf[32];
      const auto res = std::to_chars(buf, buf + sizeof buf, val.as_double());
      out.emplace_back(key, std::string(buf, res.ptr));
    } else {
      return Bad(field + "." + key, std::string("expected a string") +
                                        (numbers_ok ? " or a number" : "") + ", got " +
                                        KindName(val));
    }
  }
  return out;
}

bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

std::int64_t DaysFromCivil(int y, unsigned m, unsigned d) {
  // Howard Hinnant's days_from_civil.
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

bool ParseRfc3339(std::string_view s, TimeMs& out) {
  int y, mo, d, h, mi, sec;
  if (!Digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, mo) || s[7] != '-' ||
      !Digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, h) || s[13] != ':' || !Digits(s, 14, 2, mi) || s[16] != ':' ||
      !Digits(s, 17, 2, sec)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
  size_t pos = 19;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return false;
    for (int k = digits; k < 3; ++k) millis *= 10;
  }
  if (pos >= s.size()) return false;
  std::int64_t offset_min = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, om)) {
      return false;
    }
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  const std::int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  out = secs * 1000 + millis;
  return true;
}

namespace {

Result<Event> FromObject(const json::object& obj, const NormalizeOptions& opts) {
  Event e;
  const json::value* type = obj.if_contains("type");
  if (type == nullptr) return Bad("type", "is required");
  if (!type->is_string())
    return Bad("type", std::string("expected a string, got ") + KindName(*type));
  if (!stats::ParseEventType(std::string_view(type->as_string()), e.type)) {
    return Bad("type", "unknown event type '" + std::string(type->as_string()) + "'");
  }
  bool has_time = false;
  for (const auto& kv : obj) {
    const std::string key(kv.key());
    const json::value& v = kv.value();
    auto id = [&](std::string& target) -> Result<void> {
      auto s = IdString(v, key);
      if (!s) return s.error();
      target = std::move(*s);
      return {};
    };
    Result<void> r;
    if (key == "type") {
      continue;
    } else if (key == "time") {
      has_time = true;
      if (v.is_int64() || v.is_uint64()) {
        const std::int64_t t =
            v.is_int64() ? v.as_int64() : static_cast<std::int64_t>(v.as_uint64());
        if (v.is_uint64() && v.as_uint64() > static_cast<std::uint64_t>(INT64_MAX)) {
          return Bad("time", "must be between " + std::to_string(stats::kMinEventTime) + " and " +
                                 std::to_string(stats::kMaxEventTime) + ", got " +
                                 std::to_string(v.as_uint64()));
        }
        if (t < 0) return Bad("time", "must not be negative");
        e.time = t;
      } else if (v.is_string()) {
        if (!ParseRfc3339(std::string_view(v.as_string()), e.time)) {
          return Bad("time", "expected epoch milliseconds or RFC 3339, got '" +
                                 std::string(v.as_string()) + "'");
        }
      } else {
        return Bad("time",
                   std::string("expected epoch milliseconds or RFC 3339, got ") + KindName(v));
      }
    } else if (key == "tenant") {
      r = id(e.tenant);
    } else if (key == "switch") {
      r = id(e.switch_id);
    } else if (key == "thisDN") {
      r = id(e.this_dn);
    } else if (key == "agentId") {
      r = id(e.agent_id);
    } else if (key == "placeId") {
      r = id(e.place_id);
    } else if (key == "connId") {
      r = id(e.conn_id);
    } else if (key == "otherDN") {
      r = id(e.other_dn);
    } else if (key == "thisQueue") {
      r = id(e.this_queue);
    } else if (key == "ANI" || key == "ani") {
      r = id(e.ani);
    } else if (key == "DNIS" || key == "dnis") {
      r = id(e.dnis);
    } else if (key == "mediaType") {
      r = id(e.media_type);
    } else if (key == "workMode") {
      r = id(e.work_mode);
    } else if (key == "callState") {
      r = id(e.call_state);
    } else if (key == "callType") {
      if (!v.is_string())
        return Bad("callType", std::string("expected a string, got ") + KindName(v));
      const auto ct = stats::ParseCallType(std::string_view(v.as_string()));
      if (!ct) {
        return Bad("callType", "expected Inbound, Outbound, Internal, Consult or Unknown, got '" +
                                   std::string(v.as_string()) + "'");
      }
      e.call_type = *ct;
    } else if (key == "reasons") {
      auto p = Pairs(v, "reasons", false);
      if (!p) return p.error();
      e.reasons = std::move(*p);
    } else if (key == "userData") {
      auto p = Pairs(v, "userData", true);
      if (!p) return p.error();
      e.user_data = std::move(*p);
    } else {
      return Bad(key, "unknown field (see docs/events.md)");
    }
    if (!r) return r.error();
  }
  if (!has_time) e.time = opts.now;
  if (!stats::IsValidEventTime(e.time)) {
    return Bad("time", "must be between " + std::to_string(stats::kMinEventTime) +
                           " (1970-01-01T00:00:00Z) and " + std::to_string(stats::kMaxEventTime) +
                           " (9999-12-31T23:59:59.999Z), got " + std::to_string(e.time));
  }
  if (opts.max_ahead_ms > 0 && e.time > opts.now + opts.max_ahead_ms) {
    return Bad("time", std::to_string(e.time) + " is " + std::to_string(e.time - opts.now) +
                           " ms ahead of the server clock (at most " +
                           std::to_string(opts.max_ahead_ms) + " ms: ingest.max_future_ms)");
  }
  if (e.tenant.empty()) {
    if (opts.default_tenant.empty()) return Bad("tenant", "is required for this ingest client");
    e.tenant = opts.default_tenant;
  }
  if (e.switch_id.empty()) e.switch_id = "default";
  if (e.media_type.empty()) e.media_type = "voice";
  auto need = [&](const std::string& value, const char* field) -> Result<void> {
    if (value.empty()) {
      return Bad(field, "is required for " + std::string(stats::EventTypeName(e.type)));
    }
    return {};
  };
  switch (e.type) {
    case EventType::kTick:
    case EventType::kLinkConnected:
    case EventType::kLinkDisconnected: break;
    case EventType::kAgentLogin:
    case EventType::kAgentLogout:
      if (auto r = need(e.this_dn, "thisDN"); !r) return r.error();
      if (auto r = need(e.agent_id, "agentId"); !r) return r.error();
      break;
    case EventType::kAgentReady:
    case EventType::kAgentNotReady:
    case EventType::kOffHook:
    case EventType::kOnHook:
      if (auto r = need(e.this_dn, "thisDN"); !r) return r.error();
      break;
    default:
      if (auto r = need(e.this_dn, "thisDN"); !r) return r.error();
      if (auto r = need(e.conn_id, "connId"); !r) return r.error();
      break;
  }
  // The engine finds the DN by this number instead of building and hashing the key there.
  e.key_id = stats::KeyInterner::Global().Intern(e.tenant, stats::OrderKey(e));
  return e;
}

}  // namespace

Result<Event> ParseEvent(std::string_view text, const NormalizeOptions& opts) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return Error{Errc::kInvalidArgument, "malformed JSON: " + ec.message()};
  if (!v.is_object()) {
    return Error{Errc::kInvalidArgument, std::string("expected a JSON object, got ") + KindName(v)};
  }
  return FromObject(v.as_object(), opts);
}

Result<std::vector<Event>> ParseBatch(std::string_view body, BatchFormat format,
                                      const NormalizeOptions& opts, size_t max_events) {
  std::vector<Event> events;
  // The ordering rule (inside the batch too) is the write path's order gate, not the codec's.
  auto add = [&](Event&& e, const std::string& where) -> Result<void> {
    (void)where;
    if (events.size() >= max_events) {
      return Error{Errc::kTooLarge,
                   "batch has more than " + std::to_string(max_events) + " events"};
    }
    events.push_back(std::move(e));
    return {};
  };
  if (format == BatchFormat::kNdjson) {
    size_t pos = 0;
    size_t line = 0;
    while (pos < body.size()) {
      size_t end = body.find('\n', pos);
      if (end == std::string_view::npos) end = body.size();
      std::string_view text = body.substr(pos, end - pos);
      pos = end + 1;
      ++line;
      while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
      }
      if (text.find_first_not_of(" \t") == std::string_view::npos) continue;
      auto e = ParseEvent(text, opts);
      const std::string where = "line " + std::to_string(line);
      if (!e) return Error{e.error().code, where + ": " + e.error().message};
      if (auto r = add(std::move(*e), where); !r) return r.error();
    }
  } else {
    boost::system::error_code ec;
    json::value v = json::parse(json::string_view(body.data(), body.size()), ec);
    if (ec) return Error{Errc::kInvalidArgument, "malformed JSON: " + ec.message()};
    if (!v.is_array()) {
      return Error{Errc::kInvalidArgument,
                   std::string("expected a JSON array of events, got ") + KindName(v)};
    }
    size_t index = 0;
    for (const json::value& item : v.as_array()) {
      const std::string where = "event " + std::to_string(index++);
      if (!item.is_object()) {
        return Error{Errc::kInvalidArgument, where + ": expected an object, got " + KindName(item)};
      }
      auto e = FromObject(item.as_object(), opts);
      if (!e) return Error{e.error().code, where + ": " + e.error().message};
      if (auto r = add(std::move(*e), where); !r) return r.error();
    }
  }
  if (events.empty()) return Error{Errc::kInvalidArgument, "the batch holds no events"};
  return events;
}

std::string ToJson(const Event& e) {
  json::object o;
  o["type"] = std::string(stats::EventTypeName(e.type));
  o["time"] = e.time;
  o["tenant"] = e.tenant;
  o["switch"] = e.switch_id;
  auto put = [&](const char* key, const std::string& v) {
    if (!v.empty()) o[key] = v;
  };
  put("thisDN", e.this_dn);
  put("agentId", e.agent_id);
  put("placeId", e.place_id);
  put("connId", e.conn_id);
  put("otherDN", e.other_dn);
  put("thisQueue", e.this_queue);
  put("ANI", e.ani);
  put("DNIS", e.dnis);
  put("workMode", e.work_mode);
  put("callState", e.call_state);
  if (e.call_type != CallType::kUnknown)
    o["callType"] = std::string(stats::CallTypeName(e.call_type));
  if (e.media_type != "voice") o["mediaType"] = e.media_type;
  auto pairs = [&](const char* key, const stats::KeyValues& kv) {
    if (kv.empty()) return;
    json::object m;
    for (const auto& [k, v] : kv) m[k] = v;
    o[key] = std::move(m);
  };
  pairs("reasons", e.reasons);
  pairs("userData", e.user_data);
  return json::serialize(o);
}

}  // namespace tally::events
