#include "common/errc.h"

namespace tally {
namespace {

// boost::system::error_category has a protected non-virtual destructor by design; categories are
// never deleted through a base pointer.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class TallyErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tally"; }
  std::string message(int ev) const override {
    return std::string(ErrcName(static_cast<Errc>(ev)));
  }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& TallyCategory() {
  static const TallyErrorCategory category;
  return category;
}

boost::system::error_code make_error_code(Errc e) { return {static_cast<int>(e), TallyCategory()}; }

std::string_view ErrcName(Errc e) {
  switch (e) {
    case Errc::kOk: return "ok";
    case Errc::kInvalidArgument: return "invalid argument";
    case Errc::kNotFound: return "not found";
    case Errc::kAlreadyExists: return "already exists";
    case Errc::kUnauthenticated: return "unauthenticated";
    case Errc::kCredentialsExpired: return "credentials expired";
    case Errc::kPermissionDenied: return "permission denied";
    case Errc::kTooLarge: return "too large";
    case Errc::kRateLimited: return "rate limited";
    case Errc::kUnavailable: return "unavailable";
    case Errc::kOutOfOrder: return "out of order";
    case Errc::kUnsupported: return "unsupported";
    case Errc::kMethodNotAllowed: return "method not allowed";
    case Errc::kTimeout: return "timeout";
    case Errc::kMisdirected: return "misdirected";
    case Errc::kInternal: return "internal error";
  }
  return "unknown error";
}

int HttpStatusFor(Errc e) {
  switch (e) {
    case Errc::kOk: return 200;
    case Errc::kInvalidArgument: return 400;
    case Errc::kOutOfOrder: return 400;
    case Errc::kUnsupported: return 400;
    case Errc::kUnauthenticated:
    case Errc::kCredentialsExpired: return 401;
    case Errc::kPermissionDenied: return 403;
    case Errc::kNotFound: return 404;
    case Errc::kMethodNotAllowed: return 405;
    case Errc::kTimeout: return 408;
    case Errc::kAlreadyExists: return 409;
    case Errc::kTooLarge: return 413;
    case Errc::kRateLimited: return 429;
    case Errc::kUnavailable: return 503;
    case Errc::kMisdirected: return 421;
    case Errc::kInternal: return 500;
  }
  return 500;
}

}  // namespace tally
