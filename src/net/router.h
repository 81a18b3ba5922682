// Router: maps (method, path) to a handler. A pattern is a sequence of segments: a literal, a
// `{name}` capture of one segment, or a final `*` that matches the rest of the path (also
// nothing). Literal segments win over captures. Unknown paths give kNotFound, known paths with
// another method kMethodNotAllowed (with the allowed methods). Paths are matched as received:
// split on '/' first, then each segment percent-decoded, so an id containing "%2F" is one
// segment that captures "a/b" (routing on a decoded path once made such ids unreachable).
// Threading: Add() during setup only; Find() is const and safe from many threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"
#include "common/http.h"

namespace tally::net {

class Router final {
 public:
  struct Match {
    const HttpHandler* handler = nullptr;  // null when not matched
    RouteParams params;
    std::string_view pattern;  // the matched route pattern (metrics label)
    Errc error = Errc::kOk;    // kNotFound or kMethodNotAllowed when handler is null
    std::string allow;         // "GET, POST" for kMethodNotAllowed
  };

  // Throws std::invalid_argument on a malformed pattern or a duplicate (setup-time only).
  void Add(HttpMethod method, const std::string& pattern, HttpHandler handler);
  // `raw_path`: the request target's path, not percent-decoded.
  [[nodiscard]] Match Find(HttpMethod method, std::string_view raw_path) const;

  // WebSocket endpoints: exact paths (a trailing '/' is ignored).
  void AddWebSocket(const std::string& path, WsAcceptor acceptor);
  [[nodiscard]] const WsAcceptor* FindWebSocket(std::string_view path) const;

 private:
  struct Segment {
    enum class Kind { kLiteral, kCapture, kRest } kind;
    std::string text;  // literal text or capture name
  };
  struct Route {
    HttpMethod method;
    std::string pattern;
    std::vector<Segment> segments;
    HttpHandler handler;
    int literal_count = 0;
  };
  static bool MatchRoute(const Route& route, const std::vector<std::string_view>& parts,
                         RouteParams* params);

  std::vector<Route> routes_;
  std::vector<std::pair<std::string, WsAcceptor>> websockets_;
};

// Splits "/a/b/" into {"a","b",""}; a bare "/" into {""}.
[[nodiscard]] std::vector<std::string_view> SplitPath(std::string_view path);

}  // namespace tally::net
