// Key material from files: the HS256 signing key (generated on first start, mode 0600, reused
// after) and the JWKS of an external identity provider.
// Threading: call at startup.
#pragma once

#include <string>

#include "auth/service.h"
#include "common/errc.h"
#include "config/config.h"

namespace tally::server {

[[nodiscard]] Result<std::string> LoadOrCreateSecret(const std::string& path);
// auth.jwks_file, when set, into `auth`; an error names the file and what is wrong.
[[nodiscard]] Result<void> LoadJwks(const config::Config& config, auth::AuthService& auth);

}  // namespace tally::server
