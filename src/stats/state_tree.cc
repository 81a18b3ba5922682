// Values: a statistic's number as a StatValue, and the CurrentState trees of agents, places,
// DNs and groups (docs/statistics.md §7).
// Threading: single-threaded (Engine::Impl).
#include "stats/engine_impl.h"

namespace tally::stats {

bool StatValue::SameAs(const StatValue& o) const {
  return number == o.number && int_value == o.int_value && string_value == o.string_value;
}

DnState Engine::Impl::DnStateOf(Tenant& T, Dn& d, bool actions, bool reasons) {
  (void)T;
  DnState s;
  s.dn_id = d.number;
  s.switch_id = d.switch_id;
  s.status = d.node.status;
  s.time = d.node.status_start;
  if (reasons && d.node.status_attrs) s.reasons = d.node.status_attrs->reasons;
  if (actions) {
    ForOngoingDnActions(d, -1, [&](const ActionRec& r) {
      ActionState a;
      a.action = r.kind;
      a.time = r.start;
      a.media_type = r.attrs ? r.attrs->media_type : "voice";
      if (r.attrs) a.reasons = r.attrs->reasons;
      for (const Call& c : d.calls) {
        if (c.main.key == r.key || (c.hold && c.hold->key == r.key)) a.conn_id = c.conn;
      }
      s.actions.push_back(std::move(a));
    });
  }
  return s;
}

PlaceState Engine::Impl::PlaceStateOf(Tenant& T, Place& p, bool actions, bool reasons) {
  PlaceState s;
  s.place_id = p.node.id;
  s.status = p.node.status;
  s.time = p.node.status_start;
  for (int di : p.dns) s.dns.push_back(DnStateOf(T, *T.dns[di], actions, reasons));
  return s;
}

AgentState Engine::Impl::AgentStateOf(Tenant& T, Agent& a, bool actions, bool reasons) {
  AgentState s;
  s.agent_id = a.node.id;
  s.status = a.node.status;
  s.time = a.node.status_start;
  if (reasons && a.node.status_attrs) s.reasons = a.node.status_attrs->reasons;
  int place = -1;
  for (int di : a.dns) {
    if (T.dns[di]->place >= 0) place = T.dns[di]->place;
  }
  if (place >= 0) {
    s.has_place = true;
    s.place = PlaceStateOf(T, *T.places[place], actions, reasons);
  } else if (!a.dns.empty()) {
    // No configured place: a place named after the agent holding its DNs.
    s.has_place = true;
    s.place.place_id = a.node.id;
    s.place.status = a.node.status;
    s.place.time = a.node.status_start;
    for (int di : a.dns) s.place.dns.push_back(DnStateOf(T, *T.dns[di], actions, reasons));
  }
  return s;
}

StatValue Engine::Impl::NumberValue(double n, std::int64_t interval_s, TimeMs t) {
  StatValue v;
  v.timestamp = t;
  v.number = std::round(n * 1000.0) / 1000.0;
  v.int_value = static_cast<std::int64_t>(std::llround(n));
  v.string_value = FormatNumber(v.number);
  v.interval_length_s = interval_s;
  return v;
}

StatValue Engine::Impl::TreeValue(Tenant& T, Node& node, const Definition& def, TimeMs t) {
  StatValue v;
  v.timestamp = t;
  auto tree = std::make_shared<StateTree>();
  const bool actions = def.subject == Subject::kDNAction;
  const bool reasons = def.category == Category::kCurrentStateReasons;
  tree->with_reasons = reasons;
  Status status = Status::kLoggedOut;
  switch (node.type) {
    case ObjectType::kAgent:
      tree->kind = StateTree::Kind::kAgent;
      tree->agent = AgentStateOf(T, *T.agents[node.index], actions, reasons);
      status = tree->agent.status;
      break;
    case ObjectType::kPlace:
      tree->kind = StateTree::Kind::kPlace;
      tree->place = PlaceStateOf(T, *T.places[node.index], actions, reasons);
      status = tree->place.status;
      break;
    case ObjectType::kRegDN:
      tree->kind = StateTree::Kind::kDn;
      tree->dn = DnStateOf(T, *T.dns[node.index], actions, reasons);
      status = tree->dn.status;
      break;
    case ObjectType::kGroupAgents: {
      Group& g = *T.groups[node.index];
      tree->kind = StateTree::Kind::kGroupAgents;
      tree->group_id = g.node.id;
      for (int m : g.members) {
        tree->agents.push_back(AgentStateOf(T, *T.agents[m], actions, reasons));
      }
      status = g.node.status;
      break;
    }
    case ObjectType::kGroupPlaces: {
      Group& g = *T.groups[node.index];
      tree->kind = StateTree::Kind::kGroupPlaces;
      tree->group_id = g.node.id;
      for (int m : g.members) {
        tree->places.push_back(PlaceStateOf(T, *T.places[m], actions, reasons));
      }
      status = g.node.status;
      break;
    }
    default: break;
  }
  v.int_value = static_cast<int>(status);
  v.number = static_cast<double>(v.int_value);
  v.string_value = std::string(StatusName(status));
  v.state = std::move(tree);
  return v;
}

StatValue Engine::Impl::SlotValue(Tenant& T, Node& node, std::uint16_t slot, TimeMs t) {
  const Layout& L = T.LayoutOf(node);
  const Slot& s = L.slots[slot];
  const Definition& def = s.shape->Def();
  if (s.kind == Slot::Kind::kTree) return TreeValue(T, node, def, t);
  if (s.kind == Slot::Kind::kLedger) {
    // The number of a statistic that reads its node's ledger.
    const std::uint32_t off = L.plans[static_cast<int>(s.subject)].ledger_offset;
    auto ratio = [](double a, double b) { return b != 0 ? a / b : 0.0; };
    auto count = [&](std::uint32_t mask) {
      return static_cast<double>(LedgerCount(node, s.subject, off, mask));
    };
    auto time_ms = [&](std::uint32_t mask) { return LedgerTimeMs(node, s.subject, off, mask, t); };
    double n = 0;
    switch (def.category) {
      case Category::kCurrentNumber: n = count(s.main); break;
      case Category::kCurrentTime: n = time_ms(s.main) / 1000.0; break;
      case Category::kCurrentAverageTime: n = ratio(time_ms(s.main), count(s.main)) / 1000.0; break;
      case Category::kCurrentRelativeNumberPercentage:
        n = 100.0 * ratio(count(s.main), count(s.rel));
        break;
      case Category::kCurrentRelativeTimePercentage:
        n = 100.0 * ratio(time_ms(s.main), time_ms(s.rel));
        break;
      default: break;
    }
    return NumberValue(n, 0, t);
  }
  if (L.Derived(node, slot)) {
    // A group's statistic read as the merge of its members' accumulators of the same entry.
    StatTotals total;
    ForMemberSlots(T, node, slot, [&](Node& member, std::uint16_t member_slot) {
      StatRef m = SlotRef(T.LayoutOf(member), member, member_slot);
      m.Advance(t);
      total.Merge(m.Totals(t));
    });
    return NumberValue(StatRef::Formula(*s.shape, total, t),
                       StatRef::IntervalLength(*s.shape, total, t), t);
  }
  StatRef stat = SlotRef(L, node, slot);
  stat.Advance(t);
  return NumberValue(stat.Number(t), stat.IntervalLengthSeconds(t), t);
}

StatValue Engine::Impl::AdHocValue(AdHoc& a, TimeMs t) {
  const Definition& def = a.Def();
  if (def.IsStateTree()) return TreeValue(*a.tenant, *a.node, def, t);
  StatRef stat = a.Stat();
  stat.Advance(t);
  return NumberValue(stat.Number(t), stat.IntervalLengthSeconds(t), t);
}

namespace {

// The value a Reset notification sends: the ended interval's final value and length.
StatValue Closed(StatValue v, const ResetMemo& memo) {
  v.number = std::round(memo.value * 1000.0) / 1000.0;
  v.int_value = static_cast<std::int64_t>(std::llround(v.number));
  v.string_value = FormatNumber(v.number);
  v.interval_length_s = memo.interval_s;
  return v;
}

}  // namespace

StatValue Engine::Impl::CatalogSource::ValueAt(TimeMs t) {
  return SlotValue(*tenant, *node, slot, t);
}

void Engine::Impl::CatalogSource::AdvanceTo(TimeMs t) {
  const Layout& L = tenant->LayoutOf(*node);
  if (!L.Derived(*node, slot)) {
    SlotRef(L, *node, slot).Advance(t);
    return;
  }
  ForMemberSlots(*tenant, *node, slot, [&](Node& member, std::uint16_t member_slot) {
    SlotRef(tenant->LayoutOf(member), member, member_slot).Advance(t);
  });
}

// The accumulator whose windows a catalog statistic follows: its own, or (derived) its first
// member's — the members' windows are the same.
template <typename Fn>
std::optional<TimeMs> Engine::Impl::CatalogSource::OfWindow(Fn&& fn) const {
  const Layout& L = tenant->LayoutOf(*node);
  if (!L.slots[slot].Stateful()) return std::nullopt;
  if (!L.Derived(*node, slot)) return fn(SlotRef(L, *node, slot));
  std::optional<TimeMs> out;
  bool first = true;
  ForMemberSlots(*tenant, *node, slot, [&](Node& member, std::uint16_t member_slot) {
    if (first) out = fn(SlotRef(tenant->LayoutOf(member), member, member_slot));
    first = false;
  });
  return out;
}

std::optional<TimeMs> Engine::Impl::CatalogSource::LastResetAt() const {
  return OfWindow([](StatRef r) { return r.LastResetTime(); });
}

std::optional<TimeMs> Engine::Impl::CatalogSource::NextBoundary() const {
  return OfWindow([](StatRef r) { return r.NextBoundary(); });
}

StatValue Engine::Impl::CatalogSource::ClosedIntervalValue(TimeMs t) {
  return Closed(ValueAt(t), memo);
}

TimeMs Engine::Impl::CatalogSource::Now() const { return tenant->now; }

StatValue Engine::Impl::AdHoc::ValueAt(TimeMs t) { return AdHocValue(*this, t); }

StatValue Engine::Impl::AdHoc::ClosedIntervalValue(TimeMs t) {
  const ResetMemo* memo = Memo();
  return Closed(AdHocValue(*this, t), memo != nullptr ? *memo : ResetMemo{});
}

TimeMs Engine::Impl::AdHoc::Now() const { return tenant->now; }

}  // namespace tally::stats
