// JSON rendering of engine values (the `value` of REST responses and notifications).
// Threading: pure functions.
#pragma once

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include "stats/value.h"

namespace tally::api {

// Built in `sp` (its objects and arrays too), e.g. a monotonic arena for one response.
[[nodiscard]] boost::json::value ValueJson(const stats::StatValue& v,
                                           const boost::json::storage_ptr& sp = {});

}  // namespace tally::api
