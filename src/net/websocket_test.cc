// The WebSocket peer of HttpServer on a real socket: texts queued while a frame is written go
// out in order, merged into few frames when the application set a merger, and one frame each
// when it did not; shared texts (SendShared) the same, and with a merger even alone framed by it.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/http_server.h"
#include "net/router.h"

namespace tally::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

constexpr int kTexts = 1000;

// On "burst", sends kTexts texts "[i]" from the connection's strand in one go: the writer can
// start only once OnText() returns, so all of them are queued by then. On "shared", the same
// as shared bare texts "i"; on "one", the single shared text "7".
class Burst final : public WsHandler {
 public:
  explicit Burst(std::shared_ptr<WsPeer> peer) : peer_(std::move(peer)) {}
  void OnText(std::string text) override {
    if (text == "burst") {
      for (int i = 0; i < kTexts; ++i) peer_->Send("[" + std::to_string(i) + "]");
    } else if (text == "shared") {
      for (int i = 0; i < kTexts; ++i) {
        peer_->SendShared(std::make_shared<const std::string>(std::to_string(i)));
      }
    } else if (text == "one") {
      peer_->SendShared(std::make_shared<const std::string>("7"));
    }
  }
  void OnClose() override { peer_.reset(); }

 private:
  std::shared_ptr<WsPeer> peer_;
};

// Arrays are joined, bare texts go in as they are.
std::string JoinArrays(const std::vector<std::string_view>& texts) {
  std::string out = "[";
  for (const auto t : texts) {
    if (out.size() > 1) out += ',';
    out += t.front() == '[' ? t.substr(1, t.size() - 2) : t;
  }
  return out + "]";
}

struct Frames {
  int frames = 0;
  std::vector<int> numbers;  // every number of every frame, in arrival order
};

// Connects to ws://127.0.0.1:port/ws, sends `ask` and reads until `count` numbers came; every
// frame must be an array.
Frames ReadBurst(std::uint16_t port, const std::string& ask, int count) {
  asio::io_context ioc;
  beast::websocket::stream<tcp::socket> ws(ioc);
  ws.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
  ws.handshake("127.0.0.1", "/ws");
  ws.write(asio::buffer(ask));
  Frames got;
  while (got.numbers.size() < static_cast<size_t>(count)) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    ++got.frames;
    std::string text = beast::buffers_to_string(buffer.data());
    EXPECT_EQ(text.front(), '[') << text;
    EXPECT_EQ(text.back(), ']') << text;
    text = text.substr(1, text.size() - 2);
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t comma = text.find(',', pos);
      got.numbers.push_back(std::stoi(text.substr(pos, comma - pos)));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  beast::error_code ignored;
  ws.close(beast::websocket::close_code::normal, ignored);
  return got;
}

Frames Serve(bool merge, const std::string& ask = "burst", int count = kTexts) {
  Router router;
  router.AddWebSocket("/ws", [merge](const HttpRequest&, std::shared_ptr<WsPeer> peer) {
    if (merge) peer->SetFrameMerger(JoinArrays);
    return std::make_shared<Burst>(std::move(peer));
  });
  asio::io_context ioc;
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  HttpServer server(ioc, options, router, nullptr);
  auto port = server.Listen();
  EXPECT_TRUE(port) << port.error().message;
  if (!port) return {};
  std::thread io([&ioc] { ioc.run(); });
  Frames got = ReadBurst(*port, ask, count);
  server.Shutdown([&ioc] { ioc.stop(); });
  io.join();
  return got;
}

TEST(WebSocketPeerTest, QueuedTextsAreMergedIntoFewFramesInOrder) {
  const Frames got = Serve(true);
  ASSERT_EQ(got.numbers.size(), static_cast<size_t>(kTexts));
  for (int i = 0; i < kTexts; ++i) ASSERT_EQ(got.numbers[i], i) << "at " << i;
  // Everything was queued before the first write: one frame (it is far below the merge cap).
  EXPECT_EQ(got.frames, 1);
}

TEST(WebSocketPeerTest, WithoutAMergerEveryTextIsItsOwnFrame) {
  const Frames got = Serve(false);
  ASSERT_EQ(got.numbers.size(), static_cast<size_t>(kTexts));
  for (int i = 0; i < kTexts; ++i) ASSERT_EQ(got.numbers[i], i) << "at " << i;
  EXPECT_EQ(got.frames, kTexts);
}

TEST(WebSocketPeerTest, SharedTextsAreMergedIntoFewFramesInOrder) {
  const Frames got = Serve(true, "shared");
  ASSERT_EQ(got.numbers.size(), static_cast<size_t>(kTexts));
  for (int i = 0; i < kTexts; ++i) ASSERT_EQ(got.numbers[i], i) << "at " << i;
  EXPECT_EQ(got.frames, 1);
}

TEST(WebSocketPeerTest, ASharedTextAloneIsFramedByTheMerger) {
  const Frames got = Serve(true, "one", 1);  // "7" arrives as "[7]"
  EXPECT_EQ(got.numbers, std::vector<int>{7});
  EXPECT_EQ(got.frames, 1);
}

}  // namespace
}  // namespace tally::net
