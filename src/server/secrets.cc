#include "server/secrets.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "auth/jwks.h"
#include "common/log.h"

namespace tally::server {

// The signing key kept in `path`: read it, or create it (random, base64, mode 0600) on first start.
Result<std::string> LoadOrCreateSecret(const std::string& path) {
  {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::string secret;
      std::getline(in, secret);
      if (secret.size() < 32)
        return Fail(Errc::kInvalidArgument, path + ": shorter than 32 characters");
      return secret;
    }
  }
  unsigned char bytes[32];
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  if (!urandom.read(reinterpret_cast<char*>(bytes), sizeof bytes)) {
    return Fail(Errc::kInternal, "cannot read /dev/urandom");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string secret;
  for (unsigned char b : bytes) {
    secret.push_back(kHex[b >> 4]);
    secret.push_back(kHex[b & 15]);
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0)
    return Fail(Errc::kUnavailable, path + ": cannot create (" + std::strerror(errno) + ")");
  const std::string line = secret + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written) return Fail(Errc::kUnavailable, path + ": cannot write the key");
  TALLY_LOG_INFO("auth: generated a signing key in {}", path);
  return secret;
}

Result<void> LoadJwks(const config::Config& config, auth::AuthService& auth) {
  if (config.auth.jwks_file.empty()) return {};
  const std::string path = config.Resolve(config.auth.jwks_file);
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  auto jwks = auth::Jwks::Parse(text.str());
  if (!in || !jwks) {
    return Fail(Errc::kInvalidArgument,
                path + ": " + (in ? jwks.error().message : std::string("cannot open file")));
  }
  TALLY_LOG_INFO("auth: {} external keys from {}", jwks->Size(), path);
  auth.SetJwks(std::move(*jwks));
  return {};
}

}  // namespace tally::server
