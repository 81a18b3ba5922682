// HttpServer: HTTP/1.1 on Boost.Beast with one C++20 coroutine per connection (the coroutine is
// the connection's strand). Keep-alive, one request in flight per connection (pipelined requests
// wait, bounded by the read buffer), body and header size limits, and deadlines for the request
// head, the body, keep-alive idleness and writes, so a slow or silent client cannot hold the
// server. Shutdown() stops accepting, lets in-flight requests finish and closes idle connections.
// Threading: construct, Listen() and Shutdown() from any thread; handlers run on I/O threads of
// the io_context passed in (which the caller runs on N threads).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"
#include "common/http.h"
#include "net/router.h"

namespace boost::asio {
class io_context;
}

namespace tally::net {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::uint64_t max_body_bytes = 1 << 20;
  std::uint32_t max_header_bytes = 16 * 1024;
  std::uint32_t max_connections = 10000;
  std::uint32_t max_requests_per_connection = 0;  // 0 = unlimited
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds write_timeout{30000};
  // A WebSocket whose client does not read: once this many bytes wait to be written to it, the
  // connection is closed (its frames dropped; WsPeer::Overflowed() says so).
  std::uint64_t websocket_max_buffered_bytes = 8 << 20;
  std::string tls_cert_file;  // PEM chain; HTTPS when set (with tls_key_file)
  std::string tls_key_file;
  // Cross-origin requests (CORS) from pages of these origins ("https://board.example.com",
  // exact, scheme and port included) to paths under `cors_paths` are allowed, with
  // credentials; preflights are answered. Other origins get no CORS headers (browsers refuse
  // them the answer) and a 403 preflight; their WebSocket upgrades are refused. A page of the
  // server's own origin is always allowed.
  std::vector<std::string> cors_origins;
  std::vector<std::string> cors_paths = {"/statistics/v3", "/auth/v3"};
};

// The CORS decision for one request (exposed for tests).
struct CorsCheck {
  bool cross_origin = false;  // an Origin header naming another origin than the request's Host
  bool allowed = false;       // same origin, or a listed one on a CORS path
};
[[nodiscard]] CorsCheck CheckCors(const HttpServerOptions& options, std::string_view origin,
                                  std::string_view host, std::string_view path, bool tls);

// Called once per answered request with the matched route pattern ("" when unmatched).
using RequestObserver =
    std::function<void(std::string_view route, HttpMethod method, int status, double seconds)>;

struct HttpServerStats {
  std::uint64_t open_connections = 0;
  std::uint64_t accepted_connections = 0;
  std::uint64_t rejected_connections = 0;  // over max_connections
  std::uint64_t timed_out_connections = 0;
  std::uint64_t tls_handshake_failures = 0;
  std::uint64_t abandoned_requests = 0;   // held requests whose client closed before the answer
  std::uint64_t websocket_overflows = 0;  // WebSockets closed: their client did not read
};

// The request path of one connection without a socket (fuzzing, tests): `bytes` are what a
// client sent (one or more pipelined requests) and the result is each answer as the HTTP/1.1
// text the server writes, through the same parser limits, refusals, CORS, router and handlers.
// A request a handler holds is waited for by calling `wait` (e.g. to move a clock and sweep)
// until it is answered or `wait` returns false; WebSocket upgrades end the connection.
[[nodiscard]] std::vector<std::string> ServeBytesForTest(const HttpServerOptions& options,
                                                         const Router& router,
                                                         std::string_view bytes,
                                                         const std::function<bool()>& wait);

class HttpServer final {
 public:
  HttpServer(boost::asio::io_context& ioc, HttpServerOptions options, const Router& router,
             RequestObserver observer);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting. Returns the bound port (useful with port 0).
  [[nodiscard]] Result<std::uint16_t> Listen();
  // Graceful stop; `on_drained` runs (on an I/O thread) once no connection is left.
  void Shutdown(std::function<void()> on_drained);
  [[nodiscard]] HttpServerStats Stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tally::net
