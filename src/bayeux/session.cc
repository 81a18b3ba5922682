// A session's outgoing side: its bounded queue, coalescing of keyed messages on overflow, the
// held connect that takes the queue, and the ack extension's unacknowledged batches.
#include "bayeux/server_impl.h"

namespace tally::bayeux {
namespace {

std::string WholeText(std::string_view channel, std::string_view data) {
  std::string text;
  text.reserve(channel.size() + data.size() + 24);
  text += R"({"channel":)";
  text += json::serialize(json::string(channel));
  text += R"(,"data":)";
  text += data;
  text += '}';
  return text;
}

std::string KeyedData(const Message& m) {
  std::string data = m.head;
  for (size_t i = 0; i < m.parts.size(); ++i) {
    if (i > 0) data += ',';
    data += m.parts[i].text;
  }
  data += m.tail;
  return data;
}

}  // namespace

MessagePtr MakeMessage(std::string_view channel, std::string_view data) {
  auto m = std::make_shared<Message>();
  m->channel = std::string(channel);
  m->text = WholeText(channel, data);
  return m;
}

MessagePtr MakeKeyedMessage(std::string_view channel, std::string head,
                            std::vector<Message::Part> parts, std::string tail) {
  auto m = std::make_shared<Message>();
  m->channel = std::string(channel);
  m->keyed = true;
  m->head = std::move(head);
  m->parts = std::move(parts);
  m->tail = std::move(tail);
  // The whole text in one pass (no intermediate data string).
  std::string quoted = json::serialize(json::string(channel));
  size_t size = quoted.size() + m->head.size() + m->tail.size() + m->parts.size() + 24;
  for (const auto& p : m->parts) size += p.text.size();
  std::string& text = m->text;
  text.reserve(size);
  text += R"({"channel":)";
  text += quoted;
  text += R"(,"data":)";
  text += m->head;
  for (size_t i = 0; i < m->parts.size(); ++i) {
    if (i > 0) text += ',';
    text += m->parts[i].text;
  }
  text += m->tail;
  text += '}';
  return m;
}

// Moves queued messages into `out`; with ack, they are remembered under a new batch number that
// goes into the connect reply's ext.
void Server::Impl::Drain(Session& s, std::vector<Piece>& out, json::object* connect_reply) {
  if (s.ack && connect_reply != nullptr) {
    if (!s.queue.empty()) {
      ++s.batch;
      auto& kept = s.unacked[s.batch];
      for (auto& m : s.queue) kept.push_back(m);
    }
    (*connect_reply)["ext"] = json::object{{"ack", s.batch}};
  }
  stats.messages_delivered += s.queue.size();
  for (auto& m : s.queue) out.emplace_back(std::move(m));
  s.queue.clear();
}

void Server::Impl::Unhold(Session& s) {
  if (!s.held) return;
  s.held.reset();
  auto it = held_by_browser.find(s.browser);
  if (it != held_by_browser.end() && --it->second <= 0) held_by_browser.erase(it);
}

// Completes the held connect with the queued messages (events first, then the reply).
void Server::Impl::Wake(Session& s) {
  if (!s.held) return;
  Held held = std::move(*s.held);
  Unhold(s);
  std::vector<Piece> out;
  Drain(s, out, &held.connect_reply);
  out.emplace_back(std::move(held.connect_reply));
  s.expires = clock.NowMs() + options.interval_ms + options.max_interval_ms;
  Due(s, s.expires);
  ReplyLater(std::move(held.reply), std::move(out));
}

// Keyed messages of one kind (channel, head, tail) merge into one, at the place of the first,
// keeping the newest part of each key; other messages keep their place.
size_t Server::Impl::Coalesce(std::vector<MessagePtr>& in) {
  struct Merge {
    size_t slot = 0;  // where the merged message goes in the new queue
    std::shared_ptr<Message> merged;
    std::unordered_map<std::string, size_t> index;  // key → part
  };
  std::vector<Merge> merges;
  std::vector<MessagePtr> queue;
  size_t parts_in = 0;
  for (auto& m : in) {
    if (!m->keyed) {
      queue.push_back(std::move(m));
      continue;
    }
    Merge* merge = nullptr;
    for (auto& g : merges) {
      if (g.merged->channel == m->channel && g.merged->head == m->head &&
          g.merged->tail == m->tail) {
        merge = &g;
      }
    }
    if (merge == nullptr) {
      merges.push_back(Merge{queue.size(), std::make_shared<Message>(), {}});
      merge = &merges.back();
      merge->merged->channel = m->channel;
      merge->merged->keyed = true;
      merge->merged->head = m->head;
      merge->merged->tail = m->tail;
      queue.push_back(nullptr);  // the merged message's place
    }
    for (const auto& part : m->parts) {
      ++parts_in;
      auto [it, fresh] = merge->index.try_emplace(part.key, merge->merged->parts.size());
      if (fresh) {
        merge->merged->parts.push_back(part);
      } else {
        merge->merged->parts[it->second] = part;
      }
    }
  }
  size_t parts_out = 0;
  for (auto& g : merges) {
    parts_out += g.merged->parts.size();
    g.merged->text = WholeText(g.merged->channel, KeyedData(*g.merged));
    queue[g.slot] = std::move(g.merged);
  }
  in.swap(queue);
  return parts_in - parts_out;
}

bool Server::Impl::Subscribed(const Session& s, std::string_view channel) {
  for (const auto& pattern : s.subscriptions) {
    if (ChannelMatches(pattern, channel)) return true;
  }
  return false;
}

void Server::Impl::Unpark(Session& s, const std::string& pattern) {
  std::vector<MessagePtr> still;
  std::vector<MessagePtr> now;
  for (auto& m : s.parked) {
    if (ChannelMatches(pattern, m->channel)) {
      now.push_back(std::move(m));
    } else {
      still.push_back(std::move(m));
    }
  }
  s.parked.swap(still);
  for (auto& m : now) Enqueue(s, m);
}

void Server::Impl::Enqueue(Session& s, const MessagePtr& message, bool subscribed) {
  if (!subscribed && !Subscribed(s, message->channel)) {
    s.parked.push_back(message);
    if (s.parked.size() > options.max_queue) {
      stats.messages_coalesced += Coalesce(s.parked);
      if (s.parked.size() > options.max_queue) {  // nothing left to merge: the oldest go
        const size_t excess = s.parked.size() - options.max_queue;
        s.parked.erase(s.parked.begin(), s.parked.begin() + static_cast<std::ptrdiff_t>(excess));
        stats.dropped_unsubscribed += excess;
      }
    }
    return;
  }
  if (s.push && !s.ack) {
    // WebSocket: out at once, under the lock, so pushes keep their order on the socket; the
    // message's text is shared, not copied per session.
    ++stats.messages_delivered;
    s.push(message);
    return;
  }
  s.queue.push_back(message);
  if (s.queue.size() > options.max_queue) stats.messages_coalesced += Coalesce(s.queue);
  Wake(s);
}

}  // namespace tally::bayeux
