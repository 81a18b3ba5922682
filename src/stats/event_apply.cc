// Event semantics: which actions each event type starts and ends on DNs and queues
// (docs/statistics.md §2).
// Threading: single-threaded (Engine::Impl).
#include "stats/engine_impl.h"

namespace tally::stats {

AttributesPtr Engine::Impl::CallAttributes(const Event& e, CallType type,
                                           const std::string& queue) {
  const std::string& this_queue = !e.this_queue.empty() ? e.this_queue : queue;
  const bool plain = e.ani.empty() && e.dnis.empty() && e.user_data.empty();
  if (plain) {
    std::string& key = attrs_key_buf;
    key.assign(e.media_type.empty() ? std::string_view("voice") : std::string_view(e.media_type));
    key += '\x1f';
    key += static_cast<char>('0' + static_cast<int>(type));
    key += '\x1f';
    key += this_queue;
    if (auto it = call_attrs.find(std::string_view(key)); it != call_attrs.end()) return it->second;
  }
  auto a = std::make_shared<Attributes>();
  a->media_type = e.media_type.empty() ? "voice" : e.media_type;
  a->call_type = type;
  a->this_queue = this_queue;
  a->ani = e.ani;
  a->dnis = e.dnis;
  a->user_data = e.user_data;
  if (plain && call_attrs.size() < kMaxCallAttrs) call_attrs.emplace(attrs_key_buf, a);
  return a;
}

AttributesPtr Engine::Impl::AgentAttributes(const Event& e) {
  // Most agent-state actions carry nothing: share one record for them (every engine of the
  // process does, so it remembers no filter results).
  static const AttributesPtr kPlainVoice = [] {
    auto a = std::make_shared<Attributes>();
    a->filter_memo.Disable();
    return AttributesPtr(std::move(a));
  }();
  if (e.reasons.empty() && e.this_queue.empty() &&
      (e.media_type.empty() || e.media_type == "voice")) {
    return kPlainVoice;
  }
  auto a = std::make_shared<Attributes>();
  a->media_type = e.media_type.empty() ? "voice" : e.media_type;
  a->this_queue = e.this_queue;
  a->reasons = e.reasons;
  return a;
}

auto Engine::Impl::FindCall(Dn& d, const std::string& conn) -> Call* {
  for (Call& c : d.calls) {
    if (c.conn == conn) return &c;
  }
  return nullptr;
}

void Engine::Impl::RemoveCall(Tenant& T, Dn& d, const std::string& conn) {
  d.calls.erase(
      std::remove_if(d.calls.begin(), d.calls.end(), [&](const Call& c) { return c.conn == conn; }),
      d.calls.end());
  auto it = T.conn_dns.find(conn);
  if (it != T.conn_dns.end()) {
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), d.node.index), v.end());
    if (v.empty()) T.conn_dns.erase(it);
  }
}

void Engine::Impl::LogoutDn(Tenant& T, Dn& d, TimeMs t) {
  if (d.agent < 0) return;
  if (d.mode) {
    EndDnAction(T, d, *d.mode, t);
    d.mode.reset();
  }
  if (d.logged_in) {
    EndDnAction(T, d, *d.logged_in, t);
    d.logged_in.reset();
  }
  UpdateDn(T, d, t);
  Agent& a = *T.agents[d.agent];
  DnUnitForAgent(T, d, a, false, t);
  a.dns.erase(std::remove(a.dns.begin(), a.dns.end(), d.node.index), a.dns.end());
  d.agent = -1;
  UpdateAgent(T, a, t);
  if (d.place >= 0) UpdatePlace(T, *T.places[d.place], t);
}

void Engine::Impl::LoginDn(Tenant& T, Dn& d, Agent& a, const Event& e, TimeMs t) {
  if (d.agent == a.node.index) return;  // already logged in here
  if (d.agent >= 0) LogoutDn(T, d, t);
  if (!e.place_id.empty() && d.place < 0) AssignPlace(T, d, GetOrCreatePlace(T, e.place_id, t), t);
  const bool first_login = a.dns.empty();
  d.agent = a.node.index;
  a.dns.push_back(d.node.index);
  DnUnitForAgent(T, d, a, true, t);
  if (first_login) {
    // SinceLogin windows restart; every statistic of the agent is looked at again.
    const Layout& L = T.LayoutOf(a.node);
    NodeExtras* x = a.node.extras.get();
    for (std::uint16_t slot : L.since_login) {
      StatRef s = SlotRef(L, a.node, slot);
      s.Advance(t);
      s.OnLogin(t);
    }
    if (x != nullptr) {
      for (size_t slot = 0; slot < L.slots.size(); ++slot) MarkSlot(x, SlotIndex(slot));
      for (auto& list : x->adhoc) {
        for (AdHoc* ad : list) {
          ad->Stat().Advance(t);
          ad->Stat().OnLogin(t);
          MarkDirty(ad);
        }
      }
    }
  }
  d.logged_in = StartDnAction(T, d, Action::kLoggedIn, AgentAttributes(e), t);
  UpdateDn(T, d, t);
  UpdateAgent(T, a, t);
  if (d.place >= 0) UpdatePlace(T, *T.places[d.place], t);
}

void Engine::Impl::SetMode(Tenant& T, Dn& d, Action kind, const Event& e, TimeMs t) {
  if (d.mode && d.mode->kind == kind && d.mode->attrs->reasons == e.reasons) return;
  if (d.mode) {
    EndDnAction(T, d, *d.mode, t);
    d.mode.reset();
  }
  d.mode = StartDnAction(T, d, kind, AgentAttributes(e), t);
  UpdateDn(T, d, t);
}

void Engine::Impl::SetHook(Tenant& T, Dn& d, Action kind, const Event& e, TimeMs t) {
  if (d.hook && d.hook->kind == kind) return;
  if (d.hook) {
    EndDnAction(T, d, *d.hook, t);
    d.hook.reset();
  }
  d.hook = StartDnAction(T, d, kind, AgentAttributes(e), t);
  UpdateDn(T, d, t);
}

auto Engine::Impl::NewCall(Tenant& T, Dn& d, const Event& e, CallState state, CallType type,
                           Action kind, TimeMs t) -> Call& {
  std::string queue;
  if (auto it = T.pending_answers.find(e.conn_id); it != T.pending_answers.end()) {
    queue = T.queues[it->second.queue]->number;
  }
  Call c;
  c.conn = e.conn_id;
  c.state = state;
  c.type = type;
  c.attrs = CallAttributes(e, type, queue);
  c.ring_start = t;
  c.main = StartDnAction(T, d, kind, c.attrs, t);
  d.calls.push_back(std::move(c));
  T.conn_dns[e.conn_id].push_back(d.node.index);
  return d.calls.back();
}

void Engine::Impl::OnEstablished(Tenant& T, Dn& d, const Event& e, TimeMs t) {
  Call* c = FindCall(d, e.conn_id);
  if (c != nullptr && c->state == CallState::kEstablished) {
    ++counters.events_ignored;
    return;
  }
  if (c == nullptr) {
    const CallType type = e.call_type;
    c = &NewCall(T, d, e, CallState::kEstablished, type, CallAction(type), t);
    c->established = t;
  } else {
    EndDnAction(T, d, c->main, t);
    if (c->state == CallState::kRinging) {
      DnInstant(T, d, Action::kCallAnswered, t - c->ring_start, *c->attrs, t);
    }
    if (e.call_type != CallType::kUnknown && e.call_type != c->type) {
      c->type = e.call_type;
      auto attrs = std::make_shared<Attributes>(*c->attrs);
      attrs->call_type = c->type;
      c->attrs = attrs;
    }
    c->state = CallState::kEstablished;
    c->established = t;
    c->main = StartDnAction(T, d, CallAction(c->type), c->attrs, t);
  }
  if (auto it = T.pending_answers.find(e.conn_id); it != T.pending_answers.end()) {
    Queue& q = *T.queues[it->second.queue];
    auto nodes = QueueNodes(T, q);
    ActionInstant(T, nodes, Action::kCallAnswered, t - it->second.entered, *c->attrs, t);
    T.pending_answers.erase(it);
  }
  UpdateDn(T, d, t);
}

void Engine::Impl::OnReleased(Tenant& T, Dn& d, const Event& e, TimeMs t) {
  Call* c = FindCall(d, e.conn_id);
  if (c == nullptr) {
    ++counters.events_ignored;
    return;
  }
  const AttributesPtr attrs = c->attrs;
  if (c->hold) EndDnAction(T, d, *c->hold, t);
  EndDnAction(T, d, c->main, t);
  switch (c->state) {
    case CallState::kDialing: break;
    case CallState::kRinging: {
      const bool redirected = EqualsIgnoreCase(e.call_state, "Redirected");
      DnInstant(T, d, redirected ? Action::kCallMissed : Action::kCallAbandonedFromRinging,
                t - c->ring_start, *attrs, t);
      if (!redirected) T.pending_answers.erase(e.conn_id);
      break;
    }
    case CallState::kEstablished:
      DnInstant(T, d, Action::kCallReleased, t - c->established, *attrs, t);
      if (EqualsIgnoreCase(e.call_state, "Transferred")) {
        DnInstant(T, d, Action::kCallTransferMade, 0, *attrs, t);
      }
      break;
  }
  RemoveCall(T, d, e.conn_id);
  UpdateDn(T, d, t);
}

void Engine::Impl::OnAttachedData(Tenant& T, const Event& e, TimeMs t) {
  auto merge = [&](const AttributesPtr& old) {
    auto a = std::make_shared<Attributes>(*old);
    for (const auto& [k, v] : e.user_data) {
      // A named key, not the binding: lambdas may capture structured bindings only from
      // C++20 compilers newer than clang 14.
      const std::string& key = k;
      auto it = std::find_if(a->user_data.begin(), a->user_data.end(),
                             [&](const auto& kv) { return kv.first == key; });
      if (it == a->user_data.end()) {
        a->user_data.emplace_back(k, v);
      } else {
        it->second = v;
      }
    }
    return AttributesPtr(a);
  };
  auto change = [&](NodeList& nodes, ActionRec& r, const AttributesPtr& next) {
    const AttributesPtr before = r.attrs;
    r.attrs = next;
    ActionAttrsChanged(T, nodes, r, *before, t);
  };
  bool found = false;
  if (auto it = T.conn_dns.find(e.conn_id); it != T.conn_dns.end()) {
    const std::vector<int> dns = it->second;
    for (int di : dns) {
      Dn& d = *T.dns[di];
      Call* c = FindCall(d, e.conn_id);
      if (c == nullptr) continue;
      found = true;
      c->attrs = merge(c->attrs);
      auto nodes = DnNodes(T, d, c->main.agent);
      change(nodes, c->main, c->attrs);
      if (c->hold) {
        auto hold_nodes = DnNodes(T, d, c->hold->agent);
        change(hold_nodes, *c->hold, c->attrs);
      }
      UpdateDn(T, d, t);
    }
  }
  for (auto& q : T.queues) {
    auto it = q->waiting.find(e.conn_id);
    if (it == q->waiting.end()) continue;
    found = true;
    auto nodes = QueueNodes(T, *q);
    change(nodes, it->second, merge(it->second.attrs));
  }
  if (!found) ++counters.events_ignored;
}

void Engine::Impl::OnLink(Tenant& T, const Event& e, bool up, TimeMs t) {
  for (auto& dp : T.dns) {
    Dn& d = *dp;
    if (d.switch_id != e.switch_id) continue;
    if (!up) {
      while (!d.calls.empty()) {
        Call& c = d.calls.back();
        if (c.hold) EndDnAction(T, d, *c.hold, t);
        EndDnAction(T, d, c.main, t);
        RemoveCall(T, d, c.conn);
      }
      if (d.hook) {
        EndDnAction(T, d, *d.hook, t);
        d.hook.reset();
      }
      LogoutDn(T, d, t);
    }
    d.monitored = up;
    UpdateDn(T, d, t);
  }
  for (auto& qp : T.queues) {
    Queue& q = *qp;
    if (q.switch_id != e.switch_id) continue;
    if (!up) {
      auto nodes = QueueNodes(T, q);
      for (auto& [conn, r] : q.waiting) ActionEnded(T, nodes, r, t);
      q.waiting.clear();
    }
    q.monitored = up;
  }
}

auto Engine::Impl::QueueFor(Tenant& T, const Event& e, TimeMs t, const Located& at) -> Queue& {
  if (at.queue >= 0) return *T.queues[at.queue];
  const int* i = FindByNumber(T.queue_by_key, T.queue_keys_by_number, OrderKey(e));
  if (i != nullptr) return *T.queues[*i];
  return GetOrCreateQueue(T, e.this_dn, e.switch_id.empty() ? "default" : e.switch_id,
                          ObjectType::kQueue, t);
}

Result<void> Engine::Impl::ApplyEvent(Tenant& T, const Event& e, TimeMs t, const Located& at) {
  const std::string sw = e.switch_id.empty() ? "default" : e.switch_id;
  switch (e.type) {
    case EventType::kTick: return {};
    case EventType::kLinkDisconnected:
    case EventType::kLinkConnected: OnLink(T, e, e.type == EventType::kLinkConnected, t); return {};
    case EventType::kQueued: {
      Queue& q = QueueFor(T, e, t, at);
      q.last_event = std::max(q.last_event, e.time);  // the ordering rule uses event time
      if (q.waiting.count(e.conn_id) != 0) {
        ++counters.events_ignored;
        return {};
      }
      const CallType type = e.call_type == CallType::kUnknown ? CallType::kInbound : e.call_type;
      AttributesPtr attrs = CallAttributes(e, type, q.number);
      ActionRec r{T.next_key++, Action::kCallWait, t, attrs, -1};
      auto nodes = QueueNodes(T, q);
      ActionStarted(T, nodes, r, t);
      ActionInstant(T, nodes, Action::kCallEntered, 0, *attrs, t);
      q.waiting.emplace(e.conn_id, std::move(r));
      return {};
    }
    case EventType::kDiverted:
    case EventType::kAbandoned: {
      Queue& q = QueueFor(T, e, t, at);
      q.last_event = std::max(q.last_event, e.time);  // the ordering rule uses event time
      auto it = q.waiting.find(e.conn_id);
      if (it == q.waiting.end()) {
        ++counters.events_ignored;
        return {};
      }
      ActionRec r = std::move(it->second);
      q.waiting.erase(it);
      auto nodes = QueueNodes(T, q);
      ActionEnded(T, nodes, r, t);
      const bool diverted = e.type == EventType::kDiverted;
      ActionInstant(T, nodes, diverted ? Action::kCallDistributed : Action::kCallAbandoned,
                    t - r.start, *r.attrs, t);
      if (diverted) T.pending_answers[e.conn_id] = PendingAnswer{q.node.index, r.start};
      return {};
    }
    case EventType::kAttachedDataChanged: OnAttachedData(T, e, t); return {};
    default: break;
  }
  // Events on a regular DN.
  Dn& d = at.exact && at.dn >= 0 ? *T.dns[at.dn] : GetOrCreateDn(T, e.this_dn, sw, t);
  d.last_event = std::max(d.last_event, e.time);  // the ordering rule uses event time
  switch (e.type) {
    case EventType::kAgentLogin: {
      Agent& a = GetOrCreateAgent(T, e.agent_id, t);
      LoginDn(T, d, a, e, t);
      break;
    }
    case EventType::kAgentLogout:
      if (d.agent < 0) ++counters.events_ignored;
      LogoutDn(T, d, t);
      break;
    case EventType::kAgentReady:
    case EventType::kAgentNotReady: {
      if (d.agent < 0 && !e.agent_id.empty()) {
        LoginDn(T, d, GetOrCreateAgent(T, e.agent_id, t), e, t);
      }
      Action kind = Action::kWaitForNextCall;
      if (e.type == EventType::kAgentNotReady) {
        kind = EqualsIgnoreCase(e.work_mode, "AfterCallWork") ? Action::kAfterCallWork
                                                              : Action::kNotReadyForNextCall;
      }
      SetMode(T, d, kind, e, t);
      break;
    }
    case EventType::kOffHook: SetHook(T, d, Action::kOffHook, e, t); break;
    case EventType::kOnHook: SetHook(T, d, Action::kOnHook, e, t); break;
    case EventType::kDialing: {
      if (FindCall(d, e.conn_id) != nullptr) {
        ++counters.events_ignored;
        break;
      }
      const CallType type = e.call_type == CallType::kUnknown ? CallType::kOutbound : e.call_type;
      NewCall(T, d, e, CallState::kDialing, type, Action::kCallDialing, t);
      UpdateDn(T, d, t);
      break;
    }
    case EventType::kRinging: {
      if (FindCall(d, e.conn_id) != nullptr) {
        ++counters.events_ignored;
        break;
      }
      const CallType type = e.call_type == CallType::kUnknown ? CallType::kInbound : e.call_type;
      NewCall(T, d, e, CallState::kRinging, type, Action::kCallRinging, t);
      UpdateDn(T, d, t);
      break;
    }
    case EventType::kEstablished: OnEstablished(T, d, e, t); break;
    case EventType::kReleased: OnReleased(T, d, e, t); break;
    case EventType::kHeld: {
      Call* c = FindCall(d, e.conn_id);
      if (c == nullptr || c->state != CallState::kEstablished || c->hold) {
        ++counters.events_ignored;
        break;
      }
      c->hold = StartDnAction(T, d, Action::kCallOnHold, c->attrs, t);
      UpdateDn(T, d, t);
      break;
    }
    case EventType::kRetrieved: {
      Call* c = FindCall(d, e.conn_id);
      if (c == nullptr || !c->hold) {
        ++counters.events_ignored;
        break;
      }
      EndDnAction(T, d, *c->hold, t);
      c->hold.reset();
      UpdateDn(T, d, t);
      break;
    }
    default: break;
  }
  return {};
}

}  // namespace tally::stats
