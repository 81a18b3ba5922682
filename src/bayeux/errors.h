// The Bayeux error strings ("4xx::reason") of this server, from one table (DESIGN.md §2: protocol
// errors are produced at the edge, from one table each). Meta handlers name a Reason; the text
// that goes on the wire comes from ErrorText().
// Threading: pure functions.
#pragma once

#include <string_view>

namespace tally::bayeux {

enum class Reason {
  kMessageInvalid,       // not an object, or a field of the wrong type
  kChannelMissing,       // no "channel"
  kEmpty,                // a request without messages
  kSessionUnknown,       // no such clientId for these credentials
  kCredentialsExpired,   // the session's credentials expired: it has ended
  kHandshakeDenied,      // credentials missing, invalid, or without the required role
  kSubscriptionMissing,  // /meta/subscribe without "subscription"
  kSubscriptionInvalid,  // not a valid channel name
  kSubscribeDenied,      // a valid channel this client may not subscribe to
  kChannelInvalid,       // unknown /meta channel, wildcard or invalid publish channel
  kPublishDenied,        // a channel clients may not publish to
};

// "402::session_unknown", …
[[nodiscard]] std::string_view ErrorText(Reason reason);

}  // namespace tally::bayeux
