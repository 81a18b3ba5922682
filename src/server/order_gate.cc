#include "server/order_gate.h"

#include <algorithm>

namespace tally::server {

std::string OrderGate::Key(const stats::Event& e) {
  std::string key = e.tenant;
  key += '\x1f';
  key += stats::OrderKey(e);
  return key;
}

std::optional<OrderGate::Refusal> OrderGate::Check(const std::vector<stats::Event>& batch) const {
  return CheckAgainst(accepted_, "the last accepted event", batch);
}

std::optional<OrderGate::Refusal> OrderGate::CheckStored(
    const std::vector<stats::Event>& batch) const {
  return CheckAgainst(stored_, "the last stored event", batch);
}

std::optional<OrderGate::Refusal> OrderGate::CheckAgainst(
    const std::unordered_map<std::string, TimeMs>& level, const char* level_name,
    const std::vector<stats::Event>& batch) {
  std::unordered_map<std::string, TimeMs> in_batch;
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& e = batch[i];
    if (e.this_dn.empty()) continue;
    const std::string key = Key(e);
    TimeMs bar = -1;
    const char* what = level_name;
    if (auto it = level.find(key); it != level.end()) bar = it->second;
    if (auto it = in_batch.find(key); it != in_batch.end() && it->second >= bar) {
      bar = it->second;
      what = "an earlier event of this batch";
    }
    if (e.time < bar) {
      const bool named_switch = e.this_dn.find('@') == std::string::npos && !e.switch_id.empty() &&
                                e.switch_id != "default";
      return Refusal{i, "field 'time': " + std::to_string(e.time) +
                            " goes back in time: it is older than " + what + " of DN '" +
                            e.this_dn + "'" +
                            (named_switch ? " on switch '" + e.switch_id + "'" : "") + " (" +
                            std::to_string(bar) + "); events of a DN must not go back in time"};
    }
    auto& t = in_batch[key];
    t = std::max(t, e.time);
  }
  return std::nullopt;
}

void OrderGate::Accept(const std::vector<stats::Event>& batch) {
  for (const auto& e : batch) {
    if (e.this_dn.empty()) continue;
    auto& t = accepted_[Key(e)];
    t = std::max(t, e.time);
  }
}

void OrderGate::Stored(const std::vector<stats::Event>& batch) {
  for (const auto& e : batch) {
    if (e.this_dn.empty()) continue;
    auto& t = stored_[Key(e)];
    t = std::max(t, e.time);
  }
}

void OrderGate::Rollback(const std::vector<stats::Event>& batch) {
  for (const auto& e : batch) {
    if (e.this_dn.empty()) continue;
    const std::string key = Key(e);
    if (auto s = stored_.find(key); s != stored_.end()) {
      accepted_[key] = s->second;
    } else {
      accepted_.erase(key);
    }
  }
}

void OrderGate::Observe(const stats::Event& e) {
  if (e.this_dn.empty()) return;
  const std::string key = Key(e);
  auto& a = accepted_[key];
  a = std::max(a, e.time);
  auto& s = stored_[key];
  s = std::max(s, e.time);
}

void OrderGate::Save(BinaryWriter& w) const {
  w.U64(stored_.size());
  for (const auto& [key, t] : stored_) {
    w.Str(key);
    w.I64(t);
  }
}

bool OrderGate::Load(BinaryReader& r, bool legacy) {
  std::unordered_map<std::string, TimeMs> times;
  const size_t n = r.Count(2);
  for (size_t i = 0; i < n && r.Ok(); ++i) {
    std::string key = r.Str();
    const TimeMs t = r.I64();
    if (legacy) {
      // "tenant\x1fswitch\x1fdn" → "tenant\x1f" + the engine's name of the DN.
      const size_t a = key.find('\x1f');
      const size_t b = a == std::string::npos ? a : key.find('\x1f', a + 1);
      if (b == std::string::npos) return false;
      stats::Event e;
      e.tenant = key.substr(0, a);
      e.switch_id = key.substr(a + 1, b - a - 1);
      e.this_dn = key.substr(b + 1);
      key = Key(e);
    }
    auto& kept = times[std::move(key)];
    kept = std::max(kept, t);
  }
  if (!r.Ok()) return false;
  accepted_ = times;
  stored_ = std::move(times);
  return true;
}

}  // namespace tally::server
