// Channel names, trailing wildcards, and the index of the sessions subscribed to each pattern.
#include <algorithm>

#include "bayeux/server_impl.h"

namespace tally::bayeux {
namespace {

bool ValidSegmentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '!' || c == '~' || c == '(' || c == ')' || c == '$' || c == '@' ||
         c == '.';
}

}  // namespace

bool ValidChannel(std::string_view channel) {
  if (channel.size() < 2 || channel.front() != '/' || channel.size() > 256) return false;
  size_t start = 1;
  while (start <= channel.size()) {
    size_t end = channel.find('/', start);
    if (end == std::string_view::npos) end = channel.size();
    const std::string_view seg = channel.substr(start, end - start);
    if (seg.empty()) return false;
    if (seg != "*" && seg != "**") {
      for (char c : seg) {
        if (!ValidSegmentChar(c)) return false;
      }
    } else if (end != channel.size()) {
      return false;  // wildcards only at the end
    }
    start = end + 1;
  }
  return true;
}

bool ChannelMatches(std::string_view pattern, std::string_view channel) {
  if (pattern == channel) return true;
  if (pattern.size() >= 3 && pattern.substr(pattern.size() - 3) == "/**") {
    const std::string_view prefix = pattern.substr(0, pattern.size() - 2);  // keeps the '/'
    return channel.size() > prefix.size() && channel.substr(0, prefix.size()) == prefix;
  }
  if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == "/*") {
    const std::string_view prefix = pattern.substr(0, pattern.size() - 1);
    return channel.size() > prefix.size() && channel.substr(0, prefix.size()) == prefix &&
           channel.find('/', prefix.size()) == std::string_view::npos;
  }
  return false;
}

void Server::Impl::Subscribe(Session& s, const std::string& pattern) {
  if (!s.subscriptions.insert(pattern).second) return;
  subscribers[pattern].insert(&s);
  Unpark(s, pattern);
}

void Server::Impl::Unsubscribe(Session& s, const std::string& pattern) {
  auto it = subscribers.find(pattern);
  if (it == subscribers.end()) return;
  it->second.erase(&s);
  if (it->second.empty()) subscribers.erase(it);
}

std::vector<Server::Impl::Session*> Server::Impl::SubscribersOf(const std::string& channel) {
  // The subscriber sets of the patterns that match: usually one (the channel itself).
  std::vector<const std::set<Session*>*> sets;
  auto add = [&](const std::string& pattern) {
    auto it = subscribers.find(pattern);
    if (it != subscribers.end()) sets.push_back(&it->second);
  };
  add(channel);
  size_t slash = channel.rfind('/');
  if (slash != std::string::npos) add(channel.substr(0, slash) + "/*");
  while (slash != std::string::npos && slash > 0) {
    add(channel.substr(0, slash) + "/**");
    slash = channel.rfind('/', slash - 1);
  }
  add("/**");
  std::vector<Session*> found;
  if (sets.size() == 1) {
    found.assign(sets.front()->begin(), sets.front()->end());  // ordered, without duplicates
    return found;
  }
  // A session subscribed to several matching patterns gets the message once.
  for (const auto* set : sets) found.insert(found.end(), set->begin(), set->end());
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  return found;
}

bool Server::Impl::MaySubscribe(std::string_view channel) const {
  if (!ValidChannel(channel)) return false;
  if (options.bench_channels && channel.substr(0, 7) == "/bench/") return true;
  for (const auto& c : options.channels) {
    if (c == channel) return true;
  }
  return false;
}

}  // namespace tally::bayeux
