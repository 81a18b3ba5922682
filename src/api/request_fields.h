// The request fields of the statistics API (statistics_api.h): reading a JSON body's members with
// errors that name the field ("data.statistics[2].objectId"), ad-hoc definitions as given, and
// the answer envelope ({"status": {"code": 0}, "data": …, "errors": […]}).
// Threading: pure functions; any thread.
#pragma once

#include <boost/json.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/errc.h"
#include "common/http.h"
#include "stats/engine.h"

namespace tally::api {

[[nodiscard]] HttpResponse Json(int status, const boost::json::object& body);
// {"status": {"code": 0}, "data": data}.
[[nodiscard]] boost::json::object Ok(boost::json::object data);
// 200 with the envelope, and `errors` when some statistics could not be answered.
void SendOk(const Responder& r, boost::json::object data, boost::json::array errors);
[[nodiscard]] boost::json::object ErrorEntry(int code, const std::string& message);

// Reads a required string member; `where` names it in errors ("data.statistics[2].objectId").
// Ids are at most `max` characters and have no control characters (they are echoed in answers
// and used as path segments).
[[nodiscard]] Result<std::string> RequiredString(const boost::json::object& o, std::string_view key,
                                                 const std::string& where, size_t max = 256);
// Parsed into `sp` (e.g. a monotonic arena the caller keeps while it reads the object).
[[nodiscard]] Result<boost::json::object> ParseObject(const std::string& body,
                                                      const boost::json::storage_ptr& sp = {});
// body.data.statistics, an array.
[[nodiscard]] Result<const boost::json::array*> StatisticsArray(const boost::json::object& body);
[[nodiscard]] Result<stats::ObjectRef> ObjectOf(const std::string& type, const std::string& id,
                                                const std::string& where);

struct EntryObjectRef {
  std::string type;  // as the client wrote it (echoed back)
  stats::ObjectRef ref;
};
// The object of one `data.statistics[i]` entry (objectType, objectId), with errors naming it.
[[nodiscard]] Result<EntryObjectRef> EntryObject(const boost::json::value& item,
                                                 const std::string& where);
// An ad-hoc definition's fields as text (strings, numbers, booleans; null is absent); an
// accumulateFrom other than "window" or "open" is refused naming the field.
[[nodiscard]] Result<stats::KeyValues> DefinitionFields(const boost::json::object& def,
                                                        const std::string& where);
// Takes the accumulateFrom key out of a definition: true when the statistic is exact on open.
[[nodiscard]] bool TakeAccumulateFrom(stats::KeyValues& kv);
[[nodiscard]] std::string QueryValue(const std::vector<std::pair<std::string, std::string>>& q,
                                     std::string_view key);

}  // namespace tally::api
