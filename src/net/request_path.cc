#include "net/request_path.h"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <iterator>
#include <sstream>

namespace tally::net {

namespace http = boost::beast::http;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

HttpMethod FromBeast(http::verb v) {
  switch (v) {
    case http::verb::get: return HttpMethod::kGet;
    case http::verb::head: return HttpMethod::kHead;
    case http::verb::post: return HttpMethod::kPost;
    case http::verb::put: return HttpMethod::kPut;
    case http::verb::delete_: return HttpMethod::kDelete;
    case http::verb::patch: return HttpMethod::kPatch;
    case http::verb::options: return HttpMethod::kOptions;
    default: return HttpMethod::kOther;
  }
}

std::optional<HttpResponse> RefuseHead(const boost::system::error_code& ec,
                                       const http::request_parser<http::string_body>& parser,
                                       const HttpServerOptions& options) {
  if (ec == http::error::body_limit) {  // Content-Length over the limit
    return ErrorResponse(413,
                         "request body is larger than the limit of " +
                             std::to_string(options.max_body_bytes) + " bytes",
                         std::string(parser.get().target()));
  }
  if (ec == http::error::header_limit) {
    return ErrorResponse(431,
                         "request header is larger than the limit of " +
                             std::to_string(options.max_header_bytes) + " bytes",
                         "");
  }
  if (ec) return ErrorResponse(400, "malformed HTTP request: " + ec.message(), "");
  if (parser.content_length() && *parser.content_length() > options.max_body_bytes) {
    return ErrorResponse(413,
                         "request body of " + std::to_string(*parser.content_length()) +
                             " bytes is larger than the limit of " +
                             std::to_string(options.max_body_bytes) + " bytes",
                         std::string(parser.get().target()));
  }
  return std::nullopt;
}

HttpResponse RefuseBody(std::string_view target, const HttpServerOptions& options) {
  return ErrorResponse(413,
                       "request body is larger than the limit of " +
                           std::to_string(options.max_body_bytes) + " bytes",
                       target);
}

HttpRequest MakeRequest(BeastRequest& req, const std::string& remote, bool tls, bool* ok) {
  HttpRequest request;
  request.method = FromBeast(req.method());
  request.target = std::string(req.target());
  const std::string_view target = req.target();
  const size_t q = target.find('?');
  const std::string_view raw_path = target.substr(0, q);
  if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
  if (raw_path.empty() || raw_path.front() != '/' ||
      !PercentDecode(raw_path, request.path, false)) {
    *ok = false;
    request.path = std::string(raw_path);
    return request;
  }
  request.remote = remote;
  request.tls = tls;
  request.headers.reserve(static_cast<size_t>(std::distance(req.begin(), req.end())));
  for (const auto& field : req) {
    request.headers.emplace_back(Lower(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(req.body());
  return request;
}

void AddCorsHeaders(HttpResponse& r, std::string_view origin) {
  r.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  r.headers.emplace_back("Access-Control-Allow-Credentials", "true");
  r.headers.emplace_back("Access-Control-Expose-Headers", "Retry-After, Allow");
  r.headers.emplace_back("Vary", "Origin");
}

std::optional<HttpResponse> Preflight(const HttpServerOptions& options, const HttpRequest& request,
                                      const CorsCheck& cors) {
  (void)options;
  if (!cors.cross_origin || request.method != HttpMethod::kOptions ||
      !request.HasHeader("access-control-request-method")) {
    return std::nullopt;
  }
  const std::string origin(request.Header("origin"));
  if (!cors.allowed) {
    return ErrorResponse(
        403, "origin '" + origin + "' may not call this server (server.cors_allowed_origins)",
        request.path);
  }
  HttpResponse preflight;
  preflight.status = 204;
  preflight.content_type.clear();
  AddCorsHeaders(preflight, origin);
  preflight.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
  preflight.headers.emplace_back(
      "Access-Control-Allow-Headers",
      "Authorization, Content-Type, X-Api-Key, Idempotency-Key, X-Requested-With");
  preflight.headers.emplace_back("Access-Control-Max-Age", "600");
  return preflight;
}

HttpResponse Unrouted(const Router::Match& match, const HttpRequest& request) {
  if (match.error == Errc::kMethodNotAllowed) {
    HttpResponse r = ErrorResponse(
        405,
        "method " + std::string(HttpMethodName(request.method)) + " not allowed on " + request.path,
        request.path);
    r.headers.emplace_back("Allow", match.allow);
    return r;
  }
  return ErrorResponse(404, "no such path: " + request.path, request.path);
}

BeastResponse ToBeast(HttpResponse&& response, unsigned version, bool keep_alive,
                      HttpMethod method) {
  BeastResponse res{static_cast<http::status>(response.status), version};
  res.set(http::field::server, "tally");
  if (!response.content_type.empty()) res.set(http::field::content_type, response.content_type);
  // Every answer is what its Content-Type says (JSONP and JSON included): browsers must not
  // sniff a script or a page out of it.
  res.set("X-Content-Type-Options", "nosniff");
  for (auto& [name, value] : response.headers) res.insert(name, value);
  res.body() = std::move(response.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  if (method == HttpMethod::kHead) res.body().clear();  // length stays that of the GET
  return res;
}

// The connection loop of HttpServer::Impl::ServeOn without a socket: the same parser settings,
// refusals, routing and response writing; a held request is waited for through `wait`.
std::vector<std::string> ServeBytesForTest(const HttpServerOptions& options, const Router& router,
                                           std::string_view bytes,
                                           const std::function<bool()>& wait) {
  std::vector<std::string> answers;
  std::string_view rest = bytes;
  auto feed = [&](http::request_parser<http::string_body>& parser, bool header_only) {
    boost::system::error_code ec;
    for (;;) {
      if (header_only ? parser.is_header_done() : parser.is_done()) return ec;
      if (rest.empty()) {
        if (!parser.got_some()) return boost::system::error_code(http::error::end_of_stream);
        parser.put_eof(ec);  // the client closed its end
        if (!ec && !(header_only ? parser.is_header_done() : parser.is_done())) {
          ec = http::error::partial_message;
        }
        return ec;
      }
      const size_t n = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
      rest.remove_prefix(n);
      if (ec == http::error::need_more) {
        ec = {};
        if (n == 0 && !rest.empty()) {
          // Beast wants the whole head (or chunk header) at once: it is all there is.
          parser.put_eof(ec);
          return ec ? ec : boost::system::error_code(http::error::partial_message);
        }
        continue;
      }
      if (ec) return ec;
    }
  };
  auto write = [&](HttpResponse&& response, unsigned version, bool keep_alive, HttpMethod method) {
    std::ostringstream out;
    out << ToBeast(std::move(response), version, keep_alive, method);
    answers.push_back(out.str());
  };
  while (!rest.empty()) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(options.max_header_bytes);
    parser.body_limit(options.max_body_bytes);
    const boost::system::error_code hec = feed(parser, true);
    if (hec == http::error::end_of_stream) break;  // nothing more was sent
    if (auto refused = RefuseHead(hec, parser, options)) {
      write(std::move(*refused), 11, false, HttpMethod::kOther);
      break;  // must_close
    }
    auto& head = parser.get();
    const HttpMethod method = FromBeast(head.method());
    const unsigned version = head.version();
    if (boost::beast::websocket::is_upgrade(head)) {
      const std::string_view target = head.target();
      std::string path;
      if (PercentDecode(target.substr(0, target.find('?')), path, false) &&
          router.FindWebSocket(path) != nullptr) {
        break;  // a WebSocket needs a socket: the Bayeux target drives the endpoint itself
      }
    }
    const boost::system::error_code bec = feed(parser, false);
    if (bec == http::error::body_limit) {
      write(RefuseBody(parser.get().target(), options), version, false, method);
      break;
    }
    if (bec) break;
    BeastRequest req = parser.release();
    bool keep_alive = req.keep_alive();
    bool ok = true;
    HttpRequest request = MakeRequest(req, "192.0.2.1:40000", false, &ok);
    HttpResponse response;
    if (!ok) {
      response = ErrorResponse(400, "malformed request target", request.path);
    } else {
      const std::string origin(request.Header("origin"));
      const CorsCheck cors =
          CheckCors(options, origin, request.Header("host"), request.path, false);
      if (auto preflight = Preflight(options, request, cors)) {
        response = std::move(*preflight);
      } else {
        Router::Match match = router.Find(
            request.method, std::string_view(request.target).substr(0, request.target.find('?')));
        if (match.handler == nullptr) {
          response = Unrouted(match, request);
        } else {
          auto answered = std::make_shared<std::optional<HttpResponse>>();
          try {
            (*match.handler)(request, match.params,
                             Responder([answered](HttpResponse&& r) { *answered = std::move(r); }));
          } catch (const std::exception&) {
            *answered = ErrorResponse(500, "internal error", request.path);
          }
          while (!*answered && wait()) {
          }
          if (!*answered) break;  // held for good: the connection waits
          response = std::move(**answered);
        }
        if (cors.cross_origin && cors.allowed) AddCorsHeaders(response, origin);
      }
    }
    if (response.close) keep_alive = false;
    write(std::move(response), version, keep_alive, method);
    if (!keep_alive) break;
  }
  return answers;
}

}  // namespace tally::net
