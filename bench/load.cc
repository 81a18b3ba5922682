// tally-load: a Bayeux (CometD) load tool over long-polling or WebSocket, runnable against any
// Bayeux server (Tally, Faye, CometD). Boost.Beast client, one C++20 coroutine per connection.
//
//   chat:  the CometD benchmark model — N clients, R rooms, each client in K random rooms;
//          B batches of S publishes (random client, random room) with P ms between batches.
//          Every message carries its send time; each member that receives it records the
//          latency. Prints messages in/out per second and latency percentiles.
//   idle:  opens N sessions (each subscribed to --channel when given) that hold their
//          connects, then reads the server's RSS from /proc/PID/status (--pid) before and
//          after: bytes per idle session, and the time it took to open them all.
//   stats: Tally's own load — N sessions, each subscribing (REST, bound to its session) to K
//          statistics (--statistic, default CurrentAgentState) of agents agent001…; an ingest
//          driver sends agent-state events at R events/s for D seconds (batches every 10 ms,
//          `--ingest-token`); latency is from sending the ingest request that changed an agent
//          to receiving the notification for it (so it includes the journal commit).
//
// Options: --url http://127.0.0.1:8080/statistics/v3/notifications --token T (Bearer, optional)
//          --transport long-polling|websocket
//          chat: --clients N --rooms R --rooms-per-client K --batches B --batch-size S
//                --pause-ms P
//          idle: --clients N --pid PID --channel C
//          --sources K: client i connects from 127.0.0.(1 + i % K), so more than one source
//                address's ephemeral ports (~28 000) of connections can be open.
//          stats: --clients N --stats-per-client K --agents A --rate R --duration D
//                 --ingest-token T --statistic NAME
//                 --stalled M: M of the sessions (spread evenly) stop at the start of the
//                 measured phase: a WebSocket one stops reading (its socket stays open), a
//                 long-polling one sends no more connects (it vanished). Their notifications
//                 are not counted: the figures are those of the other sessions.
//                 --one-connection: a session closes its second (keep-alive) connection once
//                 subscribed, leaving one socket per session.
//          --smoke (tiny run for CI).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

// Log-linear histogram (HdrHistogram-style): 64 linear sub-buckets per power of two of
// microseconds, so every recorded value is kept within ~1.6 %.
class Histogram {
 public:
  void Record(std::int64_t us) {
    if (us < 0) us = 0;
    ++counts_[Index(static_cast<std::uint64_t>(us))];
    ++total_;
    max_ = std::max(max_, us);
  }
  [[nodiscard]] std::int64_t Percentile(double p) const {
    if (total_ == 0) return 0;
    const auto want =
        static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
    std::uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= want) return std::min(static_cast<std::int64_t>(Upper(i)), max_);
    }
    return max_;
  }
  [[nodiscard]] std::uint64_t Count() const { return total_; }
  [[nodiscard]] std::int64_t Max() const { return max_; }

 private:
  static constexpr int kSub = 64;
  static size_t Index(std::uint64_t v) {
    if (v < kSub) return v;
    const int msb = 63 - __builtin_clzll(v);
    const int shift = msb - 5;  // keep 6 significant bits
    return static_cast<size_t>((shift + 1) * kSub / 2 + (v >> shift) - kSub / 2);
  }
  static std::uint64_t Upper(size_t index) {
    if (index < kSub) return index;
    const size_t shift = index / (kSub / 2) - 1;
    const std::uint64_t mantissa = index % (kSub / 2) + kSub / 2;
    return ((mantissa + 1) << shift) - 1;
  }
  std::array<std::uint64_t, 64 * 40> counts_{};
  std::uint64_t total_ = 0;
  std::int64_t max_ = 0;
};

std::int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

enum class Transport { kLongPolling, kWebSocket };

struct Options {
  Transport transport = Transport::kLongPolling;
  std::string host = "127.0.0.1";
  std::string port = "8080";
  std::string path = "/statistics/v3/notifications";
  std::string token;
  int clients = 1000;
  int rooms = 100;
  int rooms_per_client = 10;
  int batches = 1000;
  int batch_size = 10;
  int pause_ms = 10;
  int pid = 0;
  // stats
  int stats_per_client = 10;
  int agents = 1000;
  int rate = 1000;
  int duration_s = 10;
  std::string ingest_token;
  std::string statistic = "CurrentAgentState";
  int report_every_s = 0;       // stats: a line per interval (the soak), 0 = only the summary
  int stalled = 0;              // stats: sessions that stop reading when the measured phase starts
  bool one_connection = false;  // stats: close the second connection once subscribed
  std::string channel;          // idle: subscribed by every session when set
  int sources = 1;              // loopback source addresses the clients spread over
};

// Opens `socket` bound to the loopback source address of client `index` (see --sources).
void BindSource(const Options& o, tcp::socket& socket, int index) {
  if (o.sources <= 1) return;
  socket.open(tcp::v4());
  const auto a = static_cast<std::uint32_t>(0x7f000001 + index % o.sources);
  socket.bind(tcp::endpoint(asio::ip::address_v4(a), 0));
}

struct Shared {
  Options opt;
  Histogram latency;
  Histogram interval_latency;  // since the last interval report
  std::uint64_t received = 0;
  std::uint64_t published = 0;
  std::uint64_t errors = 0;
  std::int64_t last_receive = 0;
  int in_flight = 0;
  int ready = 0;
  std::atomic<bool> stopping{false};  // also read by the watchdog and stopper threads
  // stats
  std::vector<std::int64_t> agent_sent;  // per agent: when its newest event was sent (us)
  std::uint64_t events_accepted = 0;
  std::uint64_t subscribed = 0;
  bool measuring = false;  // the measured phase has started (stalled sessions stop)
};

// One HTTP keep-alive connection.
class Conn {
 public:
  Conn(asio::any_io_executor ex, int index) : stream_(ex), index_(index) {}

  // One request; retried once on a fresh connection. Set-Cookie pairs are appended to `cookie`.
  asio::awaitable<std::optional<http::response<http::string_body>>> Request(
      Shared& s, http::verb verb, const std::string& target, const std::string& body,
      const std::string& content_type, const std::string& token, std::string* cookie) {
    std::string why;
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!open_) {
          tcp::resolver resolver(stream_.get_executor());
          auto eps = co_await resolver.async_resolve(s.opt.host, s.opt.port, asio::use_awaitable);
          BindSource(s.opt, stream_.socket(), index_);
          co_await stream_.socket().async_connect(*eps.begin(), asio::use_awaitable);
          stream_.socket().set_option(tcp::no_delay(true));
          open_ = true;
        }
        http::request<http::string_body> req{verb, target, 11};
        req.set(http::field::host, s.opt.host);
        req.set(http::field::content_type, content_type);
        if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
        if (cookie != nullptr && !cookie->empty()) req.set(http::field::cookie, *cookie);
        req.body() = body;
        req.prepare_payload();
        stream_.expires_after(std::chrono::seconds(90));
        co_await http::async_write(stream_, req, asio::use_awaitable);
        http::response<http::string_body> res;
        co_await http::async_read(stream_, buffer_, res, asio::use_awaitable);
        if (cookie != nullptr) {
          for (const auto& f : res) {
            if (f.name() != http::field::set_cookie) continue;
            const std::string v(f.value());
            const std::string pair = v.substr(0, v.find(';'));
            if (!cookie->empty()) *cookie += "; ";
            *cookie += pair;
          }
        }
        if (!res.keep_alive()) Close();
        co_return std::move(res);
      } catch (const std::exception& e) {
        why = e.what();
        Close();
      }
    }
    if (++s.errors <= 5) {  // the first few say why
      std::fprintf(stderr, "%s %s: %s\n", std::string(http::to_string(verb)).c_str(),
                   target.c_str(), why.c_str());
    }
    co_return std::nullopt;
  }

  // A Bayeux exchange: a JSON array posted to the Bayeux URL (+ suffix), the reply array.
  asio::awaitable<json::array> Post(Shared& s, const std::string& suffix, const json::array& body,
                                    std::string* cookie) {
    auto res = co_await Request(s, http::verb::post, s.opt.path + suffix, json::serialize(body),
                                "application/json", s.opt.token, cookie);
    if (!res) co_return json::array{};
    boost::system::error_code ec;
    auto v = json::parse(res->body(), ec);
    if (!ec && v.is_array()) co_return std::move(v.as_array());
    co_return json::array{};
  }
  void Close() {
    beast::error_code ec;
    stream_.socket().close(ec);
    open_ = false;
    buffer_.clear();
  }

 private:
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  int index_ = 0;
  bool open_ = false;
};

// One WebSocket carrying a session's Bayeux messages both ways; writes are queued (one at a
// time on the stream), reads return whole message arrays.
class WsConn {
 public:
  WsConn(asio::any_io_executor ex, int index) : ws_(ex), index_(index) {}

  asio::awaitable<bool> Open(Shared& s) {
    try {
      tcp::resolver resolver(ws_.get_executor());
      auto eps = co_await resolver.async_resolve(s.opt.host, s.opt.port, asio::use_awaitable);
      beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
      BindSource(s.opt, beast::get_lowest_layer(ws_).socket(), index_);
      co_await beast::get_lowest_layer(ws_).socket().async_connect(*eps.begin(),
                                                                   asio::use_awaitable);
      beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true));
      beast::get_lowest_layer(ws_).expires_never();
      co_await ws_.async_handshake(s.opt.host + ":" + s.opt.port, s.opt.path, asio::use_awaitable);
      ws_.text(true);
      co_return true;
    } catch (const std::exception&) {
      co_return false;
    }
  }
  void Send(const json::array& messages) {
    out_.push_back(json::serialize(messages));
    if (writing_) return;
    writing_ = true;
    asio::co_spawn(ws_.get_executor(), WriteLoop(), asio::detached);
  }
  asio::awaitable<std::optional<json::array>> Read() {
    try {
      buffer_.clear();
      co_await ws_.async_read(buffer_, asio::use_awaitable);
      boost::system::error_code ec;
      auto v = json::parse(beast::buffers_to_string(buffer_.data()), ec);
      if (ec || !v.is_array()) co_return json::array{};
      co_return std::move(v.as_array());
    } catch (const std::exception&) {
      co_return std::nullopt;
    }
  }

 private:
  asio::awaitable<void> WriteLoop() {
    while (!out_.empty()) {
      std::string m = std::move(out_.front());
      out_.pop_front();
      try {
        co_await ws_.async_write(asio::buffer(m), asio::use_awaitable);
      } catch (const std::exception&) {
        out_.clear();
      }
    }
    writing_ = false;
  }
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> out_;
  int index_ = 0;
  bool writing_ = false;
};

struct Client {
  Client(asio::any_io_executor ex, int source_index)
      : connect(ex, source_index), send(ex, source_index), index(source_index) {}
  Conn connect;
  Conn send;
  std::unique_ptr<WsConn> ws;
  int index = 0;
  bool stalled = false;  // stats --stalled: stops reading once the measured phase starts
  std::string id;
  std::string cookie;
  std::vector<std::string> channels;  // subscribed after the handshake
  std::vector<int> rooms;
  std::vector<int> agents;  // stats mode
  size_t pending_subscribes = 0;
  int next_id = 1;
  std::string Id() { return std::to_string(next_id++); }
};

std::string Room(int r) { return "/bench/room" + std::to_string(r); }

const char* TransportName(Transport t) {
  return t == Transport::kWebSocket ? "websocket" : "long-polling";
}

json::object HandshakeMessage(Shared& s, Client& c) {
  json::object hs;
  hs["id"] = c.Id();
  hs["channel"] = "/meta/handshake";
  hs["version"] = "1.0";
  hs["minimumVersion"] = "1.0";
  json::array types;
  types.emplace_back(TransportName(s.opt.transport));
  hs["supportedConnectionTypes"] = std::move(types);
  if (!s.opt.token.empty()) {
    json::object ext;
    ext["authorization"] = "Bearer " + s.opt.token;
    hs["ext"] = std::move(ext);
  }
  return hs;
}

json::object ConnectMessage(Shared& s, Client& c, bool first) {
  json::object m;
  m["id"] = c.Id();
  m["channel"] = "/meta/connect";
  m["connectionType"] = TransportName(s.opt.transport);
  m["clientId"] = c.id;
  if (first) m["advice"] = json::object{{"timeout", 0}};
  return m;
}

json::array SubscribeMessages(Client& c) {
  json::array subs;
  for (const auto& channel : c.channels) {
    json::object m;
    m["id"] = c.Id();
    m["channel"] = "/meta/subscribe";
    m["subscription"] = channel;
    m["clientId"] = c.id;
    subs.push_back(std::move(m));
  }
  return subs;
}

// Records the latency of every benchmark message in a batch of received messages: chat
// messages carry their send time; statistic updates name the agent whose event caused them.
void RecordDeliveries(Shared& s, const json::array& messages) {
  const std::int64_t now = NowUs();
  for (const auto& r : messages) {
    if (!r.is_object()) continue;
    const auto& o = r.as_object();
    const auto* data = o.if_contains("data");
    if (data == nullptr || !data->is_object()) continue;
    const auto& d = data->as_object();
    if (const auto* ts = d.if_contains("ts"); ts != nullptr && ts->is_number()) {
      s.latency.Record(now - ts->to_number<std::int64_t>());
      ++s.received;
      s.last_receive = now;
      continue;
    }
    const auto* inner = d.if_contains("data");
    if (inner == nullptr || !inner->is_object()) continue;
    const auto* list = inner->as_object().if_contains("statistics");
    if (list == nullptr || !list->is_array()) continue;
    for (const auto& e : list->as_array()) {
      const auto* id = e.as_object().if_contains("statisticId");
      if (id == nullptr || !id->is_string() || id->as_string().size() < 2) continue;
      const size_t agent = std::strtoul(id->as_string().c_str() + 1, nullptr, 10);
      if (agent >= s.agent_sent.size() || s.agent_sent[agent] == 0) continue;
      s.latency.Record(now - s.agent_sent[agent]);
      s.interval_latency.Record(now - s.agent_sent[agent]);
      ++s.received;
      s.last_receive = now;
    }
  }
}

// Long-polling: handshake, channel subscriptions, then the connect loop.
asio::awaitable<void> ConnectLoop(Shared& s, Client& c) {
  bool first = true;
  while (!s.stopping && !(c.stalled && s.measuring)) {
    json::array body;
    body.push_back(ConnectMessage(s, c, first));
    first = false;
    auto replies = co_await c.connect.Post(s, "/connect", body, &c.cookie);
    if (c.stalled && s.measuring) break;  // vanished: never connects again
    RecordDeliveries(s, replies);
    if (replies.empty()) {
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(std::chrono::milliseconds(100));
      co_await t.async_wait(asio::use_awaitable);
    }
  }
}

asio::awaitable<void> JoinLongPolling(Shared& s, Client& c) {
  json::array hs;
  hs.push_back(HandshakeMessage(s, c));
  auto r = co_await c.send.Post(s, "/handshake", hs, &c.cookie);
  for (const auto& m : r) {
    if (const auto* id = m.as_object().if_contains("clientId"); id != nullptr) {
      c.id = std::string(id->as_string());
    }
  }
  if (c.id.empty()) {
    ++s.errors;
    co_return;
  }
  json::array subs = SubscribeMessages(c);
  if (!subs.empty()) co_await c.send.Post(s, "/", subs, &c.cookie);
  // --one-connection: the REST subscription opens it again for its one request; until then one
  // socket per session (its connects) is open, or 10 000 sessions would need 20 000 descriptors.
  if (s.opt.one_connection) c.send.Close();
  ++s.ready;
  co_await ConnectLoop(s, c);
}

// WebSocket: every message of the session travels on one socket; the reader reacts to replies.
asio::awaitable<void> JoinWebSocket(Shared& s, Client& c) {
  c.ws = std::make_unique<WsConn>(co_await asio::this_coro::executor, c.index);
  if (!co_await c.ws->Open(s)) {
    ++s.errors;
    co_return;
  }
  json::array hs;
  hs.push_back(HandshakeMessage(s, c));
  c.ws->Send(hs);
  for (;;) {
    auto messages = co_await c.ws->Read();
    if (!messages) {
      if (!s.stopping && !(c.stalled && s.measuring)) ++s.errors;
      co_return;
    }
    if (c.stalled && s.measuring) co_return;  // stops reading; c.ws keeps the socket open
    RecordDeliveries(s, *messages);
    for (const auto& v : *messages) {
      if (!v.is_object()) continue;
      const auto& m = v.as_object();
      const auto* ch = m.if_contains("channel");
      if (ch == nullptr || !ch->is_string()) continue;
      const std::string_view channel = ch->as_string();
      const auto* ok = m.if_contains("successful");
      const bool successful = ok != nullptr && ok->is_bool() && ok->as_bool();
      if (channel == "/meta/handshake") {
        if (!successful) {
          ++s.errors;
          co_return;
        }
        c.id = std::string(m.at("clientId").as_string());
        json::array next = SubscribeMessages(c);
        c.pending_subscribes = next.size();
        next.push_back(ConnectMessage(s, c, true));
        c.ws->Send(next);
        if (c.pending_subscribes == 0) ++s.ready;
      } else if (channel == "/meta/subscribe") {
        if (!successful) ++s.errors;
        if (c.pending_subscribes > 0 && --c.pending_subscribes == 0) ++s.ready;
      } else if (channel == "/meta/connect") {
        if (!successful) ++s.errors;
        if (s.stopping) co_return;
        json::array next;
        next.push_back(ConnectMessage(s, c, false));
        c.ws->Send(next);
      } else if (ok != nullptr && channel.rfind("/meta/", 0) != 0) {
        ++s.published;  // the reply to a publish
        --s.in_flight;
      }
    }
  }
}

asio::awaitable<void> Join(Shared& s, Client& c) {
  if (s.opt.transport == Transport::kWebSocket) {
    co_await JoinWebSocket(s, c);
  } else {
    co_await JoinLongPolling(s, c);
  }
}

asio::awaitable<void> WaitUntil(const std::function<bool()>& done) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (!done()) {
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(asio::use_awaitable);
  }
}

asio::awaitable<void> Publisher(Shared& s, std::vector<std::unique_ptr<Client>>& clients,
                                std::int64_t& started, std::int64_t& finished) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  co_await WaitUntil(
      [&] { return s.ready + static_cast<int>(s.errors) >= static_cast<int>(clients.size()); });
  t.expires_after(std::chrono::milliseconds(500));  // let every first connect settle
  co_await t.async_wait(asio::use_awaitable);
  std::mt19937 rng(42);
  const std::string pad(20, 'x');
  started = NowUs();
  auto ex = co_await asio::this_coro::executor;
  std::vector<size_t> order(clients.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (int b = 0; b < s.opt.batches; ++b) {
    // A batch: batch_size publishes from distinct clients, sent concurrently.
    std::shuffle(order.begin(), order.end(), rng);
    const int n = std::min(s.opt.batch_size, static_cast<int>(clients.size()));
    for (int i = 0; i < n; ++i) {
      Client& c = *clients[order[static_cast<size_t>(i)]];
      if (c.id.empty()) continue;
      const int room = static_cast<int>(rng() % static_cast<unsigned>(s.opt.rooms));
      json::object data;
      data["ts"] = NowUs();
      data["pad"] = pad;
      json::object m;
      m["id"] = c.Id();
      m["channel"] = Room(room);
      m["clientId"] = c.id;
      m["data"] = std::move(data);
      ++s.in_flight;
      json::array body;
      body.push_back(std::move(m));
      if (c.ws) {
        c.ws->Send(body);  // the reply comes through the reader
        continue;
      }
      asio::co_spawn(
          ex,
          [&s, &c, body = std::move(body)]() -> asio::awaitable<void> {
            json::array replies = co_await c.send.Post(s, "/", body, &c.cookie);
            RecordDeliveries(s, replies);
            ++s.published;
            --s.in_flight;
          },
          asio::detached);
    }
    do {
      t.expires_after(std::chrono::milliseconds(s.opt.pause_ms));
      co_await t.async_wait(asio::use_awaitable);
    } while (s.in_flight > 0);
  }
  finished = NowUs();
  // Deliveries still under way: wait until nothing arrived for a second.
  for (;;) {
    const std::uint64_t seen = s.received;
    t.expires_after(std::chrono::seconds(1));
    co_await t.async_wait(asio::use_awaitable);
    if (s.received == seen) break;
  }
  s.stopping = true;
}

// ---- stats mode

// --agent-offset: this process drives agents offset+1… (DNs 7001+offset…), so two load tools
// (one per transport) share a server without touching each other's agents or subscriptions.
int g_agent_offset = 0;

std::string AgentId(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "agent%03d", i + 1 + g_agent_offset);
  return buf;
}

// Each session subscribes (REST, bound to itself by the STATISTICS_SESSIONID cookie) to its
// agents' statistic; statisticId "a<agent index>" lets the receiver find the agent.
asio::awaitable<void> SubscribeStatistics(Shared& s, Client& c, int index) {
  json::array list;
  for (int a : c.agents) {
    list.push_back(json::object{{"statisticId", "a" + std::to_string(a)},
                                {"objectId", AgentId(a)},
                                {"objectType", "Agent"},
                                {"name", s.opt.statistic}});
  }
  json::object body{
      {"operationId", "load-" + std::to_string(g_agent_offset) + "-" + std::to_string(index)},
      {"data", json::object{{"statistics", std::move(list)}}}};
  std::string cookie = "STATISTICS_SESSIONID=" + c.id;
  auto res =
      co_await c.send.Request(s, http::verb::post, "/statistics/v3/subscriptions?verbose=OFF",
                              json::serialize(body), "application/json", s.opt.token, &cookie);
  if (!res || res->result_int() != 200) {
    ++s.errors;
    if (res && s.errors < 5) std::fprintf(stderr, "subscribe: %s\n", res->body().c_str());
  }
  // --one-connection: nothing more goes on this connection, so it is closed, and one socket per
  // session (its connects or its WebSocket) is left: 10 000 sessions fit the open-file limit.
  // By default it stays open, as a browser keeps its second connection.
  if (s.opt.one_connection) c.send.Close();
  ++s.subscribed;
}

// Ingest driver: every 10 ms a batch of rate/100 agent-state events (round-robin over the
// agents), on the first free connection of a small pool.
// Every --report-every seconds: the interval's notifications and latency, then a fresh interval.
asio::awaitable<void> Reporter(Shared& s) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  std::uint64_t last_received = 0;
  while (!s.stopping) {
    t.expires_after(std::chrono::seconds(s.opt.report_every_s));
    co_await t.async_wait(asio::use_awaitable);
    const Histogram& h = s.interval_latency;
    std::printf(
        "interval: %llu notifications; latency ms p50 %.1f p99 %.1f max %.1f; errors %llu\n",
        static_cast<unsigned long long>(s.received - last_received), h.Percentile(50) / 1000.0,
        h.Percentile(99) / 1000.0, h.Max() / 1000.0, static_cast<unsigned long long>(s.errors));
    std::fflush(stdout);
    last_received = s.received;
    s.interval_latency = Histogram{};
  }
}

asio::awaitable<void> Driver(Shared& s, std::vector<std::unique_ptr<Client>>& clients,
                             std::int64_t& started, std::int64_t& finished) {
  auto ex = co_await asio::this_coro::executor;
  co_await WaitUntil(
      [&] { return s.ready + static_cast<int>(s.errors) >= static_cast<int>(clients.size()); });
  for (size_t i = 0; i < clients.size(); ++i) {
    if (!clients[i]->id.empty()) {
      asio::co_spawn(ex, SubscribeStatistics(s, *clients[i], static_cast<int>(i)), asio::detached);
    }
    if (i % 50 == 49) co_await WaitUntil([&] { return s.subscribed + 10 >= i; });
  }
  co_await WaitUntil([&] { return s.subscribed + s.errors >= clients.size(); });
  std::vector<std::unique_ptr<Conn>> pool;
  std::vector<bool> busy;
  for (int i = 0; i < 8; ++i) {
    pool.push_back(std::make_unique<Conn>(ex, 0));
    busy.push_back(false);
  }
  std::vector<std::int64_t> last_time(static_cast<size_t>(s.opt.agents), 0);
  std::vector<bool> ready(static_cast<size_t>(s.opt.agents), false);
  auto wall_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  // Per agent: whether a request holding one of its events is not answered yet.
  std::vector<bool> in_flight(static_cast<size_t>(s.opt.agents), false);
  auto send = [&](std::string body, std::vector<int> agents, size_t conn) {
    busy[conn] = true;
    for (int a : agents) in_flight[static_cast<size_t>(a)] = true;
    asio::co_spawn(
        ex,
        [&s, &pool, &busy, &in_flight, conn, body = std::move(body),
         agents = std::move(agents)]() -> asio::awaitable<void> {
          const std::int64_t sent = NowUs();
          for (int a : agents) s.agent_sent[static_cast<size_t>(a)] = sent;
          auto res =
              co_await pool[conn]->Request(s, http::verb::post, "/ingest/v1/events", body,
                                           "application/x-ndjson", s.opt.ingest_token, nullptr);
          if (res && res->result_int() == 200) {
            s.events_accepted += agents.size();
          } else {
            ++s.errors;
            if (res && s.errors < 5) std::fprintf(stderr, "ingest: %s\n", res->body().c_str());
          }
          busy[conn] = false;
          for (int a : agents) in_flight[static_cast<size_t>(a)] = false;
        },
        asio::detached);
  };
  // Logins first.
  {
    std::string body;
    std::vector<int> agents;
    const auto t = wall_ms();
    for (int a = 0; a < s.opt.agents; ++a) {
      char line[256];
      std::snprintf(line, sizeof line,
                    "{\"type\":\"EventAgentLogin\",\"agentId\":\"%s\",\"thisDN\":\"%d\","
                    "\"placeId\":\"place%03d\",\"time\":%lld}\n",
                    AgentId(a).c_str(), 7001 + a + g_agent_offset, a + 1 + g_agent_offset,
                    static_cast<long long>(t));
      body += line;
      last_time[static_cast<size_t>(a)] = t;
    }
    send(std::move(body), {}, 0);
    co_await WaitUntil([&] { return !busy[0]; });
  }
  asio::steady_timer t(ex);
  // The logins' own notifications (every subscribed statistic changes) go out before the
  // measured phase starts.
  t.expires_after(std::chrono::seconds(2));
  co_await t.async_wait(asio::use_awaitable);
  started = NowUs();
  s.measuring = true;
  const std::int64_t end = started + static_cast<std::int64_t>(s.opt.duration_s) * 1'000'000;
  // A tick's events go in one request on the first free connection, agents taken in turn. A
  // batch stops at the first agent still in an unanswered request (it waits for the next tick),
  // so an agent's events reach the server in the order of their times. Past the server's
  // capacity at most one second of events is owed; the rest is not offered (counted).
  double owed = 0;
  int next_agent = 0;
  std::uint64_t skipped = 0;
  std::uint64_t not_offered = 0;
  const double cap = std::max(1.0, static_cast<double>(s.opt.rate));
  for (std::int64_t tick = started; tick < end; tick += 10'000) {
    t.expires_at(std::chrono::steady_clock::time_point(std::chrono::microseconds(tick)));
    co_await t.async_wait(asio::use_awaitable);
    owed += s.opt.rate / 100.0;
    if (owed > cap) {
      not_offered += static_cast<std::uint64_t>(owed - cap);
      owed = cap;
    }
    const int n = std::min(static_cast<int>(owed), s.opt.agents);
    if (n <= 0) continue;
    size_t conn = 0;
    while (conn < pool.size() && busy[conn]) ++conn;
    if (conn == pool.size()) {
      ++skipped;  // every connection busy: the server is behind; this tick's events wait
      continue;
    }
    std::string body;
    std::vector<int> agents;
    const auto now = wall_ms();
    for (int k = 0; k < n && !in_flight[static_cast<size_t>(next_agent)]; ++k) {
      const int a = next_agent;
      next_agent = (next_agent + 1) % s.opt.agents;
      auto& lt = last_time[static_cast<size_t>(a)];
      lt = std::max(lt + 1, now);
      const bool to_ready = !ready[static_cast<size_t>(a)];
      ready[static_cast<size_t>(a)] = to_ready;
      char line[160];
      std::snprintf(line, sizeof line, "{\"type\":\"%s\",\"thisDN\":\"%d\",\"time\":%lld}\n",
                    to_ready ? "EventAgentReady" : "EventAgentNotReady", 7001 + a + g_agent_offset,
                    static_cast<long long>(lt));
      body += line;
      agents.push_back(a);
    }
    if (agents.empty()) continue;
    owed -= static_cast<double>(agents.size());
    send(std::move(body), std::move(agents), conn);
  }
  if (not_offered > 0)
    std::fprintf(stderr, "stats: %llu events not offered (over a second behind)\n",
                 static_cast<unsigned long long>(not_offered));
  finished = NowUs();
  if (skipped > 0)
    std::fprintf(stderr, "stats: %llu ticks skipped (every ingest connection busy)\n",
                 static_cast<unsigned long long>(skipped));
  co_await WaitUntil(
      [&] { return std::none_of(busy.begin(), busy.end(), [](bool b) { return b; }); });
  for (;;) {
    const std::uint64_t seen = s.received;
    t.expires_after(std::chrono::seconds(1));
    co_await t.async_wait(asio::use_awaitable);
    if (s.received == seen) break;
  }
  s.stopping = true;
}

long RssBytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6) * 1024;
  }
  return -1;
}

bool ParseUrl(const std::string& url, Options& o) {
  if (url.rfind("http://", 0) != 0) return false;
  std::string rest = url.substr(7);
  const size_t slash = rest.find('/');
  const std::string hostport = rest.substr(0, slash);
  o.path = slash == std::string::npos ? "/" : rest.substr(slash);
  const size_t colon = hostport.rfind(':');
  o.host = hostport.substr(0, colon);
  o.port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  while (o.path.size() > 1 && o.path.back() == '/') o.path.pop_back();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: tally-load chat|idle|stats --url URL [options] (see bench/load.cc)\n");
    return 2;
  }
  const std::string mode = argv[1];
  Shared s;
  bool smoke = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--url") {
      if (!ParseUrl(next(), s.opt))
        return std::fprintf(stderr, "--url: http://host:port/path\n"), 2;
    } else if (a == "--token") {
      s.opt.token = next();
    } else if (a == "--transport") {
      const std::string t = next();
      if (t != "long-polling" && t != "websocket")
        return std::fprintf(stderr, "--transport: long-polling or websocket\n"), 2;
      s.opt.transport = t == "websocket" ? Transport::kWebSocket : Transport::kLongPolling;
    } else if (a == "--stats-per-client") {
      s.opt.stats_per_client = std::atoi(next().c_str());
    } else if (a == "--agents") {
      s.opt.agents = std::atoi(next().c_str());
    } else if (a == "--rate") {
      s.opt.rate = std::atoi(next().c_str());
    } else if (a == "--agent-offset") {
      g_agent_offset = std::atoi(next().c_str());
    } else if (a == "--one-connection") {
      s.opt.one_connection = true;
    } else if (a == "--stalled") {
      s.opt.stalled = std::atoi(next().c_str());
    } else if (a == "--report-every") {
      s.opt.report_every_s = std::atoi(next().c_str());
    } else if (a == "--duration") {
      s.opt.duration_s = std::atoi(next().c_str());
    } else if (a == "--ingest-token") {
      s.opt.ingest_token = next();
    } else if (a == "--statistic") {
      s.opt.statistic = next();
    } else if (a == "--clients") {
      s.opt.clients = std::atoi(next().c_str());
    } else if (a == "--rooms") {
      s.opt.rooms = std::atoi(next().c_str());
    } else if (a == "--rooms-per-client") {
      s.opt.rooms_per_client = std::atoi(next().c_str());
    } else if (a == "--batches") {
      s.opt.batches = std::atoi(next().c_str());
    } else if (a == "--batch-size") {
      s.opt.batch_size = std::atoi(next().c_str());
    } else if (a == "--pause-ms") {
      s.opt.pause_ms = std::atoi(next().c_str());
    } else if (a == "--channel") {
      s.opt.channel = next();
    } else if (a == "--sources") {
      s.opt.sources = std::max(1, std::min(254, std::atoi(next().c_str())));
    } else if (a == "--pid") {
      s.opt.pid = std::atoi(next().c_str());
    } else if (a == "--smoke") {
      smoke = true;
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (smoke) {
    s.opt.clients = std::min(s.opt.clients, 10);
    s.opt.rooms = std::min(s.opt.rooms, 5);
    s.opt.rooms_per_client = std::min(s.opt.rooms_per_client, 2);
    s.opt.batches = std::min(s.opt.batches, 5);
    s.opt.agents = std::min(s.opt.agents, 10);
    s.opt.stats_per_client = std::min(s.opt.stats_per_client, 2);
    s.opt.rate = std::min(s.opt.rate, 100);
    s.opt.duration_s = std::min(s.opt.duration_s, 1);
  }
  if (s.opt.clients < 1 || s.opt.agents < 1 || s.opt.rate < 1 || s.opt.duration_s < 1) {
    return std::fprintf(stderr, "--clients, --agents, --rate and --duration must be positive\n"), 2;
  }
  if (s.opt.stalled < 0 || s.opt.stalled >= s.opt.clients) {
    return std::fprintf(stderr, "--stalled: from 0 to fewer than --clients (%d)\n", s.opt.clients),
           2;
  }
  s.agent_sent.assign(static_cast<size_t>(s.opt.agents), 0);
  asio::io_context ioc(1);
  std::vector<std::unique_ptr<Client>> clients;
  std::mt19937 rng(7);
  for (int i = 0; i < s.opt.clients; ++i) {
    auto c = std::make_unique<Client>(ioc.get_executor(), i);
    if (mode == "chat") {
      std::vector<int> all(static_cast<size_t>(s.opt.rooms));
      for (int r = 0; r < s.opt.rooms; ++r) all[static_cast<size_t>(r)] = r;
      std::shuffle(all.begin(), all.end(), rng);
      all.resize(static_cast<size_t>(std::min(s.opt.rooms_per_client, s.opt.rooms)));
      c->rooms = all;
      for (int r : all) c->channels.push_back(Room(r));
    } else if (mode == "idle") {
      if (!s.opt.channel.empty()) c->channels.push_back(s.opt.channel);
    } else if (mode == "stats") {
      c->channels.push_back("/statistics/v3/updates");
      for (int k = 0; k < s.opt.stats_per_client; ++k) {
        c->agents.push_back((i * s.opt.stats_per_client + k) % s.opt.agents);
      }
      // Spread evenly: session i stalls when the running share crosses the next whole one.
      c->stalled = s.opt.stalled > 0 &&
                   (i + 1) * s.opt.stalled / s.opt.clients != i * s.opt.stalled / s.opt.clients;
      std::sort(c->agents.begin(), c->agents.end());
      c->agents.erase(std::unique(c->agents.begin(), c->agents.end()), c->agents.end());
    }
    clients.push_back(std::move(c));
  }
  if (mode == "idle") {
    const long before = s.opt.pid > 0 ? RssBytes(s.opt.pid) : -1;
    const std::int64_t opened_from = NowUs();
    std::int64_t opened_at = 0;
    for (auto& c : clients) asio::co_spawn(ioc, Join(s, *c), asio::detached);
    asio::steady_timer t(ioc);
    // Once every session is open (its connect sent), one more second lets the server park the
    // last connects before its RSS is read.
    std::function<void()> wait = [&] {
      t.expires_after(std::chrono::milliseconds(100));
      t.async_wait([&](auto) {
        if (opened_at == 0 && s.ready + static_cast<int>(s.errors) >= s.opt.clients) {
          opened_at = NowUs();
        }
        if (opened_at != 0 && NowUs() - opened_at >= 1'000'000) {
          const long after = s.opt.pid > 0 ? RssBytes(s.opt.pid) : -1;
          std::printf(
              "idle: %d sessions open (%llu errors) in %.2f s; server RSS %ld -> %ld bytes: %ld "
              "bytes/session\n",
              s.ready, static_cast<unsigned long long>(s.errors),
              static_cast<double>(opened_at - opened_from) / 1e6, before, after,
              s.ready > 0 && before > 0 ? (after - before) / s.ready : -1);
          std::fflush(stdout);
          std::_Exit(0);  // sessions are left to the server's sweeper
        }
        wait();
      });
    };
    wait();
    ioc.run();
    return 0;
  }
  if (mode != "chat" && mode != "stats") {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  if (mode == "stats" && s.opt.ingest_token.empty()) {
    return std::fprintf(stderr, "stats: --ingest-token is required\n"), 2;
  }
  std::int64_t started = 0;
  std::int64_t finished = 0;
  for (auto& c : clients) asio::co_spawn(ioc, Join(s, *c), asio::detached);
  if (mode == "stats") {
    asio::co_spawn(ioc, Driver(s, clients, started, finished), asio::detached);
    if (s.opt.report_every_s > 0) asio::co_spawn(ioc, Reporter(s), asio::detached);
  } else {
    asio::co_spawn(ioc, Publisher(s, clients, started, finished), asio::detached);
  }
  std::thread watchdog([&] {
    const int limit = 600 + (mode == "stats" ? s.opt.duration_s : 0);
    for (int i = 0; i < limit && !s.stopping; ++i)
      std::this_thread::sleep_for(std::chrono::seconds(1));
    if (!s.stopping) {
      std::fprintf(stderr, "%s: no progress after 10 minutes\n", mode.c_str());
      std::_Exit(1);
    }
  });
  std::thread stopper([&] {
    while (!s.stopping) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ioc.stop();
  });
  ioc.run();
  stopper.join();
  watchdog.join();
  const double secs = static_cast<double>(finished - started) / 1e6;
  const double out_secs = static_cast<double>(std::max(s.last_receive, finished) - started) / 1e6;
  if (mode == "stats") {
    std::printf(
        "stats: %d sessions (%s, %d stalled) x %d statistics of %d agents; %d events/s for %.1f "
        "s: %llu accepted; %llu notifications received, %.0f/s; latency ms p50 %.1f p90 %.1f p99 "
        "%.1f p99.9 %.1f max %.1f; errors %llu\n",
        s.opt.clients, TransportName(s.opt.transport), s.opt.stalled, s.opt.stats_per_client,
        s.opt.agents, s.opt.rate, secs, static_cast<unsigned long long>(s.events_accepted),
        static_cast<unsigned long long>(s.received), s.received / out_secs,
        s.latency.Percentile(50) / 1000.0, s.latency.Percentile(90) / 1000.0,
        s.latency.Percentile(99) / 1000.0, s.latency.Percentile(99.9) / 1000.0,
        s.latency.Max() / 1000.0, static_cast<unsigned long long>(s.errors));
    return s.received > 0 && s.errors == 0 ? 0 : 1;
  }
  std::printf(
      "chat (%s): %d clients, %d rooms x %d per client; %llu published in %.2f s, %llu received: "
      "in %.0f msg/s, out %.0f msg/s; latency ms p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f; "
      "errors %llu\n",
      TransportName(s.opt.transport), s.opt.clients, s.opt.rooms, s.opt.rooms_per_client,
      static_cast<unsigned long long>(s.published), secs,
      static_cast<unsigned long long>(s.received), s.published / secs, s.received / out_secs,
      s.latency.Percentile(50) / 1000.0, s.latency.Percentile(90) / 1000.0,
      s.latency.Percentile(99) / 1000.0, s.latency.Percentile(99.9) / 1000.0,
      s.latency.Max() / 1000.0, static_cast<unsigned long long>(s.errors));
  return s.received > 0 ? 0 : 1;
}
