// Internal to net (included by http_server.cc only): the WebSocket peer of one connection —
// the outbox the application sends into, the writer that drains it into frames — and the holder
// that keeps the stream alive while a write runs.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/http.h"

namespace tally::net::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;

inline constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// The application's handle on one WebSocket: Send() queues a text and, when no writer runs,
// starts one on the connection's strand; a writer takes everything queued at once (merged into
// one frame when the application set a merger), so a burst of messages costs one wake-up and
// few frames. The peer keeps the connection (and so the stream) alive while writing.
template <typename Io>
class WsPeerImpl final : public WsPeer, public std::enable_shared_from_this<WsPeerImpl<Io>> {
 public:
  WsPeerImpl(std::shared_ptr<void> keep, beast::websocket::stream<Io&>& ws,
             asio::any_io_executor ex, std::uint64_t max_buffered)
      : keep_(std::move(keep)), ws_(ws), ex_(std::move(ex)), max_buffered_(max_buffered) {}

  void SetFrameMerger(FrameMerger merger) override { merger_ = std::move(merger); }

  void Send(std::string text) override { Queue(Queued{std::move(text), nullptr}); }
  void SendShared(std::shared_ptr<const std::string> text) override {
    Queue(Queued{{}, std::move(text)});
  }

  void Close() override {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
    }
    asio::post(ex_, [self = this->shared_from_this()] { self->CancelSocket(); });
  }

  // Strand: ends the read loop and any write (the socket may be closed already).
  void CancelSocket() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).cancel(ignored);
  }

  // Strand: the read loop ended.
  void MarkClosed() {
    std::lock_guard lock(mu_);
    closed_ = true;
    outbox_.clear();
    buffered_ = 0;
  }
  [[nodiscard]] bool Writing() const {
    std::lock_guard lock(mu_);
    return writing_;
  }
  [[nodiscard]] bool Overflowed() const override {
    std::lock_guard lock(mu_);
    return overflowed_;
  }

 private:
  // At most this much queued text goes into one merged frame.
  static constexpr std::size_t kMergeBytes = 64 * 1024;

  // A text waiting for its frame: the peer's own, or one shared with other connections.
  struct Queued {
    std::string own;
    std::shared_ptr<const std::string> shared;
    [[nodiscard]] std::string_view Text() const {
      return shared ? std::string_view(*shared) : std::string_view(own);
    }
  };

  void Queue(Queued text) {
    const std::size_t size = text.Text().size();
    bool start = false;
    bool cut = false;
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      // A client that does not read: past the bound, cut it off rather than buffer for ever
      // (the frames waiting are dropped; the application learns it in OnClose()).
      if (buffered_ > 0 && buffered_ + size > max_buffered_) {
        overflowed_ = true;
        closed_ = true;
        outbox_.clear();
        buffered_ = 0;
        cut = true;
      } else {
        buffered_ += size;
        outbox_.push_back(std::move(text));
        start = !writing_;
        writing_ = true;
      }
    }
    if (cut) {
      asio::post(ex_, [self = this->shared_from_this()] { self->CancelSocket(); });
    } else if (start) {
      // Posted (not dispatched) even from the strand: what the caller sends next in the same
      // handler joins this write.
      asio::post(ex_, [self = this->shared_from_this()] {
        asio::co_spawn(self->ex_, self->WriteLoop(), asio::detached);
      });
    }
  }

  asio::awaitable<void> WriteLoop() {
    auto self = this->shared_from_this();
    std::vector<Queued> taken;
    std::vector<std::string_view> run;
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (closed_ || outbox_.empty()) {
          outbox_.clear();
          writing_ = false;
          co_return;
        }
        taken.swap(outbox_);
      }
      std::size_t bytes = 0;
      for (const auto& t : taken) bytes += t.Text().size();
      bool failed = false;
      std::size_t i = 0;
      while (i < taken.size() && !failed) {
        std::string frame;
        std::string_view out;
        if (merger_ && (taken.size() - i > 1 || taken[i].shared)) {
          run.clear();
          std::size_t run_bytes = 0;
          while (i < taken.size() &&
                 (run.empty() || run_bytes + taken[i].Text().size() <= kMergeBytes)) {
            run_bytes += taken[i].Text().size();
            run.push_back(taken[i++].Text());
          }
          if (run.size() == 1 && !taken[i - 1].shared) {
            frame = std::move(taken[i - 1].own);  // a frame as it is (e.g. a reply past the cap)
          } else {
            frame = merger_(run);
          }
          out = frame;
        } else if (taken[i].shared) {
          out = *taken[i++].shared;  // written from the shared text itself
        } else {
          frame = std::move(taken[i++].own);
          out = frame;
        }
        ws_.text(true);
        auto [ec, n] = co_await ws_.async_write(asio::buffer(out.data(), out.size()), kUseTuple);
        (void)n;
        if (ec) failed = true;
      }
      taken.clear();
      std::lock_guard lock(mu_);
      buffered_ -= std::min<std::uint64_t>(buffered_, bytes);
      if (failed) {
        closed_ = true;
        outbox_.clear();
        writing_ = false;
        CancelSocket();
        co_return;
      }
    }
  }

  std::shared_ptr<void> keep_;
  beast::websocket::stream<Io&>& ws_;
  asio::any_io_executor ex_;
  FrameMerger merger_;  // set before the first Send()
  const std::uint64_t max_buffered_;
  mutable std::mutex mu_;       // guards the fields below
  std::vector<Queued> outbox_;  // a vector: nothing allocated while idle
  std::uint64_t buffered_ = 0;  // bytes in the outbox and the frames being written
  bool writing_ = false;
  bool closed_ = false;
  bool overflowed_ = false;
};

// The stream lives in a shared holder so that a writer still running after the read loop ends
// cannot outlive it.
template <typename Io>
struct WsHolder {
  WsHolder(std::shared_ptr<void> c, Io& io) : conn(std::move(c)), ws(io) {}
  std::shared_ptr<void> conn;  // the Connection whose socket `ws` runs on
  beast::websocket::stream<Io&> ws;
};

}  // namespace tally::net::internal
