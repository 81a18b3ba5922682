// The object model: creating and finding objects, propagating actions and statuses to the
// statistics of every object that sees them, deriving DN, agent, place and group statuses, and
// the configured objects of a tenant.
// Threading: single-threaded (Engine::Impl).
#include "stats/engine_impl.h"

namespace tally::stats {

auto Engine::Impl::GetOrCreateTenant(const std::string& name, TimeMs t) -> Tenant& {
  auto it = tenant_by_name.find(name);
  if (it != tenant_by_name.end()) return *it->second;
  auto tenant = std::make_unique<Tenant>();
  tenant->name = name;
  tenant->now = t;
  tenant->node.type = ObjectType::kTenant;
  tenant->node.id = name;
  Tenant* raw = tenant.get();
  raw->clock = static_cast<int>(tenants.size());
  tenants.push_back(std::move(tenant));
  tenant_by_name[name] = raw;
  ParseCatalogFor(*raw);
  InstantiateCatalog(*raw, raw->node, t);
  return *raw;
}

template <typename Object, typename Map, typename Key, typename Init>
Object& Engine::Impl::GetOrCreate(std::vector<std::unique_ptr<Object>>& all, Map& by_key,
                                  const Key& key, ObjectType type, std::string id, TimeMs t,
                                  Init&& init) {
  auto it = by_key.find(key);
  if (it != by_key.end()) return *all[it->second];
  auto made = std::make_unique<Object>();
  made->node.type = type;
  made->node.id = std::move(id);
  made->node.index = static_cast<int>(all.size());
  made->node.status_start = t;
  by_key[key] = made->node.index;
  all.push_back(std::move(made));
  Object& object = *all.back();
  ++counters.objects;
  init(object);
  return object;
}

auto Engine::Impl::GetOrCreateDn(Tenant& T, const std::string& number, const std::string& sw,
                                 TimeMs t) -> Dn& {
  std::string key = number + "@" + sw;
  return GetOrCreate(T.dns, T.dn_by_key, key, ObjectType::kRegDN, key, t, [&](Dn& d) {
    d.node.status = Status::kMonitored;
    d.number = number;
    d.switch_id = sw;
    T.where[d.node.id].dn = d.node.index;
    ++T.where_version;
    T.dn_keys_by_number[number].push_back(d.node.id);
    InstantiateCatalog(T, d.node, t);
    // The tenant sees a new DN unit.
    EmitStatus(T, T.node, Subject::kDNStatus, kDnUnit | d.node.index, {}, d.node.Unit(), t);
  });
}

auto Engine::Impl::GetOrCreateAgent(Tenant& T, const std::string& id, TimeMs t) -> Agent& {
  return GetOrCreate(T.agents, T.agent_by_id, id, ObjectType::kAgent, id, t, [&](Agent& a) {
    InstantiateCatalog(T, a.node, t);
    EmitStatus(T, T.node, Subject::kAgentStatus, kAgentUnit | a.node.index, {}, a.node.Unit(), t);
  });
}

auto Engine::Impl::GetOrCreatePlace(Tenant& T, const std::string& id, TimeMs t) -> Place& {
  return GetOrCreate(T.places, T.place_by_id, id, ObjectType::kPlace, id, t, [&](Place& p) {
    InstantiateCatalog(T, p.node, t);
    EmitStatus(T, T.node, Subject::kPlaceStatus, kPlaceUnit | p.node.index, {}, p.node.Unit(), t);
  });
}

auto Engine::Impl::GetOrCreateQueue(Tenant& T, const std::string& number, const std::string& sw,
                                    ObjectType type, TimeMs t) -> Queue& {
  std::string key = number + "@" + sw;
  return GetOrCreate(T.queues, T.queue_by_key, key, type, key, t, [&](Queue& q) {
    q.number = number;
    q.switch_id = sw;
    T.where[q.node.id].queue = q.node.index;
    ++T.where_version;
    T.queue_keys_by_number[number].push_back(q.node.id);
    InstantiateCatalog(T, q.node, t);
  });
}

auto Engine::Impl::GetOrCreateGroup(Tenant& T, ObjectType type, const std::string& name, TimeMs t)
    -> Group& {
  // The caller instantiates the group's catalog once its members are in.
  return GetOrCreate(T.groups, T.group_by_name, std::make_pair(static_cast<int>(type), name), type,
                     name, t, [](Group&) {});
}

std::pair<std::string, std::string> Engine::Impl::SplitDn(const std::string& id) {
  const size_t at = id.find('@');
  if (at == std::string::npos) return {id, "default"};
  return {id.substr(0, at), id.substr(at + 1)};
}

const int* Engine::Impl::FindByNumber(const StringMap<int>& by_key,
                                      const StringMap<std::vector<std::string>>& by_number,
                                      const std::string& id) {
  auto it = by_key.find(id);
  if (it != by_key.end()) return &it->second;
  if (id.find('@') == std::string::npos) {
    it = by_key.find(id + "@default");
    if (it != by_key.end()) return &it->second;
    auto n = by_number.find(id);
    if (n != by_number.end() && n->second.size() == 1) {
      it = by_key.find(n->second[0]);
      if (it != by_key.end()) return &it->second;
    }
  }
  return nullptr;
}

auto Engine::Impl::FindNode(Tenant& T, const ObjectRef& ref) -> Result<Node*> {
  auto missing = [&]() -> Result<Node*> {
    return Error{Errc::kNotFound, "object " + std::string(ObjectTypeName(ref.type)) + " '" +
                                      ref.id + "' does not exist in this tenant"};
  };
  switch (ref.type) {
    case ObjectType::kAgent: {
      auto it = T.agent_by_id.find(ref.id);
      if (it == T.agent_by_id.end()) return missing();
      return &T.agents[it->second]->node;
    }
    case ObjectType::kPlace: {
      auto it = T.place_by_id.find(ref.id);
      if (it == T.place_by_id.end()) return missing();
      return &T.places[it->second]->node;
    }
    case ObjectType::kRegDN: {
      const int* i = FindByNumber(T.dn_by_key, T.dn_keys_by_number, ref.id);
      if (i == nullptr) return missing();
      return &T.dns[*i]->node;
    }
    case ObjectType::kQueue:
    case ObjectType::kRoutePoint: {
      const int* i = FindByNumber(T.queue_by_key, T.queue_keys_by_number, ref.id);
      if (i == nullptr || T.queues[*i]->node.type != ref.type) return missing();
      return &T.queues[*i]->node;
    }
    case ObjectType::kGroupAgents:
    case ObjectType::kGroupPlaces:
    case ObjectType::kGroupQueues: {
      auto it = T.group_by_name.find({static_cast<int>(ref.type), ref.id});
      if (it == T.group_by_name.end()) return missing();
      return &T.groups[it->second]->node;
    }
    case ObjectType::kTenant:
      if (!ref.id.empty() && ref.id != T.name) return missing();
      return &T.node;
  }
  return missing();
}

void Engine::Impl::EmitStatusTo(Tenant& T, Node& node, Subject subject, std::uint64_t unit,
                                const UnitStatus& before, const UnitStatus& after, TimeMs t) {
  const Layout& L = T.LayoutOf(node);
  const SubjectPlan& p = L.PlanFor(node, subject);
  NodeExtras* x = node.extras.get();
  auto call = [&](std::uint16_t slot) {
    StatRef s = SlotRef(L, node, slot);
    s.Advance(t);
    s.OnStatus(unit, before, after, t);
    MarkSlot(x, slot);
  };
  if (x != nullptr) {
    for (std::uint16_t slot : p.trees) MarkSlot(x, slot);
  }
  for (std::uint16_t slot : p.filtered) call(slot);
  const bool same = before.present && after.present && before.status == after.status &&
                    before.start == after.start;
  // Each statistic whose mask has the old or the new status is called once — or only marked
  // dirty when nothing it keeps changes: a unit moving between two statuses of the same side
  // changes no episode, and only statistics keeping the current set see the new status start.
  const std::uint32_t ob = before.present ? 1u << static_cast<int>(before.status) : 0u;
  const std::uint32_t nb = after.present ? 1u << static_cast<int>(after.status) : 0u;
  auto moves = [&](std::uint32_t main, std::uint32_t rel) {
    return ((main & ob) == 0) != ((main & nb) == 0) || ((rel & ob) == 0) != ((rel & nb) == 0);
  };
  if (!same) {  // (only the data changed: only filtered statistics can care)
    if (p.ledger) {
      const LedgerRef ledger{node.block.get() + p.ledger_offset};
      ledger.Add(before, -1);
      ledger.Add(after, +1);
    }
    for (const Keyed& k : p.keyed) {
      if (((k.main | k.rel) & (ob | nb)) == 0) continue;
      if (k.current || moves(k.main, k.rel)) {
        call(k.slot);
      } else {
        MarkSlot(x, k.slot);
      }
    }
    if (x != nullptr) {
      for (const Keyed& k : p.marked) {
        if (((k.main | k.rel) & (ob | nb)) != 0) MarkSlot(x, k.slot);
      }
    }
  }
  if (x == nullptr) return;
  for (AdHoc* a : x->adhoc[static_cast<int>(subject)]) {
    if (a->def->tree) {
      MarkDirty(a);
      continue;
    }
    if (!a->def->filtered) {
      if (same || ((a->def->main | a->def->rel) & (ob | nb)) == 0) continue;
      if (!a->def->shape.TracksCurrent() && !moves(a->def->main, a->def->rel)) {
        MarkDirty(a);
        continue;
      }
    }
    a->Stat().Advance(t);
    a->Stat().OnStatus(unit, before, after, t);
    MarkDirty(a);
  }
}

void Engine::Impl::ActionStarted(Tenant& T, NodeList& nodes, const ActionRec& r, TimeMs t) {
  const int kind = static_cast<int>(r.kind);
  for (Node* n : nodes) {
    const Layout& L = T.LayoutOf(*n);
    const SubjectPlan& p = L.PlanFor(*n, Subject::kDNAction);
    NodeExtras* x = n->extras.get();
    if (x != nullptr) {
      for (std::uint16_t slot : p.trees) MarkSlot(x, slot);
      for (std::uint16_t slot : p.mark_start[kind]) MarkSlot(x, slot);
    }
    auto call = [&](std::uint16_t slot) {
      StatRef s = SlotRef(L, *n, slot);
      s.Advance(t);
      s.OnActionStart(r.key, r.kind, r.start, *r.attrs, t);
      MarkSlot(x, slot);
    };
    for (std::uint16_t slot : p.filtered) call(slot);
    for (std::uint16_t slot : p.on_start[kind]) call(slot);
    if (x == nullptr) continue;
    for (AdHoc* a : x->adhoc[static_cast<int>(Subject::kDNAction)]) {
      // A historical DNAction statistic learns of an action when it ends (its start comes with
      // it); state trees only show it.
      const bool sees = a->def->filtered || ((a->def->main | a->def->rel) >> kind & 1u) != 0;
      if (a->def->tree || (sees && !a->def->filtered && !a->def->shape.TracksCurrent())) {
        MarkDirty(a);
        continue;
      }
      if (!sees) continue;
      a->Stat().Advance(t);
      a->Stat().OnActionStart(r.key, r.kind, r.start, *r.attrs, t);
      MarkDirty(a);
    }
  }
}

void Engine::Impl::ActionEnded(Tenant& T, NodeList& nodes, const ActionRec& r, TimeMs t) {
  const int kind = static_cast<int>(r.kind);
  for (Node* n : nodes) {
    const Layout& L = T.LayoutOf(*n);
    const SubjectPlan& p = L.PlanFor(*n, Subject::kDNAction);
    NodeExtras* x = n->extras.get();
    if (x != nullptr) {
      for (std::uint16_t slot : p.trees) MarkSlot(x, slot);
      for (std::uint16_t slot : p.mark_end[kind]) MarkSlot(x, slot);
    }
    auto call = [&](std::uint16_t slot) {
      StatRef s = SlotRef(L, *n, slot);
      s.Advance(t);
      s.OnActionEnd(r.key, r.kind, r.start, *r.attrs, t);
      MarkSlot(x, slot);
    };
    for (std::uint16_t slot : p.filtered) call(slot);
    for (std::uint16_t slot : p.on_end[kind]) call(slot);
    if (x == nullptr) continue;
    for (AdHoc* a : x->adhoc[static_cast<int>(Subject::kDNAction)]) {
      if (a->def->tree) {
        MarkDirty(a);
        continue;
      }
      if (!a->def->filtered && ((a->def->main | a->def->rel) >> kind & 1u) == 0) continue;
      a->Stat().Advance(t);
      a->Stat().OnActionEnd(r.key, r.kind, r.start, *r.attrs, t);
      MarkDirty(a);
    }
  }
}

void Engine::Impl::ActionInstant(Tenant& T, NodeList& nodes, Action kind, TimeMs duration,
                                 const Attributes& attrs, TimeMs t) {
  const int k = static_cast<int>(kind);
  for (Node* n : nodes) {
    const Layout& L = T.LayoutOf(*n);
    const SubjectPlan& p = L.PlanFor(*n, Subject::kDNAction);
    NodeExtras* x = n->extras.get();
    if (x != nullptr) {
      for (std::uint16_t slot : p.trees) MarkSlot(x, slot);
      // Current statistics only see that something happened.
      for (std::uint16_t slot : p.mark_instant[k]) MarkSlot(x, slot);
    }
    auto call = [&](std::uint16_t slot) {
      StatRef s = SlotRef(L, *n, slot);
      s.Advance(t);
      s.OnInstant(kind, duration, attrs, t);
      MarkSlot(x, slot);
    };
    for (std::uint16_t slot : p.filtered) call(slot);
    for (std::uint16_t slot : p.on_instant[k]) call(slot);
    if (x == nullptr) continue;
    for (AdHoc* a : x->adhoc[static_cast<int>(Subject::kDNAction)]) {
      if (a->def->tree) {
        MarkDirty(a);
        continue;
      }
      if (!a->def->filtered && ((a->def->main | a->def->rel) >> k & 1u) == 0) continue;
      a->Stat().Advance(t);
      a->Stat().OnInstant(kind, duration, attrs, t);
      MarkDirty(a);
    }
  }
}

void Engine::Impl::ActionAttrsChanged(Tenant& T, NodeList& nodes, const ActionRec& r,
                                      const Attributes& before, TimeMs t) {
  // Unfiltered statistics ignore data changes; state trees show them.
  for (Node* n : nodes) {
    const Layout& L = T.LayoutOf(*n);
    const SubjectPlan& p = L.PlanFor(*n, Subject::kDNAction);
    NodeExtras* x = n->extras.get();
    if (x != nullptr) {
      for (std::uint16_t slot : p.trees) MarkSlot(x, slot);
    }
    for (std::uint16_t slot : p.filtered) {
      StatRef s = SlotRef(L, *n, slot);
      s.Advance(t);
      s.OnActionAttrs(r.key, r.kind, r.start, before, *r.attrs, t);
      MarkSlot(x, slot);
    }
    if (x == nullptr) continue;
    for (AdHoc* a : x->adhoc[static_cast<int>(Subject::kDNAction)]) {
      if (a->def->tree) {
        MarkDirty(a);
      } else if (a->def->filtered) {
        a->Stat().Advance(t);
        a->Stat().OnActionAttrs(r.key, r.kind, r.start, before, *r.attrs, t);
        MarkDirty(a);
      }
    }
  }
}

auto Engine::Impl::DnNodes(Tenant& T, Dn& d, int agent) -> NodeList {
  NodeList nodes;
  ForDnActionNodes(T, d, agent, [&](Node& n) { nodes.push_back(&n); });
  return nodes;
}

auto Engine::Impl::QueueNodes(Tenant& T, Queue& q) -> NodeList {
  NodeList nodes;
  ForQueueNodes(T, q, [&](Node& n) { nodes.push_back(&n); });
  return nodes;
}

auto Engine::Impl::StartDnAction(Tenant& T, Dn& d, Action kind, AttributesPtr attrs, TimeMs t)
    -> ActionRec {
  ActionRec r{T.next_key++, kind, t, std::move(attrs), d.agent};
  auto nodes = DnNodes(T, d, r.agent);
  ActionStarted(T, nodes, r, t);
  return r;
}

void Engine::Impl::EndDnAction(Tenant& T, Dn& d, const ActionRec& r, TimeMs t) {
  auto nodes = DnNodes(T, d, r.agent);
  ActionEnded(T, nodes, r, t);
}

void Engine::Impl::DnInstant(Tenant& T, Dn& d, Action kind, TimeMs duration,
                             const Attributes& attrs, TimeMs t) {
  auto nodes = DnNodes(T, d, d.agent);
  ActionInstant(T, nodes, kind, duration, attrs, t);
}

auto Engine::Impl::ComputeDnStatus(const Dn& d) -> StatusInfo {
  if (!d.monitored) return {Status::kNotMonitored, nullptr};
  StatusInfo best{Status::kMonitored, nullptr};
  auto consider = [&](Status s, const AttributesPtr& a) {
    if (s > best.status) best = {s, a};
  };
  if (d.logged_in) consider(Status::kLoggedIn, d.logged_in->attrs);
  if (d.mode) consider(*StatusOfAction(d.mode->kind), d.mode->attrs);
  if (d.hook) consider(*StatusOfAction(d.hook->kind), d.hook->attrs);
  for (const Call& c : d.calls) {
    if (c.hold) {
      consider(Status::kCallOnHold, c.attrs);  // the held call's own status is hidden
    } else {
      consider(*StatusOfAction(c.main.kind), c.attrs);
    }
  }
  return best;
}

void Engine::Impl::UpdateDn(Tenant& T, Dn& d, TimeMs t) {
  StatusInfo now_info = ComputeDnStatus(d);
  Node& n = d.node;
  if (now_info.status == n.status && now_info.attrs == n.status_attrs) return;
  const AttributesPtr old_attrs = n.status_attrs;
  const UnitStatus before{true, n.status, n.status_start, old_attrs.get()};
  if (now_info.status != n.status) n.status_start = t;
  n.status = now_info.status;
  n.status_attrs = now_info.attrs;
  const UnitStatus after = n.Unit();
  const std::uint64_t unit = kDnUnit | static_cast<std::uint64_t>(n.index);
  EmitStatus(T, n, Subject::kDNStatus, unit, before, after, t);
  if (d.place >= 0) {
    Place& p = *T.places[d.place];
    EmitStatus(T, p.node, Subject::kDNStatus, unit, before, after, t);
    for (int g : p.groups) {
      EmitStatus(T, T.groups[g]->node, Subject::kDNStatus, unit, before, after, t);
    }
  }
  if (d.agent >= 0) {
    Agent& a = *T.agents[d.agent];
    EmitStatus(T, a.node, Subject::kDNStatus, unit, before, after, t);
    for (int g : a.groups) {
      EmitStatus(T, T.groups[g]->node, Subject::kDNStatus, unit, before, after, t);
    }
  }
  EmitStatus(T, T.node, Subject::kDNStatus, unit, before, after, t);
  if (d.agent >= 0) UpdateAgent(T, *T.agents[d.agent], t);
  if (d.place >= 0) UpdatePlace(T, *T.places[d.place], t);
}

void Engine::Impl::SetGroupMemberStatus(Tenant& T, Group& g, Status old_status, Status new_status,
                                        TimeMs t) {
  --g.counts[static_cast<int>(old_status)];
  ++g.counts[static_cast<int>(new_status)];
  RefreshGroupStatus(T, g, t);
}

void Engine::Impl::RefreshGroupStatus(Tenant& T, Group& g, TimeMs t) {
  Status best = Status::kLoggedOut;
  for (int code = 22; code >= 0; --code) {
    if (g.counts[code] > 0) {
      best = static_cast<Status>(code);
      break;
    }
  }
  Node& n = g.node;
  if (best == n.status) return;
  const UnitStatus before = n.Unit();
  n.status = best;
  n.status_start = t;
  EmitStatus(T, n, Subject::kGroupStatus, kGroupUnit | n.index, before, n.Unit(), t);
}

void Engine::Impl::UpdateAgent(Tenant& T, Agent& a, TimeMs t) {
  StatusInfo info{Status::kLoggedOut, nullptr};
  for (int di : a.dns) {
    const Node& d = T.dns[di]->node;
    if (info.status == Status::kLoggedOut || d.status > info.status) {
      info = {d.status, d.status_attrs};
    }
  }
  Node& n = a.node;
  if (info.status == n.status && info.attrs == n.status_attrs) return;
  const Status old_status = n.status;
  const AttributesPtr old_attrs = n.status_attrs;
  const UnitStatus before{true, n.status, n.status_start, old_attrs.get()};
  if (info.status != n.status) n.status_start = t;
  n.status = info.status;
  n.status_attrs = info.attrs;
  const UnitStatus after = n.Unit();
  const std::uint64_t unit = kAgentUnit | static_cast<std::uint64_t>(n.index);
  EmitStatus(T, n, Subject::kAgentStatus, unit, before, after, t);
  for (int g : a.groups) {
    EmitStatus(T, T.groups[g]->node, Subject::kAgentStatus, unit, before, after, t);
  }
  EmitStatus(T, T.node, Subject::kAgentStatus, unit, before, after, t);
  if (old_status != n.status) {
    for (int g : a.groups) SetGroupMemberStatus(T, *T.groups[g], old_status, n.status, t);
  }
}

void Engine::Impl::UpdatePlace(Tenant& T, Place& p, TimeMs t) {
  StatusInfo info{Status::kLoggedOut, nullptr};
  bool any_login = false;
  for (int di : p.dns) {
    if (T.dns[di]->agent >= 0) any_login = true;
  }
  if (any_login) {
    info = {Status::kNotMonitored, nullptr};
    for (int di : p.dns) {
      const Node& d = T.dns[di]->node;
      if (d.status >= info.status) info = {d.status, d.status_attrs};
    }
  }
  Node& n = p.node;
  if (info.status == n.status && info.attrs == n.status_attrs) return;
  const Status old_status = n.status;
  const AttributesPtr old_attrs = n.status_attrs;
  const UnitStatus before{true, n.status, n.status_start, old_attrs.get()};
  if (info.status != n.status) n.status_start = t;
  n.status = info.status;
  n.status_attrs = info.attrs;
  const UnitStatus after = n.Unit();
  const std::uint64_t unit = kPlaceUnit | static_cast<std::uint64_t>(n.index);
  EmitStatus(T, n, Subject::kPlaceStatus, unit, before, after, t);
  for (int g : p.groups) {
    EmitStatus(T, T.groups[g]->node, Subject::kPlaceStatus, unit, before, after, t);
  }
  EmitStatus(T, T.node, Subject::kPlaceStatus, unit, before, after, t);
  if (old_status != n.status) {
    for (int g : p.groups) SetGroupMemberStatus(T, *T.groups[g], old_status, n.status, t);
  }
}

void Engine::Impl::DnUnitForAgent(Tenant& T, Dn& d, Agent& a, bool join, TimeMs t) {
  const UnitStatus cur = d.node.Unit();
  const UnitStatus none{};
  const std::uint64_t unit = kDnUnit | static_cast<std::uint64_t>(d.node.index);
  EmitStatus(T, a.node, Subject::kDNStatus, unit, join ? none : cur, join ? cur : none, t);
  for (int g : a.groups) {
    EmitStatus(T, T.groups[g]->node, Subject::kDNStatus, unit, join ? none : cur, join ? cur : none,
               t);
  }
}

void Engine::Impl::AssignPlace(Tenant& T, Dn& d, Place& p, TimeMs t) {
  if (d.place >= 0) return;
  d.place = p.node.index;
  p.dns.push_back(d.node.index);
  const UnitStatus cur = d.node.Unit();
  const std::uint64_t unit = kDnUnit | static_cast<std::uint64_t>(d.node.index);
  EmitStatus(T, p.node, Subject::kDNStatus, unit, {}, cur, t);
  for (int g : p.groups) EmitStatus(T, T.groups[g]->node, Subject::kDNStatus, unit, {}, cur, t);
  UpdatePlace(T, p, t);
}

Result<void> Engine::Impl::Populate(Tenant& T, const TenantSetup& setup, TimeMs t, bool merge,
                                    std::vector<std::string>& notes) {
  auto& I = *this;
  for (const auto& id : setup.agents) I.GetOrCreateAgent(T, id, t);
  for (const auto& p : setup.places) {
    auto& place = I.GetOrCreatePlace(T, p.id, t);
    for (const auto& dn : p.dns) {
      auto [number, sw] = Impl::SplitDn(dn);
      auto& d = I.GetOrCreateDn(T, number, sw, t);
      if (d.place >= 0 && d.place != place.node.index) {
        if (merge) {
          notes.push_back("DN '" + dn + "' moved to place '" + p.id +
                          "' in the configuration; it stays at its previous place");
          continue;
        }
        return Error{Errc::kInvalidArgument, "DN '" + dn + "' belongs to two places"};
      }
      I.AssignPlace(T, d, place, t);
    }
  }
  for (const auto& q : setup.queues) {
    auto [number, sw] = Impl::SplitDn(q);
    I.GetOrCreateQueue(T, number, sw, ObjectType::kQueue, t);
  }
  for (const auto& q : setup.routing_points) {
    auto [number, sw] = Impl::SplitDn(q);
    I.GetOrCreateQueue(T, number, sw, ObjectType::kRoutePoint, t);
  }
  for (const auto& g : setup.groups) {
    if (g.type != ObjectType::kGroupAgents && g.type != ObjectType::kGroupPlaces &&
        g.type != ObjectType::kGroupQueues) {
      return Error{Errc::kInvalidArgument,
                   "group '" + g.name + "': type must be GroupAgents, GroupPlaces or GroupQueues"};
    }
    // A group that already runs (a live reload, or a restart from a snapshot) takes new members
    // from now on; a new one starts with them.
    const bool existed = T.group_by_name.count({static_cast<int>(g.type), g.name}) != 0 && merge;
    auto& group = I.GetOrCreateGroup(T, g.type, g.name, t);
    auto member_of = [&](int index) {
      return std::find(group.members.begin(), group.members.end(), index) != group.members.end();
    };
    for (const auto& m : g.members) {
      Node* member = nullptr;
      if (g.type == ObjectType::kGroupAgents) {
        member = &I.GetOrCreateAgent(T, m, t).node;
      } else if (g.type == ObjectType::kGroupPlaces) {
        member = &I.GetOrCreatePlace(T, m, t).node;
      } else {
        auto [number, sw] = Impl::SplitDn(m);
        const int* qi = Impl::FindByNumber(T.queue_by_key, T.queue_keys_by_number, m);
        member = qi != nullptr ? &T.queues[*qi]->node
                               : &I.GetOrCreateQueue(T, number, sw, ObjectType::kQueue, t).node;
      }
      if (member_of(member->index)) continue;
      if (existed) {
        I.JoinGroup(T, group, *member, t);
        notes.push_back("group '" + g.name + "': member '" + m + "' joined; it counts from now on");
        continue;
      }
      group.members.push_back(member->index);
      I.GroupsOf(T, *member).push_back(group.node.index);
      if (g.type != ObjectType::kGroupQueues) ++group.counts[static_cast<int>(member->status)];
    }
    if (!group.node.block) I.InstantiateCatalog(T, group.node, t);
  }
  return {};
}

std::vector<int>& Engine::Impl::GroupsOf(Tenant& T, Node& member) {
  switch (member.type) {
    case ObjectType::kAgent: return T.agents[member.index]->groups;
    case ObjectType::kPlace: return T.places[member.index]->groups;
    default: return T.queues[member.index]->groups;
  }
}

void Engine::Impl::JoinGroup(Tenant& T, Group& g, Node& member, TimeMs t) {
  if (g.node.derive && g.original == Group::kAll) {
    g.original = static_cast<std::uint32_t>(g.members.size());
  }
  g.members.push_back(member.index);
  GroupsOf(T, member).push_back(g.node.index);
  if (g.node.type != ObjectType::kGroupQueues) {
    ++g.counts[static_cast<int>(member.status)];
    RefreshGroupStatus(T, g, t);
  }
  // The member's present state joins the group's own statistics: its units appear, its ongoing
  // actions start there (derived statistics only mark: they read the members).
  for (const Subject subject : {Subject::kDNStatus, Subject::kAgentStatus, Subject::kPlaceStatus}) {
    ForEachUnit(T, member, subject, [&](std::uint64_t unit, const UnitStatus& now) {
      EmitStatus(T, g.node, subject, unit, {}, now, t);
    });
  }
  ForEachOngoingAction(T, member, [&](const ActionRec& r) {
    NodeList one{&g.node};
    ActionStarted(T, one, r, t);
  });
  if (!g.node.derive) return;
  // A derived group reads its members' accumulators, which hold the late member's past too: the
  // late members' share comes from a hidden group of only them, started now.
  if (g.late >= 0) return JoinGroup(T, *T.groups[g.late], member, t);
  const std::string hidden = std::string(1, '\x1f') + g.node.id + "\x1flate";
  const ObjectType type = g.node.type;
  const int index = g.node.index;
  Group& late = GetOrCreateGroup(T, type, hidden, t);
  T.groups[index]->late = late.node.index;
  late.members.push_back(member.index);
  GroupsOf(T, member).push_back(late.node.index);
  if (type != ObjectType::kGroupQueues) ++late.counts[static_cast<int>(member.status)];
  InstantiateCatalog(T, late.node, t);
  RefreshGroupStatus(T, late, t);
}

}  // namespace tally::stats
