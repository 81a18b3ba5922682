#include "bayeux/errors.h"

namespace tally::bayeux {

std::string_view ErrorText(Reason reason) {
  switch (reason) {
    case Reason::kMessageInvalid: return "400::message_invalid";
    case Reason::kChannelMissing: return "400::channel_missing";
    case Reason::kEmpty: return "400::empty";
    case Reason::kSessionUnknown: return "402::session_unknown";
    case Reason::kCredentialsExpired: return "401::credentials_expired";
    case Reason::kHandshakeDenied: return "403::handshake_denied";
    case Reason::kSubscriptionMissing: return "403::subscription_missing";
    case Reason::kSubscriptionInvalid: return "403::subscription_invalid";
    case Reason::kSubscribeDenied: return "403::subscribe_denied";
    case Reason::kChannelInvalid: return "405::channel_invalid";
    case Reason::kPublishDenied: return "403::publish_denied";
  }
  return "400::message_invalid";
}

}  // namespace tally::bayeux
