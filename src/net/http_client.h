// HttpClient: a small blocking HTTP/1.1 client (keep-alive, reconnects once on a dropped
// connection) for Tally's own command-line tools: `tally replay`, `tally simulate`.
// http:// only; https:// is refused with a clear message.
// Threading: one client per thread.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/errc.h"

namespace tally::net {

struct ClientResponse {
  int status = 0;
  std::string body;
};

class HttpClient {
 public:
  // `base_url` like "http://127.0.0.1:8080"; paths given to Request() are appended.
  [[nodiscard]] static Result<std::unique_ptr<HttpClient>> Connect(const std::string& base_url);
  ~HttpClient();

  [[nodiscard]] Result<ClientResponse> Request(
      const std::string& method, const std::string& path, const std::string& body,
      const std::vector<std::pair<std::string, std::string>>& headers);

 private:
  HttpClient();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tally::net
