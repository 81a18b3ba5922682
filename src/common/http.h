// Transport-neutral HTTP messages: what the net layer hands to handlers and what handlers give
// back. Keeps Beast/Asio out of every module but net and server.
// Threading: plain values; no shared state.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/errc.h"

namespace tally {

enum class HttpMethod { kGet, kHead, kPost, kPut, kDelete, kPatch, kOptions, kOther };

[[nodiscard]] std::string_view HttpMethodName(HttpMethod m);

struct HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  std::string target;  // as received: path plus optional "?query"
  std::string path;    // percent-decoded path, no query
  std::string query;   // raw query string without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote;  // peer address "ip:port"
  bool tls = false;

  // First header with this (lower-case) name, or empty.
  [[nodiscard]] std::string_view Header(std::string_view lower_name) const;
  [[nodiscard]] bool HasHeader(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (e.g. Set-Cookie)
  std::string body;
  bool close = false;  // ask the transport to close the connection after this response
};

// Values captured from `{name}` segments of a route pattern.
struct RouteParams {
  std::vector<std::pair<std::string, std::string>> values;
  [[nodiscard]] std::string_view Get(std::string_view name) const;
};

// The way a handler answers. Copyable; the first Send() delivers the response to the connection
// (from any thread), later calls are ignored. If every copy is dropped without a Send(), the
// client gets a 500, so a forgotten path cannot hang a connection.
class Responder final {
 public:
  using Deliver = std::function<void(HttpResponse&&)>;
  Responder() = default;
  explicit Responder(Deliver deliver);
  void Send(HttpResponse&& response) const;
  [[nodiscard]] bool Sent() const;
  // A handler that holds the request (a long-poll) says what to do if the client goes away
  // before the answer: the transport calls it once, and then nobody reads the answer.
  // Thread-safe.
  void OnAbandoned(std::function<void()> abandoned) const;
  // The transport: the client is gone before the answer.
  void Abandon() const;

 private:
  struct State {
    explicit State(Deliver d) : deliver(std::move(d)) {}
    ~State();
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    std::atomic<bool> sent{false};
    Deliver deliver;
    std::mutex mu;  // guards abandoned
    std::function<void()> abandoned;
  };
  std::shared_ptr<State> state_;
};

// A request handler. May answer inline or later (e.g. a held long-poll), from any thread.
using HttpHandler =
    std::function<void(HttpRequest& request, const RouteParams& params, Responder responder)>;

// A WebSocket connection as the application sees it. Send() and Close() may be called from
// any thread; text frames go out in order.
class WsPeer {
 public:
  virtual ~WsPeer() = default;
  virtual void Send(std::string text) = 0;
  // A text shared with other connections (one serialized message pushed to many): kept, not
  // copied, until its frame is built. With a frame merger it is a part that the merger always
  // frames (alone, or joined with the texts queued next to it); without one, a frame of its own.
  virtual void SendShared(std::shared_ptr<const std::string> text) = 0;
  virtual void Close() = 0;
  // Joins texts that queued up while an earlier frame was being written into the text of one
  // frame (e.g. JSON arrays into one array); unset, each text is a frame of its own. A text of
  // Send() queued alone is a frame as it is; shared texts go through the merger even alone. Set
  // before the first Send().
  using FrameMerger = std::function<std::string(const std::vector<std::string_view>& texts)>;
  virtual void SetFrameMerger(FrameMerger merger) { (void)merger; }
  // True once the connection was cut because the client did not take what was sent (more than
  // the server buffers per connection): what was queued for it is gone. Read in OnClose().
  [[nodiscard]] virtual bool Overflowed() const { return false; }
};

// The application's side of one WebSocket connection; called on the connection's I/O strand,
// one call at a time. OnClose() comes once, after the last OnText().
class WsHandler {
 public:
  virtual ~WsHandler() = default;
  virtual void OnText(std::string text) = 0;
  virtual void OnClose() = 0;
};

// Accepts an upgrade request (returns the handler) or refuses it (returns null: 403).
using WsAcceptor =
    std::function<std::shared_ptr<WsHandler>(const HttpRequest& upgrade, std::shared_ptr<WsPeer>)>;

// `{"status":{"code":N,"message":"…"},"path":"…"}` with the HTTP status of `code` (DESIGN.md §5).
[[nodiscard]] HttpResponse ErrorResponse(int http_status, std::string_view message,
                                         std::string_view path);
[[nodiscard]] HttpResponse ErrorResponse(const Error& error, std::string_view path);
// `text` cut to at most `max` bytes (on a UTF-8 boundary) with a note of its full size.
[[nodiscard]] std::string Clip(std::string_view text, size_t max);
[[nodiscard]] HttpResponse TextResponse(int status, std::string body,
                                        std::string content_type = "text/plain; charset=utf-8");

// Percent-decodes `in` ('+' becomes a space when `plus_is_space`); false on a bad escape.
[[nodiscard]] bool PercentDecode(std::string_view in, std::string& out, bool plus_is_space);

// Splits an application/x-www-form-urlencoded string (also a URL query) into decoded pairs,
// keeping repeated keys in order. Pairs with bad escapes are reported through `ok`.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query,
                                                                          bool* ok = nullptr);

}  // namespace tally
