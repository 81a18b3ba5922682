// tally-load: a Bayeux (CometD) load tool over long-polling, runnable against any Bayeux server
// (Tally, Faye, CometD). Boost.Beast client, one C++20 coroutine per connection.
//
//   chat: the CometD benchmark model — N clients, R rooms, each client in K random rooms;
//         B batches of S publishes (random client, random room) with P ms between batches.
//         Every message carries its send time; each member that receives it records the
//         latency. Prints messages in/out per second and latency percentiles.
//   idle: opens N sessions that hold their connects, then reads the server's RSS from
//         /proc/PID/status (--pid) before and after: bytes per idle session.
//
// Options: --url http://127.0.0.1:8080/statistics/v3/notifications --token T (Bearer, optional)
//          --clients N --rooms R --rooms-per-client K --batches B --batch-size S --pause-ms P
//          --pid PID --smoke (tiny run for CI).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
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

struct Options {
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
};

struct Shared {
  Options opt;
  Histogram latency;
  std::uint64_t received = 0;
  std::uint64_t published = 0;
  std::uint64_t errors = 0;
  std::int64_t last_receive = 0;
  int in_flight = 0;
  int ready = 0;
  bool stopping = false;
};

// One HTTP keep-alive connection posting JSON arrays.
class Conn {
 public:
  explicit Conn(asio::any_io_executor ex) : stream_(ex) {}
  asio::awaitable<json::array> Post(Shared& s, const std::string& suffix, const json::array& body,
                                    std::string* cookie) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!open_) {
          tcp::resolver resolver(stream_.get_executor());
          auto eps = co_await resolver.async_resolve(s.opt.host, s.opt.port, asio::use_awaitable);
          co_await stream_.async_connect(eps, asio::use_awaitable);
          stream_.socket().set_option(tcp::no_delay(true));
          open_ = true;
        }
        http::request<http::string_body> req{http::verb::post, s.opt.path + suffix, 11};
        req.set(http::field::host, s.opt.host);
        req.set(http::field::content_type, "application/json");
        if (!s.opt.token.empty()) req.set(http::field::authorization, "Bearer " + s.opt.token);
        if (cookie != nullptr && !cookie->empty()) req.set(http::field::cookie, *cookie);
        req.body() = json::serialize(body);
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
        auto v = json::parse(res.body());
        if (v.is_array()) co_return std::move(v.as_array());
        co_return json::array{};
      } catch (const std::exception&) {
        Close();
      }
    }
    ++s.errors;
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
  bool open_ = false;
};

struct Client {
  explicit Client(asio::any_io_executor ex) : connect(ex), send(ex) {}
  Conn connect;
  Conn send;
  std::string id;
  std::string cookie;
  std::vector<int> rooms;
  int next_id = 1;
  std::string Id() { return std::to_string(next_id++); }
};

std::string Room(int r) { return "/bench/room" + std::to_string(r); }

asio::awaitable<bool> Handshake(Shared& s, Client& c) {
  // (Messages are built before co_await: g++ 12 mishandles braced temporaries in its operand.)
  json::object hs;
  hs["id"] = c.Id();
  hs["channel"] = "/meta/handshake";
  hs["version"] = "1.0";
  hs["minimumVersion"] = "1.0";
  json::array types;
  types.emplace_back("long-polling");
  hs["supportedConnectionTypes"] = std::move(types);
  json::object ext;
  ext["authorization"] = "Bearer " + s.opt.token;
  hs["ext"] = std::move(ext);
  json::array body;
  body.push_back(std::move(hs));
  auto r = co_await c.send.Post(s, "/handshake", body, &c.cookie);
  for (const auto& m : r) {
    if (m.as_object().if_contains("clientId") != nullptr) {
      c.id = std::string(m.at("clientId").as_string());
      co_return true;
    }
  }
  ++s.errors;
  co_return false;
}

// Records the latency of every benchmark message in a reply (connect replies, and the replies
// to publishes, where servers such as CometD and Tally also deliver queued messages).
void RecordDeliveries(Shared& s, const json::array& replies) {
  const std::int64_t now = NowUs();
  for (const auto& r : replies) {
    const auto& o = r.as_object();
    const auto* data = o.if_contains("data");
    if (data == nullptr || !data->is_object()) continue;
    const auto* ts = data->as_object().if_contains("ts");
    if (ts == nullptr) continue;
    s.latency.Record(now - ts->to_number<std::int64_t>());
    ++s.received;
    s.last_receive = now;
  }
}

// The long-poll loop.
asio::awaitable<void> ConnectLoop(Shared& s, Client& c) {
  bool first = true;
  while (!s.stopping) {
    json::object m{{"id", c.Id()},
                   {"channel", "/meta/connect"},
                   {"connectionType", "long-polling"},
                   {"clientId", c.id}};
    if (first) m["advice"] = json::object{{"timeout", 0}};
    first = false;
    json::array body;
    body.push_back(std::move(m));
    auto replies = co_await c.connect.Post(s, "/connect", body, &c.cookie);
    RecordDeliveries(s, replies);
    if (replies.empty()) {
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(std::chrono::milliseconds(100));
      co_await t.async_wait(asio::use_awaitable);
    }
  }
}

asio::awaitable<void> Join(Shared& s, Client& c) {
  if (!co_await Handshake(s, c)) co_return;
  json::array subs;
  for (int r : c.rooms) {
    subs.push_back(json::object{{"id", c.Id()},
                                {"channel", "/meta/subscribe"},
                                {"subscription", Room(r)},
                                {"clientId", c.id}});
  }
  if (!subs.empty()) co_await c.send.Post(s, "/", subs, &c.cookie);
  ++s.ready;
  co_await ConnectLoop(s, c);
}

asio::awaitable<void> Publisher(Shared& s, std::vector<std::unique_ptr<Client>>& clients,
                                std::int64_t& started, std::int64_t& finished) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (s.ready < static_cast<int>(clients.size())) {
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(asio::use_awaitable);
  }
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
      asio::co_spawn(
          ex,
          [&s, &c, m = std::move(m)]() mutable -> asio::awaitable<void> {
            json::array body;
            body.push_back(std::move(m));
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
    std::fprintf(stderr, "usage: tally-load chat|idle --url URL [options] (see bench/load.cc)\n");
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
  }
  asio::io_context ioc(1);
  std::vector<std::unique_ptr<Client>> clients;
  std::mt19937 rng(7);
  for (int i = 0; i < s.opt.clients; ++i) {
    auto c = std::make_unique<Client>(ioc.get_executor());
    if (mode == "chat") {
      std::vector<int> all(static_cast<size_t>(s.opt.rooms));
      for (int r = 0; r < s.opt.rooms; ++r) all[static_cast<size_t>(r)] = r;
      std::shuffle(all.begin(), all.end(), rng);
      all.resize(static_cast<size_t>(std::min(s.opt.rooms_per_client, s.opt.rooms)));
      c->rooms = all;
    }
    clients.push_back(std::move(c));
  }
  if (mode == "idle") {
    const long before = s.opt.pid > 0 ? RssBytes(s.opt.pid) : -1;
    for (auto& c : clients) asio::co_spawn(ioc, Join(s, *c), asio::detached);
    asio::steady_timer t(ioc);
    std::function<void()> wait = [&] {
      t.expires_after(std::chrono::milliseconds(100));
      t.async_wait([&](auto) {
        if (s.ready + static_cast<int>(s.errors) >= s.opt.clients) {
          const long after = s.opt.pid > 0 ? RssBytes(s.opt.pid) : -1;
          std::printf(
              "idle: %d sessions open (%llu errors); server RSS %ld -> %ld bytes: %ld "
              "bytes/session\n",
              s.ready, static_cast<unsigned long long>(s.errors), before, after,
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
  if (mode != "chat") {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  std::int64_t started = 0;
  std::int64_t finished = 0;
  for (auto& c : clients) asio::co_spawn(ioc, Join(s, *c), asio::detached);
  asio::co_spawn(ioc, Publisher(s, clients, started, finished), asio::detached);
  std::thread watchdog([&] {
    for (int i = 0; i < 600 && !s.stopping; ++i)
      std::this_thread::sleep_for(std::chrono::seconds(1));
    if (!s.stopping) {
      std::fprintf(stderr, "chat: no progress after 10 minutes\n");
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
  std::printf(
      "chat: %d clients, %d rooms x %d per client; %llu published in %.2f s, %llu received: "
      "in %.0f msg/s, out %.0f msg/s; latency ms p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f; "
      "errors %llu\n",
      s.opt.clients, s.opt.rooms, s.opt.rooms_per_client,
      static_cast<unsigned long long>(s.published), secs,
      static_cast<unsigned long long>(s.received), s.published / secs, s.received / out_secs,
      s.latency.Percentile(50) / 1000.0, s.latency.Percentile(90) / 1000.0,
      s.latency.Percentile(99) / 1000.0, s.latency.Percentile(99.9) / 1000.0,
      s.latency.Max() / 1000.0, static_cast<unsigned long long>(s.errors));
  return s.received > 0 ? 0 : 1;
}
