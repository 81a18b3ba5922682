// JSON rendering of engine values (the `value` of REST responses and notifications).
// Threading: pure functions.
#pragma once

#include <boost/json/value.hpp>

#include "stats/value.h"

namespace tally::api {

[[nodiscard]] boost::json::value ValueJson(const stats::StatValue& v);

}  // namespace tally::api
