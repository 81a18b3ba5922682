// Errc: Tally's expected-failure codes, registered as a boost::system error category, and
// Result<T>, the value-or-error type returned by every fallible function on the data path.
// Threading: stateless; safe from any thread.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace tally {

enum class Errc {
  kOk = 0,
  kInvalidArgument,     // malformed or semantically wrong input
  kNotFound,            // unknown object, statistic, subscription, route
  kAlreadyExists,       // duplicate id
  kUnauthenticated,     // no or bad credentials
  kCredentialsExpired,  // credentials that were valid and have expired (401)
  kPermissionDenied,    // authenticated, but not allowed
  kTooLarge,            // body or batch over a limit
  kRateLimited,         // too many requests
  kUnavailable,         // service or source down, server not ready, storage failing
  kOutOfOrder,          // event older than the last one applied for its DN
  kUnsupported,         // recognised but not implemented (e.g. a category without definition)
  kMethodNotAllowed,    // path known, method not
  kTimeout,             // deadline passed
  kMisdirected,         // for a tenant this node does not carry (a cluster; HTTP 421)
  kInternal,            // a bug: logged and counted
};

[[nodiscard]] const boost::system::error_category& TallyCategory();
[[nodiscard]] boost::system::error_code make_error_code(Errc e);
[[nodiscard]] std::string_view ErrcName(Errc e);

// An error with a human-readable message naming the offending field or object.
struct Error {
  Errc code = Errc::kInternal;
  std::string message;
};

template <typename T>
using Result = boost::system::result<T, Error>;

// Helper so call sites read `return Fail(Errc::kInvalidArgument, "field 'x' ...")`.
[[nodiscard]] inline Error Fail(Errc code, std::string message) {
  return Error{code, std::move(message)};
}

// HTTP status for an Errc: the single table used at the HTTP edge (net and api).
[[nodiscard]] int HttpStatusFor(Errc e);

}  // namespace tally

namespace boost::system {
template <>
struct is_error_code_enum<tally::Errc> : std::true_type {};
}  // namespace boost::system
