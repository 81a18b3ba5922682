#include "net/router.h"

#include <algorithm>
#include <stdexcept>

namespace tally::net {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  parts.reserve(static_cast<size_t>(std::count(path.begin(), path.end(), '/')) + 1);
  size_t pos = 0;
  while (true) {
    const size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) {
      parts.push_back(path.substr(pos));
      break;
    }
    parts.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return parts;
}

void Router::Add(HttpMethod method, const std::string& pattern, HttpHandler handler) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': " + pattern);
  }
  Route route{method, pattern, {}, std::move(handler), 0};
  const auto parts = SplitPath(pattern);
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string_view p = parts[i];
    if (p == "*") {
      if (i + 1 != parts.size()) {
        throw std::invalid_argument("'*' must be the last segment: " + pattern);
      }
      route.segments.push_back({Segment::Kind::kRest, ""});
    } else if (p.size() >= 2 && p.front() == '{' && p.back() == '}') {
      route.segments.push_back({Segment::Kind::kCapture, std::string(p.substr(1, p.size() - 2))});
    } else {
      route.segments.push_back({Segment::Kind::kLiteral, std::string(p)});
      ++route.literal_count;
    }
  }
  for (const Route& r : routes_) {
    if (r.method == method && r.pattern == pattern) {
      throw std::invalid_argument("duplicate route: " + pattern);
    }
  }
  routes_.push_back(std::move(route));
}

bool Router::MatchRoute(const Route& route, const std::vector<std::string_view>& parts,
                        RouteParams* params) {
  size_t i = 0;
  for (const Segment& seg : route.segments) {
    if (seg.kind == Segment::Kind::kRest) return true;
    if (i >= parts.size()) return false;
    if (seg.kind == Segment::Kind::kLiteral) {
      if (parts[i] != seg.text) return false;
    } else {
      if (parts[i].empty()) return false;
      if (params != nullptr) params->values.emplace_back(seg.text, parts[i]);
    }
    ++i;
  }
  return i == parts.size();
}

Router::Match Router::Find(HttpMethod method, std::string_view raw_path) const {
  Match match;
  // Segments as views of the path; only one with a %-escape is decoded (into `decoded`,
  // reserved so that the views into it stay valid).
  std::vector<std::string_view> parts = SplitPath(raw_path);
  std::vector<std::string> decoded;
  for (std::string_view& part : parts) {
    if (part.find('%') == std::string_view::npos) continue;
    if (decoded.empty()) decoded.reserve(parts.size());
    std::string out;
    if (!PercentDecode(part, out, false)) {
      match.error = Errc::kNotFound;
      return match;
    }
    part = decoded.emplace_back(std::move(out));
  }
  const Route* best = nullptr;
  bool path_known = false;
  for (const Route& r : routes_) {
    if (!MatchRoute(r, parts, nullptr)) continue;
    path_known = true;
    if (r.method != method && !(method == HttpMethod::kHead && r.method == HttpMethod::kGet)) {
      if (match.allow.find(HttpMethodName(r.method)) == std::string::npos) {
        if (!match.allow.empty()) match.allow += ", ";
        match.allow += HttpMethodName(r.method);
      }
      continue;
    }
    // Prefer more literal segments, then routes without a trailing `*` (exact over catch-all).
    auto has_rest = [](const Route& x) {
      return !x.segments.empty() && x.segments.back().kind == Segment::Kind::kRest;
    };
    if (best == nullptr || r.literal_count > best->literal_count ||
        (r.literal_count == best->literal_count && !has_rest(r) && has_rest(*best))) {
      best = &r;
    }
  }
  if (best == nullptr) {
    match.error = path_known ? Errc::kMethodNotAllowed : Errc::kNotFound;
    return match;
  }
  match.allow.clear();
  (void)MatchRoute(*best, parts, &match.params);
  match.handler = &best->handler;
  match.pattern = best->pattern;
  return match;
}

void Router::AddWebSocket(const std::string& path, WsAcceptor acceptor) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  websockets_.emplace_back(std::move(p), std::move(acceptor));
}

const WsAcceptor* Router::FindWebSocket(std::string_view path) const {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  for (const auto& [p, acceptor] : websockets_) {
    if (p == path) return &acceptor;
  }
  return nullptr;
}

}  // namespace tally::net
