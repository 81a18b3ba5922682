// Catalog layouts: for each object type of a tenant, where every applicable catalog statistic
// lives in an object's block and which of them a change reaches (the subject plans, shared by all
// objects of the type); giving an object its block; ad-hoc statistics listening on an object;
// replaying the current state of the objects into new statistics; the status ledgers.
// Threading: single-threaded (Engine::Impl).
#include <bit>

#include "stats/engine_impl.h"

namespace tally::stats {

bool Engine::Impl::AppliesTo(const Definition& def, ObjectType type) {
  if (!def.objects.empty() &&
      std::find(def.objects.begin(), def.objects.end(), type) == def.objects.end()) {
    return false;
  }
  return static_cast<bool>(CheckApplicable(def, type));
}

bool Engine::Impl::UsesLedger(const Definition& def) {
  if (def.subject == Subject::kDNAction || def.filter) return false;
  switch (def.category) {
    case Category::kCurrentNumber:
    case Category::kCurrentTime:
    case Category::kCurrentAverageTime:
    case Category::kCurrentRelativeNumberPercentage:
    case Category::kCurrentRelativeTimePercentage: return true;
    default: return false;
  }
}

void Engine::Impl::ParseCatalogFor(Tenant& T) {
  T.catalog_defs.clear();
  for (const CatalogEntry& e : catalog) {
    auto def = ParseDefinition(e.fields, T.zone);
    // Validated in SetCatalog already; a zone cannot make it fail.
    T.catalog_defs.push_back(def ? std::make_shared<const Definition>(std::move(*def)) : nullptr);
  }
  for (int k = 0; k < kObjectTypeCount; ++k) {
    BuildLayout(T, static_cast<ObjectType>(k), T.layouts[static_cast<size_t>(k)]);
  }
}

void Engine::Impl::BuildLayout(const Tenant& T, ObjectType type, Layout& L) {
  L = Layout{};
  L.slot_of.assign(T.catalog_defs.size(), -1);
  std::uint32_t words = 0;
  for (size_t j = 0; j < T.catalog_defs.size(); ++j) {
    const auto& def = T.catalog_defs[j];
    if (!def || !AppliesTo(*def, type)) continue;
    Slot s;
    s.catalog = static_cast<int>(j);
    s.subject = def->subject;
    s.shape = std::make_shared<const Shape>(def, IsOneUnit(type, def->subject));
    const bool actions = def->subject == Subject::kDNAction;
    s.main = actions ? def->main.actions : def->main.statuses;
    s.rel = !def->rel ? 0u : actions ? def->rel->actions : def->rel->statuses;
    s.kind = def->IsStateTree() ? Slot::Kind::kTree
             : def->filter      ? Slot::Kind::kFiltered
             : UsesLedger(*def) ? Slot::Kind::kLedger
                                : Slot::Kind::kKeyed;
    if (s.Stateful()) {
      s.offset = words;
      words += s.shape->Words();
    }
    if (def->interval == IntervalType::kSinceLogin && s.shape->History()) {
      L.since_login.push_back(SlotIndex(L.slots.size()));
    }
    L.slot_of[j] = static_cast<int>(L.slots.size());
    L.slots.push_back(std::move(s));
  }
  // Groups: which statistics can be read from their members'.
  L.derivable.assign(L.slots.size(), false);
  std::vector<ObjectType> member_types;
  if (type == ObjectType::kGroupAgents) member_types = {ObjectType::kAgent};
  if (type == ObjectType::kGroupPlaces) member_types = {ObjectType::kPlace};
  if (type == ObjectType::kGroupQueues)
    member_types = {ObjectType::kQueue, ObjectType::kRoutePoint};
  for (size_t i = 0; i < L.slots.size(); ++i) {
    const Slot& s = L.slots[i];
    bool ok = !member_types.empty() && Derivable(s.shape->Def()) &&
              (s.kind == Slot::Kind::kKeyed || s.kind == Slot::Kind::kFiltered);
    for (ObjectType m : member_types) {
      ok = ok && T.layouts[static_cast<size_t>(m)].slot_of[static_cast<size_t>(s.catalog)] >= 0;
    }
    L.derivable[i] = ok;
  }
  for (const bool derived : {false, true}) {
    auto& plans = derived ? L.derived_plans : L.plans;
    for (size_t i = 0; i < L.slots.size(); ++i) {
      const Slot& s = L.slots[i];
      SubjectPlan& p = plans[static_cast<int>(s.subject)];
      const auto slot = SlotIndex(i);
      const bool mark_only = s.kind == Slot::Kind::kLedger || (derived && L.derivable[i]);
      const Keyed k{s.main, s.rel, slot, s.shape->TracksCurrent()};
      switch (s.kind) {
        case Slot::Kind::kTree: p.trees.push_back(slot); break;
        case Slot::Kind::kFiltered: (mark_only ? p.trees : p.filtered).push_back(slot); break;
        case Slot::Kind::kLedger:
        case Slot::Kind::kKeyed: (mark_only ? p.marked : p.keyed).push_back(k); break;
      }
      if (s.kind != Slot::Kind::kKeyed || s.subject != Subject::kDNAction) continue;
      // DNAction: which unfiltered statistics an action of each kind reaches, in slot order. A
      // historical DNAction statistic learns of an action when it ends (its start comes with
      // it); a current one has nothing to do with an instantaneous action: both are only marked.
      const bool history = s.shape->History();
      for (int a = 0; a < kActionCount; ++a) {
        if (((s.main | s.rel) >> a & 1u) == 0) continue;
        (mark_only || !k.current ? p.mark_start : p.on_start)[a].push_back(slot);
        (mark_only ? p.mark_end : p.on_end)[a].push_back(slot);
        (mark_only || !history ? p.mark_instant : p.on_instant)[a].push_back(slot);
      }
    }
  }
  for (size_t i = 0; i < L.slots.size(); ++i) {
    const Slot& s = L.slots[i];
    SubjectPlan& p = L.plans[static_cast<int>(s.subject)];
    if (s.kind == Slot::Kind::kLedger && !p.ledger && !IsOneUnit(type, s.subject)) {
      p.ledger = true;
      p.ledger_offset = words;
      words += kLedgerWords;
      L.derived_plans[static_cast<int>(s.subject)].ledger = true;
      L.derived_plans[static_cast<int>(s.subject)].ledger_offset = p.ledger_offset;
    }
  }
  for (auto* plans : {&L.plans, &L.derived_plans}) {
    for (SubjectPlan& p : *plans) p.calls = !p.filtered.empty() || !p.keyed.empty() || p.ledger;
  }
  L.words = words;
}

bool Engine::Impl::Derivable(const Definition& def) {
  // Max/MinNumber are extremes of the group's own count (not of its members'); a Reset
  // notification needs the interval's value before the reset, which members do not keep;
  // sliding and selection windows stay per object.
  if (def.IsStateTree() || def.mode == NotificationMode::kReset) return false;
  switch (def.category) {
    case Category::kMaxNumber:
    case Category::kMinNumber:
    case Category::kCurrentContinuousTime: return false;
    default: break;
  }
  return def.IsCurrent() || def.interval == IntervalType::kGrowingWindow;
}

bool Engine::Impl::CanDerive(const Tenant& T, const Node& group) const {
  if (group.type != ObjectType::kGroupAgents && group.type != ObjectType::kGroupPlaces &&
      group.type != ObjectType::kGroupQueues) {
    return false;
  }
  const Group& g = *T.groups[static_cast<size_t>(group.index)];
  if (g.members.empty()) return false;
  for (int m : g.members) {
    const Node& member = group.type == ObjectType::kGroupAgents   ? T.agents[m]->node
                         : group.type == ObjectType::kGroupPlaces ? T.places[m]->node
                                                                  : T.queues[m]->node;
    if (member.created != group.created) return false;
  }
  return true;
}

void Engine::Impl::InstantiateCatalog(Tenant& T, Node& node, TimeMs t, bool replay) {
  const Layout& L = T.LayoutOf(node);
  node.block = std::make_unique<std::uint64_t[]>(std::max<std::uint32_t>(1, L.words));
  node.created = t;
  if (replay) node.derive = CanDerive(T, node);
  std::vector<std::uint16_t> fresh;
  for (size_t i = 0; i < L.slots.size(); ++i) {
    const Slot& s = L.slots[i];
    if (s.Stateful()) {
      s.shape->Init(node.block.get() + s.offset, t);
      if (!L.Derived(node, SlotIndex(i))) fresh.push_back(SlotIndex(i));
    }
    if (L.Derived(node, SlotIndex(i))) ++counters.derived_statistics;
  }
  counters.catalog_statistics += L.slots.size();
  if (replay) ReplayCatalog(T, node, fresh, true, t);
  if (replay && on_object_created) on_object_created();
}

void Engine::Impl::ReplayCatalog(Tenant& T, Node& node, const std::vector<std::uint16_t>& fresh,
                                 bool ledgers, TimeMs t) {
  const Layout& L = T.LayoutOf(node);
  for (int si = 0; si < 5; ++si) {
    const auto subject = static_cast<Subject>(si);
    const SubjectPlan& p = L.plans[static_cast<size_t>(si)];
    const bool ledger = ledgers && p.ledger;
    std::vector<StatRef> stats;
    for (std::uint16_t slot : fresh) {
      if (L.slots[slot].subject == subject) stats.push_back(SlotRef(L, node, slot));
    }
    if (stats.empty() && !ledger) continue;
    if (subject == Subject::kDNAction) {
      ForEachOngoingAction(T, node, [&](const ActionRec& r) {
        for (StatRef& s : stats) s.OnActionStart(r.key, r.kind, r.start, *r.attrs, t);
      });
      continue;
    }
    const LedgerRef into{node.block.get() + p.ledger_offset};
    if (ledger) std::fill(into.w, into.w + kLedgerWords, 0);
    ForEachUnit(T, node, subject, [&](std::uint64_t unit, const UnitStatus& now) {
      if (ledger) into.Add(now, +1);
      for (StatRef& s : stats) s.OnStatus(unit, {}, now, t);
    });
  }
}

void Engine::Impl::DestroyBlock(const Layout& L, Node& node) {
  if (!node.block) return;
  for (const Slot& s : L.slots) {
    if (s.Stateful()) s.shape->Destroy(node.block.get() + s.offset);
  }
  node.block.reset();
}

Engine::Impl::AdHocDef::AdHocDef(KeyValues kv, const date::time_zone* z, ObjectType t,
                                 const std::shared_ptr<const Definition>& def)
    : fields(std::move(kv)), zone(z), type(t), shape(def, IsOneUnit(t, def->subject)) {
  const bool actions = def->subject == Subject::kDNAction;
  main = actions ? def->main.actions : def->main.statuses;
  rel = !def->rel ? 0u : actions ? def->rel->actions : def->rel->statuses;
  tree = def->IsStateTree();
  filtered = def->filter != nullptr;
  reset_memo = def->mode == NotificationMode::kReset;
}

auto Engine::Impl::MakeAdHoc(std::shared_ptr<const AdHocDef> def, TimeMs created, Tenant* t,
                             Node* n) -> AdHocPtr {
  static_assert(sizeof(AdHoc) % alignof(std::uint64_t) == 0);
  const size_t words = def->shape.Words() + (def->reset_memo ? 2 : 0);
  void* raw = ::operator new(sizeof(AdHoc) + words * sizeof(std::uint64_t));
  AdHocPtr a(new (raw) AdHoc(std::move(def), t, n));
  a->def->shape.Init(a->Words(), created);
  if (ResetMemo* memo = a->Memo()) new (memo) ResetMemo();
  return a;
}

void Engine::Impl::AdHocDeleter::operator()(AdHoc* a) const {
  a->def->shape.Destroy(a->Words());
  a->~AdHoc();
  ::operator delete(a);
}

void Engine::Impl::Register(AdHoc& a, TimeMs t, bool replay) {
  const Definition& def = a.Def();
  a.node->Extras().adhoc[static_cast<int>(def.subject)].push_back(&a);
  if (replay) Replay(*a.tenant, *a.node, a.Stat(), def.subject, t);
}

void Engine::Impl::Unregister(AdHoc& a) {
  auto& list = a.node->Extras().adhoc[static_cast<int>(a.Def().subject)];
  list.erase(std::remove(list.begin(), list.end(), &a), list.end());
  notifier.Forget(a);
}

std::int64_t Engine::Impl::LedgerCount(const Node& n, Subject s, std::uint32_t off,
                                       std::uint32_t mask) {
  if (IsOneUnit(n.type, s)) return (mask >> static_cast<int>(n.status)) & 1u;
  const LedgerRef l{n.block.get() + off};
  std::int64_t count = 0;
  for (std::uint32_t m = mask; m != 0; m &= m - 1) count += l.Count()[std::countr_zero(m)];
  return count;
}

double Engine::Impl::LedgerTimeMs(const Node& n, Subject s, std::uint32_t off, std::uint32_t mask,
                                  TimeMs now) {
  if (IsOneUnit(n.type, s)) {
    return ((mask >> static_cast<int>(n.status)) & 1u) != 0
               ? static_cast<double>(now - n.status_start)
               : 0.0;
  }
  const LedgerRef l{n.block.get() + off};
  std::int64_t ms = 0;
  for (std::uint32_t m = mask; m != 0; m &= m - 1) {
    const int st = std::countr_zero(m);
    ms += l.Count()[st] * now - l.StartSum()[st];
  }
  return static_cast<double>(ms);
}

void Engine::Impl::ForEachUnit(Tenant& T, Node& node, Subject subject,
                               const std::function<void(std::uint64_t, const UnitStatus&)>& fn) {
  auto dn_status = [&](Dn& d) { fn(kDnUnit | d.node.index, d.node.Unit()); };
  auto agent_status = [&](Agent& a) { fn(kAgentUnit | a.node.index, a.node.Unit()); };
  auto place_status = [&](Place& p) { fn(kPlaceUnit | p.node.index, p.node.Unit()); };
  auto agent_units = [&](Agent& a) {
    if (subject == Subject::kAgentStatus) agent_status(a);
    if (subject == Subject::kDNStatus) {
      for (int di : a.dns) dn_status(*T.dns[di]);
    }
  };
  auto place_units = [&](Place& p) {
    if (subject == Subject::kPlaceStatus) place_status(p);
    if (subject == Subject::kDNStatus) {
      for (int di : p.dns) dn_status(*T.dns[di]);
    }
  };
  switch (node.type) {
    case ObjectType::kRegDN:
      if (subject == Subject::kDNStatus) dn_status(*T.dns[node.index]);
      break;
    case ObjectType::kAgent: agent_units(*T.agents[node.index]); break;
    case ObjectType::kPlace: place_units(*T.places[node.index]); break;
    case ObjectType::kGroupAgents:
    case ObjectType::kGroupPlaces: {
      Group& g = *T.groups[node.index];
      if (subject == Subject::kGroupStatus) fn(kGroupUnit | g.node.index, g.node.Unit());
      for (int m : g.members) {
        if (node.type == ObjectType::kGroupAgents) {
          agent_units(*T.agents[m]);
        } else {
          place_units(*T.places[m]);
        }
      }
      break;
    }
    case ObjectType::kTenant:
      if (subject == Subject::kDNStatus) {
        for (auto& d : T.dns) dn_status(*d);
      }
      if (subject == Subject::kAgentStatus) {
        for (auto& a : T.agents) agent_status(*a);
      }
      if (subject == Subject::kPlaceStatus) {
        for (auto& p : T.places) place_status(*p);
      }
      break;
    default: break;
  }
}

void Engine::Impl::ForEachOngoingAction(Tenant& T, Node& node,
                                        const std::function<void(const ActionRec&)>& fn) {
  auto dn_actions = [&](Dn& d, int agent) { ForOngoingDnActions(d, agent, fn); };
  auto queue_actions = [&](Queue& q) {
    for (auto& [conn, r] : q.waiting) fn(r);
  };
  switch (node.type) {
    case ObjectType::kRegDN: dn_actions(*T.dns[node.index], -1); break;
    case ObjectType::kAgent: {
      Agent& a = *T.agents[node.index];
      for (int di : a.dns) dn_actions(*T.dns[di], a.node.index);
      break;
    }
    case ObjectType::kPlace:
      for (int di : T.places[node.index]->dns) dn_actions(*T.dns[di], -1);
      break;
    case ObjectType::kGroupAgents:
      for (int m : T.groups[node.index]->members) {
        Agent& a = *T.agents[m];
        for (int di : a.dns) dn_actions(*T.dns[di], a.node.index);
      }
      break;
    case ObjectType::kGroupPlaces:
      for (int m : T.groups[node.index]->members) {
        for (int di : T.places[m]->dns) dn_actions(*T.dns[di], -1);
      }
      break;
    case ObjectType::kQueue:
    case ObjectType::kRoutePoint: queue_actions(*T.queues[node.index]); break;
    case ObjectType::kGroupQueues:
      for (int m : T.groups[node.index]->members) queue_actions(*T.queues[m]);
      break;
    case ObjectType::kTenant:
      for (auto& d : T.dns) dn_actions(*d, -1);
      for (auto& q : T.queues) queue_actions(*q);
      break;
  }
}

void Engine::Impl::Replay(Tenant& T, Node& node, StatRef stat, Subject subject, TimeMs t) {
  if (subject == Subject::kDNAction) {
    ForEachOngoingAction(T, node, [&](const ActionRec& r) {
      stat.OnActionStart(r.key, r.kind, r.start, *r.attrs, t);
    });
    return;
  }
  ForEachUnit(T, node, subject,
              [&](std::uint64_t unit, const UnitStatus& now) { stat.OnStatus(unit, {}, now, t); });
}

}  // namespace tally::stats
