#include "net/http_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "common/log.h"
#include "net/request_path.h"
#include "net/ws_peer.h"

namespace tally::net {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;  // NOLINT: `||` on awaitables
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

using internal::kUseTuple;

std::int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// What the connection coroutine waits on while a handler works (possibly on another thread).
// Its timer is made only when the handler did not answer inline (most answer at once).
struct PendingResponse {
  std::optional<asio::steady_timer> timer;  // touched on the connection's strand only
  std::optional<HttpResponse> response;
  // The thread running the handler synchronously: an answer given there needs no hand-off.
  std::atomic<std::thread::id> handler_thread{};
};

}  // namespace

CorsCheck CheckCors(const HttpServerOptions& options, std::string_view origin,
                    std::string_view host, std::string_view path, bool tls) {
  CorsCheck c;
  if (origin.empty()) return c;
  const std::string own = std::string(tls ? "https://" : "http://") + std::string(host);
  if (origin == own) {
    c.allowed = true;
    return c;
  }
  c.cross_origin = true;
  bool on_path = false;
  for (const auto& prefix : options.cors_paths) {
    if (path.substr(0, prefix.size()) == prefix &&
        (path.size() == prefix.size() || path[prefix.size()] == '/')) {
      on_path = true;
    }
  }
  if (!on_path) return c;
  for (const auto& o : options.cors_origins) {
    if (o == origin) c.allowed = true;
  }
  return c;
}

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  // One per connection; the socket lives here so Shutdown() and the deadline sweep can reach it.
  struct Connection {
    Connection(tcp::socket&& s, asio::ssl::context* tls_context) : socket(std::move(s)) {
      if (tls_context != nullptr) tls.emplace(socket, *tls_context);
    }
    tcp::socket socket;
    std::optional<asio::ssl::stream<tcp::socket&>> tls;  // set when serving HTTPS
    // The deadline of what the connection waits for now (a request head, a body, a write), in
    // steady-clock milliseconds, 0 for none. Set on the connection's strand, read by the sweep
    // (SweepLoop), which closes the socket once it passes: one periodic timer for all
    // connections instead of a timer armed and cancelled around every read and write.
    std::atomic<std::int64_t> deadline_ms{0};
    bool expired = false;  // the sweep closed the socket: a deadline passed (strand only)
    bool idle = true;      // waiting for a request (touched only on the connection's strand)
    std::function<void()> close_websocket;  // set while serving a WebSocket (strand only)

    void ExpiresAfter(std::chrono::milliseconds d) {
      deadline_ms.store(SteadyMs() + d.count(), std::memory_order_relaxed);
    }
    void ExpiresNever() { deadline_ms.store(0, std::memory_order_relaxed); }
    // An operation that failed because its deadline passed (the sweep closed the socket).
    [[nodiscard]] bool TimedOut(const beast::error_code& ec) const { return ec && expired; }
  };

  Impl(asio::io_context& io, HttpServerOptions opts, const Router& r, RequestObserver obs)
      : ioc(io), options(std::move(opts)), router(r), observer(std::move(obs)), acceptor(io) {}

  asio::io_context& ioc;
  HttpServerOptions options;
  const Router& router;
  RequestObserver observer;
  tcp::acceptor acceptor;

  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> timed_out{0};
  std::atomic<std::uint64_t> tls_failures{0};
  std::atomic<std::uint64_t> abandoned{0};
  std::atomic<std::uint64_t> ws_overflows{0};
  std::unique_ptr<asio::ssl::context> tls_context;  // set by Listen() when TLS is configured

  std::mutex mu;  // guards the fields below
  std::uint64_t next_id = 0;
  struct Entry {
    std::weak_ptr<Connection> weak;
    Connection* raw;  // alive while in the map (Serve() holds it until Forget())
  };
  std::unordered_map<std::uint64_t, Entry> connections;
  std::function<void()> on_drained;

  // A WebSocket upgrade ServeOn() read: served by OpenWebSocket() and ServeWebSocket() once
  // ServeOn()'s frame (its read buffer, parser and response) is gone, so an open WebSocket does not
  // keep them.
  struct Upgrade {
    http::request<http::string_body> head;
    const WsAcceptor* accept = nullptr;
    HttpRequest request;
  };

  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> SweepLoop();
  asio::awaitable<void> Serve(std::shared_ptr<Connection> conn, std::uint64_t id);
  template <typename Io>
  asio::awaitable<std::unique_ptr<Upgrade>> ServeOn(std::shared_ptr<Connection> conn, Io& io,
                                                    const std::string& remote, bool tls);
  template <typename Io>
  asio::awaitable<bool> ServeRequest(Connection& conn, Io& io, beast::flat_buffer& buffer,
                                     std::uint32_t& served, const std::string& remote, bool tls,
                                     std::unique_ptr<Upgrade>& upgrade);
  // A WebSocket in small coroutines, so that an open one keeps only the small frame of its read
  // loop: OpenWebSocket() (checks, the refusal or the handshake) returns the socket (null when
  // refused), ServeWebSocket() reads its messages and closes it, AwaitWriter() lets a running
  // write finish.
  template <typename Io>
  struct OpenWs;
  template <typename Io>
  asio::awaitable<std::unique_ptr<OpenWs<Io>>> OpenWebSocket(std::shared_ptr<Connection> conn,
                                                             Io& io,
                                                             std::unique_ptr<Upgrade> upgrade);
  template <typename Io>
  asio::awaitable<void> ServeWebSocket(std::unique_ptr<OpenWs<Io>> opened);
  asio::awaitable<HttpResponse> Route(tcp::socket& socket, beast::flat_buffer& buffer,
                                      HttpRequest& request, std::string& route);
  asio::awaitable<HttpResponse> Dispatch(tcp::socket& socket, beast::flat_buffer& buffer,
                                         http::request<http::string_body>& req,
                                         const std::string& remote, std::string& route, bool tls);
  void Forget(std::uint64_t id);
};

asio::awaitable<void> HttpServer::Impl::AcceptLoop() {
  auto self = shared_from_this();
  while (!stopping.load()) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ioc), kUseTuple);
    if (ec) {
      if (stopping.load() || ec == asio::error::operation_aborted) break;
      TALLY_LOG_WARN("accept failed: {}", ec.message());
      // Out of descriptors and similar: back off briefly instead of spinning.
      asio::steady_timer pause(ioc, std::chrono::milliseconds(50));
      co_await pause.async_wait(kUseTuple);
      continue;
    }
    if (open.load() >= options.max_connections) {
      rejected.fetch_add(1);
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    accepted.fetch_add(1);
    open.fetch_add(1);
    {
      // Small messages (WebSocket frames, long-poll answers) go out at once: without this,
      // Nagle's algorithm holds a second small write until the client's delayed ACK (~40 ms).
      beast::error_code ignored;
      socket.set_option(asio::ip::tcp::no_delay(true), ignored);
      // Synchronous reads do not block (ServeOn's read-ahead); asynchronous ones are unchanged.
      socket.non_blocking(true, ignored);
    }
    auto conn = std::make_shared<Connection>(std::move(socket), tls_context.get());
    std::uint64_t id;
    {
      std::lock_guard lock(mu);
      id = next_id++;
      connections.emplace(id, Entry{conn, conn.get()});
    }
    auto ex = conn->socket.get_executor();
    asio::co_spawn(ex, Serve(std::move(conn), id), asio::detached);
  }
}

// Every `tick`, closes the sockets whose deadline passed (on their strand, where the operation
// waiting on it fails and sees `expired`). A deadline is met within one tick of it.
asio::awaitable<void> HttpServer::Impl::SweepLoop() {
  auto self = shared_from_this();
  const auto shortest = std::min(
      {options.header_timeout, options.body_timeout, options.idle_timeout, options.write_timeout});
  const auto tick =
      std::clamp(shortest / 8, std::chrono::milliseconds(10), std::chrono::milliseconds(250));
  asio::steady_timer timer(ioc);
  std::vector<std::shared_ptr<Connection>> due;
  for (;;) {
    timer.expires_after(tick);
    auto [ec] = co_await timer.async_wait(kUseTuple);
    if (ec) co_return;
    const std::int64_t now = SteadyMs();
    {
      std::lock_guard lock(mu);
      if (stopping.load() && connections.empty()) co_return;
      for (auto& [id, entry] : connections) {
        const std::int64_t d = entry.raw->deadline_ms.load(std::memory_order_relaxed);
        if (d != 0 && d <= now) {
          if (auto c = entry.weak.lock()) due.push_back(std::move(c));
        }
      }
    }
    for (auto& c : due) {
      asio::post(c->socket.get_executor(), [c] {
        const std::int64_t d = c->deadline_ms.load(std::memory_order_relaxed);
        if (d == 0 || d > SteadyMs() || c->expired) return;  // moved on meanwhile
        c->expired = true;
        beast::error_code ignored;
        c->socket.shutdown(tcp::socket::shutdown_both, ignored);
        c->socket.close(ignored);
      });
    }
    due.clear();
  }
}

void HttpServer::Impl::Forget(std::uint64_t id) {
  std::function<void()> drained;
  {
    std::lock_guard lock(mu);
    connections.erase(id);
    if (stopping.load() && connections.empty() && on_drained) drained = std::move(on_drained);
  }
  open.fetch_sub(1);
  if (drained) drained();
}

asio::awaitable<HttpResponse> HttpServer::Impl::Dispatch(tcp::socket& socket,
                                                         beast::flat_buffer& buffer,
                                                         http::request<http::string_body>& req,
                                                         const std::string& remote,
                                                         std::string& route, bool tls) {
  bool ok = true;
  HttpRequest request = MakeRequest(req, remote, tls, &ok);
  req = {};  // its head is copied into `request`: a held request keeps it once, not twice
  if (!ok) co_return ErrorResponse(400, "malformed request target", request.path);
  const std::string origin(request.Header("origin"));
  const CorsCheck cors = CheckCors(options, origin, request.Header("host"), request.path, tls);
  if (auto preflight = Preflight(options, request, cors)) co_return std::move(*preflight);
  HttpResponse response = co_await Route(socket, buffer, request, route);
  if (cors.cross_origin && cors.allowed) AddCorsHeaders(response, origin);
  co_return response;
}

asio::awaitable<HttpResponse> HttpServer::Impl::Route(tcp::socket& socket,
                                                      beast::flat_buffer& buffer,
                                                      HttpRequest& request, std::string& route) {
  Router::Match match = router.Find(
      request.method, std::string_view(request.target).substr(0, request.target.find('?')));
  if (match.handler == nullptr) co_return Unrouted(match, request);
  route.assign(match.pattern);

  auto ex = co_await asio::this_coro::executor;
  auto pending = std::make_shared<PendingResponse>();
  Responder responder([pending, ex](HttpResponse&& response) {
    if (pending->handler_thread.load(std::memory_order_acquire) == std::this_thread::get_id()) {
      pending->response = std::move(response);  // answered inline, on the connection's strand
      return;
    }
    // Answered later or elsewhere: hand the response to the connection's strand.
    asio::post(ex, [pending, r = std::move(response)]() mutable {
      pending->response = std::move(r);
      if (pending->timer) pending->timer->cancel();
    });
  });
  pending->handler_thread.store(std::this_thread::get_id(), std::memory_order_release);
  const Responder watch = responder;  // to tell a holding handler that its client went away
  try {
    (*match.handler)(request, match.params, std::move(responder));
  } catch (const std::exception& e) {
    pending->handler_thread.store(std::thread::id{}, std::memory_order_release);
    TALLY_LOG_ERROR("handler for {} threw: {}", match.pattern, e.what());
    co_return ErrorResponse(500, "internal error", request.path);
  }
  pending->handler_thread.store(std::thread::id{}, std::memory_order_release);
  // While the handler holds the request, watch the socket: a client that closes its end (a
  // long-poll whose browser tab was closed) is noticed now, not at the hold's timeout. Bytes
  // of a pipelined request end the watch (they wait in the kernel for the next read).
  bool watching = true;
  // A held request (a parked long-poll) keeps no read buffer: it is allocated again for the
  // connection's next request.
  if (!pending->response && buffer.size() == 0) buffer.shrink_to_fit();
  if (!pending->response) {
    // The handler copied what it needs: a parked long-poll keeps no request.
    request = HttpRequest{};
    pending->timer.emplace(ex);
    pending->timer->expires_at(asio::steady_timer::time_point::max());
  }
  while (!pending->response) {
    if (!watching) {
      co_await pending->timer->async_wait(kUseTuple);
      continue;
    }
    auto which = co_await (pending->timer->async_wait(kUseTuple) ||
                           socket.async_wait(tcp::socket::wait_read, kUseTuple));
    if (which.index() == 0 || pending->response) continue;
    char byte = 0;
    const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
      watching = false;
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      abandoned.fetch_add(1);
      watch.Abandon();
      HttpResponse gone;
      gone.close = true;  // nobody reads it: the connection ends here
      co_return gone;
    }
  }
  co_return std::move(*pending->response);
}

namespace {

// Lingering close: stop sending, then drain what the client is still sending (briefly) so the
// kernel does not answer it with a reset that would eat our error response. Its own coroutine,
// so the drain buffer is not part of every connection's frame.
template <typename Conn, typename Io>
asio::awaitable<void> LingeringClose(Conn& conn, Io& io) {
  beast::error_code ignored;
  conn.socket.shutdown(tcp::socket::shutdown_send, ignored);
  conn.ExpiresAfter(std::chrono::milliseconds(1000));
  auto sink = std::make_unique<char[]>(8192);
  std::size_t drained = 0;
  while (drained < (std::size_t{4} << 20)) {
    auto [dec, dn] = co_await io.async_read_some(asio::buffer(sink.get(), 8192), kUseTuple);
    if (dec) break;
    drained += dn;
  }
}

}  // namespace

template <typename Io>
asio::awaitable<std::unique_ptr<HttpServer::Impl::Upgrade>> HttpServer::Impl::ServeOn(
    std::shared_ptr<Connection> keep, Io& io, const std::string& remote, bool tls) {
  Connection& conn = *keep;
  beast::flat_buffer buffer(options.max_header_bytes + 4096);
  std::uint32_t served = 0;
  std::unique_ptr<Upgrade> upgrade;
  for (;;) {
    conn.idle = true;
    if (stopping.load()) break;
    // A busy plain connection usually has its next request waiting already: read it now into
    // the buffer it keeps, with no wait and no second read. Not after a held request (it gave
    // its buffer back; its client's next request is a round trip away).
    if constexpr (std::is_same_v<Io, tcp::socket>) {
      if (buffer.size() == 0 && buffer.capacity() != 0 && served != 0 &&
          io.non_blocking()) {  // it never blocks
        beast::error_code rec;
        const std::size_t n = io.read_some(buffer.prepare(4096), rec);  // non-blocking socket
        if (!rec) buffer.commit(n);
        if (rec && rec != asio::error::would_block && rec != asio::error::try_again) break;
      }
    }
    // Otherwise wait for the first byte of the next request under the idle (or header)
    // deadline, without a read buffer: an idle keep-alive connection holds only this loop's
    // small frame.
    if (buffer.size() == 0) {
      buffer.shrink_to_fit();
      conn.ExpiresAfter(served == 0 ? options.header_timeout : options.idle_timeout);
      char first = 0;
      auto [ec, n] = co_await io.async_read_some(asio::buffer(&first, 1), kUseTuple);
      if (ec || n != 1) {
        if (conn.TimedOut(ec)) timed_out.fetch_add(1);
        break;
      }
      auto room = buffer.prepare(4096);
      *static_cast<char*>(room.data()) = first;
      buffer.commit(1);
    }
    conn.idle = false;
    if (!co_await ServeRequest(conn, io, buffer, served, remote, tls, upgrade)) break;
  }
  co_return upgrade;
}

// One request of a connection, from its head to its answer (or a WebSocket upgrade, left in
// `upgrade`). False when the connection ends. Its own coroutine: the parser, the request and
// the response live in this frame only while a request is in flight.
template <typename Io>
asio::awaitable<bool> HttpServer::Impl::ServeRequest(Connection& conn, Io& io,
                                                     beast::flat_buffer& buffer,
                                                     std::uint32_t& served,
                                                     const std::string& remote, bool tls,
                                                     std::unique_ptr<Upgrade>& upgrade) {
  const auto started = std::chrono::steady_clock::now();

  http::request_parser<http::string_body> parser;
  parser.header_limit(options.max_header_bytes);
  parser.body_limit(options.max_body_bytes);
  conn.ExpiresAfter(options.header_timeout);
  auto [hec, hn] = co_await http::async_read_header(io, buffer, parser, kUseTuple);
  (void)hn;
  std::optional<HttpResponse> early;  // an answer decided before the body was read
  bool must_close = false;
  if (hec) {
    if (conn.TimedOut(hec)) {
      timed_out.fetch_add(1);
      co_return false;
    }
    if (hec == http::error::end_of_stream || hec == asio::error::eof ||
        hec == asio::error::connection_reset || hec == asio::error::operation_aborted) {
      co_return false;
    }
    early = RefuseHead(hec, parser, options);
    must_close = true;
  } else if ((early = RefuseHead(hec, parser, options))) {
    must_close = true;
  }

  HttpResponse response;
  std::string route;
  HttpMethod method = HttpMethod::kOther;
  unsigned version = 11;
  bool keep_alive = false;
  if (early) {
    response = std::move(*early);
  } else {
    auto& head = parser.get();
    method = FromBeast(head.method());
    version = head.version();
    if (beast::websocket::is_upgrade(head)) {
      const std::string_view target = head.target();
      std::string path;
      const WsAcceptor* ws_acceptor = PercentDecode(target.substr(0, target.find('?')), path, false)
                                          ? router.FindWebSocket(path)
                                          : nullptr;
      if (ws_acceptor != nullptr) {
        auto up = std::make_unique<Upgrade>();
        up->head = parser.release();
        up->accept = ws_acceptor;
        bool ok = true;
        up->request = MakeRequest(up->head, remote, tls, &ok);
        upgrade = std::move(up);
        co_return false;
      }
    }
    if (beast::iequals(head[http::field::expect], "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, version};
      conn.ExpiresAfter(options.write_timeout);
      auto [cec, cn] = co_await http::async_write(io, cont, kUseTuple);
      (void)cn;
      if (cec) co_return false;
    }
    conn.ExpiresAfter(options.body_timeout);
    auto [bec, bn] = co_await http::async_read(io, buffer, parser, kUseTuple);
    (void)bn;
    if (bec == http::error::body_limit) {
      response = RefuseBody(parser.get().target(), options);
      must_close = true;
    } else if (bec) {
      if (conn.TimedOut(bec)) timed_out.fetch_add(1);
      co_return false;
    } else {
      auto req = parser.release();
      keep_alive = req.keep_alive();
      conn.ExpiresNever();  // the handler may hold the request (long-poll)
      response = co_await Dispatch(conn.socket, buffer, req, remote, route, tls);
    }
  }

  ++served;
  if (response.close || must_close || stopping.load() ||
      (options.max_requests_per_connection != 0 && served >= options.max_requests_per_connection)) {
    keep_alive = false;
  }
  const int status = response.status;
  auto res = ToBeast(std::move(response), version, keep_alive, method);
  conn.ExpiresAfter(options.write_timeout);
  auto [wec, wn] = co_await http::async_write(io, res, kUseTuple);
  (void)wn;
  if (observer) {
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    observer(route, method, status, secs);
  }
  if (wec) co_return false;
  if (must_close) {
    co_await LingeringClose(conn, io);
    co_return false;
  }
  co_return keep_alive;
}

using internal::WsHolder;
using internal::WsPeerImpl;

template <typename Io>
struct HttpServer::Impl::OpenWs {
  Connection* conn = nullptr;  // kept alive by `holder`
  std::shared_ptr<WsHolder<Io>> holder;
  std::shared_ptr<WsPeerImpl<Io>> peer;
  std::shared_ptr<WsHandler> handler;
  std::string path;
  bool accepted = false;  // false: the handshake failed (the handler is still told it closed)
};

namespace {

// The 403 of a refused upgrade, in its own frame (the open WebSocket's frames keep no response).
template <typename Io>
asio::awaitable<void> RefuseWebSocket(Io& io, const HttpResponse& answer, unsigned version) {
  http::response<http::string_body> res{http::status::forbidden, version};
  res.set(http::field::content_type, "application/json");
  res.body() = answer.body;
  res.prepare_payload();
  auto [wec, wn] = co_await http::async_write(io, res, kUseTuple);
  (void)wec;
  (void)wn;
}

// Waits for a running write (it holds the stream) to finish before the connection is torn down.
template <typename Io>
asio::awaitable<void> AwaitWriter(const WsPeerImpl<Io>& peer) {
  asio::steady_timer wait(co_await asio::this_coro::executor);
  while (peer.Writing()) {
    wait.expires_after(std::chrono::milliseconds(5));
    co_await wait.async_wait(kUseTuple);
  }
}

}  // namespace

template <typename Io>
asio::awaitable<std::unique_ptr<HttpServer::Impl::OpenWs<Io>>> HttpServer::Impl::OpenWebSocket(
    std::shared_ptr<Connection> conn, Io& io, std::unique_ptr<Upgrade> upgrade) {
  namespace websocket = beast::websocket;
  auto opened = std::make_unique<OpenWs<Io>>();
  opened->path = upgrade->request.path;  // kept after the upgrade request is freed
  const HttpRequest& request = upgrade->request;
  conn->ExpiresNever();  // the WebSocket stream keeps its own timeouts
  opened->conn = conn.get();
  opened->holder = std::make_shared<WsHolder<Io>>(conn, io);
  auto& ws = opened->holder->ws;
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = options.header_timeout;
  timeouts.idle_timeout = options.idle_timeout;
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  ws.read_message_max(options.max_body_bytes);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "tally"); }));
  opened->peer = std::make_shared<WsPeerImpl<Io>>(
      opened->holder, ws, co_await asio::this_coro::executor, options.websocket_max_buffered_bytes);
  // A page of another origin may open a WebSocket only when the origin is listed (browsers send
  // Origin; a cross-site page must not ride on a user's credentials).
  const CorsCheck cors = CheckCors(options, request.Header("origin"), request.Header("host"),
                                   request.path, request.tls);
  opened->handler =
      cors.cross_origin && !cors.allowed ? nullptr : (*upgrade->accept)(request, opened->peer);
  if (!opened->handler) {
    conn->ExpiresAfter(options.write_timeout);
    co_await RefuseWebSocket(io, ErrorResponse(403, "WebSocket upgrade refused", request.path),
                             upgrade->head.version());
    co_return nullptr;
  }
  auto [aec] = co_await ws.async_accept(upgrade->head, kUseTuple);
  upgrade.reset();  // the open WebSocket keeps nothing of its upgrade request
  opened->accepted = !aec;
  if (opened->accepted) conn->close_websocket = [peer = opened->peer] { peer->Close(); };
  co_return opened;
}

template <typename Io>
asio::awaitable<void> HttpServer::Impl::ServeWebSocket(std::unique_ptr<OpenWs<Io>> opened) {
  auto& ws = opened->holder->ws;
  if (opened->accepted) {
    beast::flat_buffer buffer;
    for (;;) {
      auto [ec, n] = co_await ws.async_read(buffer, kUseTuple);
      if (ec) break;
      if (!ws.got_text()) {
        buffer.consume(n);
        continue;
      }
      std::string text = beast::buffers_to_string(buffer.data());
      buffer.consume(n);
      try {
        opened->handler->OnText(std::move(text));
      } catch (const std::exception& e) {
        TALLY_LOG_ERROR("websocket handler for {} threw: {}", opened->path, e.what());
        break;
      }
    }
  }
  opened->conn->close_websocket = nullptr;
  opened->peer->MarkClosed();
  if (opened->peer->Overflowed()) {
    ws_overflows.fetch_add(1);
    TALLY_LOG_WARN("websocket {}: closed, its client did not read (more than {} bytes waiting)",
                   opened->path, options.websocket_max_buffered_bytes);
  }
  opened->handler->OnClose();
  co_await AwaitWriter(*opened->peer);
}

asio::awaitable<void> HttpServer::Impl::Serve(std::shared_ptr<Connection> conn, std::uint64_t id) {
  auto self = shared_from_this();
  std::string remote;
  try {
    {
      beast::error_code ec;
      const auto ep = conn->socket.remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    if (conn->tls) {
      conn->ExpiresAfter(options.header_timeout);
      auto [hec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::server, kUseTuple);
      if (hec) {
        if (conn->TimedOut(hec)) timed_out.fetch_add(1);
        tls_failures.fetch_add(1);
      } else {
        if (auto upgrade = co_await ServeOn(conn, *conn->tls, remote, true)) {
          if (auto opened = co_await OpenWebSocket(conn, *conn->tls, std::move(upgrade))) {
            co_await ServeWebSocket(std::move(opened));
          }
        }
        conn->ExpiresAfter(std::chrono::milliseconds(1000));
        auto [sec] = co_await conn->tls->async_shutdown(kUseTuple);
        (void)sec;
      }
    } else {
      if (auto upgrade = co_await ServeOn(conn, conn->socket, remote, false)) {
        if (auto opened = co_await OpenWebSocket(conn, conn->socket, std::move(upgrade))) {
          co_await ServeWebSocket(std::move(opened));
        }
      }
    }
  } catch (const std::exception& e) {
    TALLY_LOG_ERROR("connection {} failed: {}", remote, e.what());
  }
  beast::error_code ignored;
  conn->socket.shutdown(tcp::socket::shutdown_both, ignored);
  conn->socket.close(ignored);
  Forget(id);
}

HttpServer::HttpServer(asio::io_context& ioc, HttpServerOptions options, const Router& router,
                       RequestObserver observer)
    : impl_(std::make_shared<Impl>(ioc, std::move(options), router, std::move(observer))) {}

HttpServer::~HttpServer() = default;

Result<std::uint16_t> HttpServer::Listen() {
  beast::error_code ec;
  if (!impl_->options.tls_cert_file.empty()) {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    ctx->use_certificate_chain_file(impl_->options.tls_cert_file, ec);
    if (ec) {
      return Fail(Errc::kInvalidArgument,
                  "TLS certificate '" + impl_->options.tls_cert_file + "': " + ec.message());
    }
    ctx->use_private_key_file(impl_->options.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      return Fail(Errc::kInvalidArgument,
                  "TLS key '" + impl_->options.tls_key_file + "': " + ec.message());
    }
    impl_->tls_context = std::move(ctx);
  }
  const auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) {
    return Fail(Errc::kInvalidArgument, "bad listen address '" + impl_->options.host + "'");
  }
  const tcp::endpoint endpoint(address, impl_->options.port);
  auto& acc = impl_->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(Errc::kUnavailable, "cannot listen on " + impl_->options.host + ":" +
                                        std::to_string(impl_->options.port) + ": " + ec.message());
  }
  const std::uint16_t port = acc.local_endpoint().port();
  asio::co_spawn(impl_->ioc, impl_->AcceptLoop(), asio::detached);
  asio::co_spawn(impl_->ioc, impl_->SweepLoop(), asio::detached);
  return port;
}

void HttpServer::Shutdown(std::function<void()> on_drained) {
  auto impl = impl_;
  asio::post(impl->ioc, [impl, on_drained = std::move(on_drained)]() mutable {
    impl->stopping.store(true);
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    std::vector<std::shared_ptr<Impl::Connection>> live;
    {
      std::lock_guard lock(impl->mu);
      for (auto& [id, entry] : impl->connections) {
        if (auto c = entry.weak.lock()) live.push_back(std::move(c));
      }
      if (impl->connections.empty()) {
        if (on_drained) asio::post(impl->ioc, std::move(on_drained));
        return;
      }
      impl->on_drained = std::move(on_drained);
    }
    // Idle connections are closed now; busy ones close after their response.
    for (auto& c : live) {
      asio::post(c->socket.get_executor(), [c] {
        if (c->close_websocket) {
          c->close_websocket();
        } else if (c->idle) {
          beast::error_code gone;
          c->socket.cancel(gone);  // it may be closed already
        }
      });
    }
  });
}

HttpServerStats HttpServer::Stats() const {
  return HttpServerStats{impl_->open.load(),         impl_->accepted.load(),
                         impl_->rejected.load(),     impl_->timed_out.load(),
                         impl_->tls_failures.load(), impl_->abandoned.load(),
                         impl_->ws_overflows.load()};
}

}  // namespace tally::net
