// The request path of one connection between Beast and the application, as pure functions that
// both the server's connection coroutine (http_server.cc) and its socket-free test entry point
// (ServeBytesForTest) use: the refusal of a request head, the conversion of a Beast request to
// HttpRequest, CORS preflights, unrouted requests, and the Beast response written back.
// Threading: pure functions.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "common/http.h"
#include "net/http_server.h"
#include "net/router.h"

namespace tally::net {

namespace beast_http = boost::beast::http;
using BeastRequest = beast_http::request<beast_http::string_body>;
using BeastResponse = beast_http::response<beast_http::string_body>;

[[nodiscard]] HttpMethod FromBeast(beast_http::verb v);

// The answer to a request head that failed to parse (`ec`: header or body limit, malformed), or
// whose Content-Length is over the limit; nullopt for a head that may go on. The connection
// closes after such an answer.
[[nodiscard]] std::optional<HttpResponse> RefuseHead(
    const boost::system::error_code& ec,
    const beast_http::request_parser<beast_http::string_body>& parser,
    const HttpServerOptions& options);
// The answer to a body over the limit (found while reading it).
[[nodiscard]] HttpResponse RefuseBody(std::string_view target, const HttpServerOptions& options);

// The request as handlers see it; `ok` false when the target is not an origin-form path.
[[nodiscard]] HttpRequest MakeRequest(BeastRequest& req, const std::string& remote, bool tls,
                                      bool* ok);

// A CORS preflight (OPTIONS with Access-Control-Request-Method from another origin) is answered
// here: 204 with the allowed methods and headers, or 403 for an origin that is not listed.
[[nodiscard]] std::optional<HttpResponse> Preflight(const HttpServerOptions& options,
                                                    const HttpRequest& request,
                                                    const CorsCheck& cors);
// Headers of an allowed cross-origin answer.
void AddCorsHeaders(HttpResponse& r, std::string_view origin);

// 404 or 405 (with Allow) for a request no route takes.
[[nodiscard]] HttpResponse Unrouted(const Router::Match& match, const HttpRequest& request);

// The response as written: Server, Content-Type, nosniff, the handler's headers, the body (none
// for HEAD, with the GET's length), keep-alive.
[[nodiscard]] BeastResponse ToBeast(HttpResponse&& response, unsigned version, bool keep_alive,
                                    HttpMethod method);

}  // namespace tally::net
