#include "stats/engine.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <unordered_map>

#include <date/tz.h>
#include <boost/container/small_vector.hpp>

#include "stats/definition.h"
#include "stats/statistic.h"

namespace tally::stats {

bool StatValue::SameAs(const StatValue& o) const {
  return number == o.number && int_value == o.int_value && string_value == o.string_value;
}

namespace {

constexpr std::uint64_t kDnUnit = 1ull << 40;
constexpr std::uint64_t kAgentUnit = 2ull << 40;
constexpr std::uint64_t kPlaceUnit = 3ull << 40;
constexpr std::uint64_t kGroupUnit = 4ull << 40;

std::string FormatNumber(double v) {
  if (std::fabs(v - std::round(v)) < 1e-9) {
    return std::to_string(static_cast<long long>(std::llround(v)));
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string s(buf);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

Action CallAction(CallType t) {
  switch (t) {
    case CallType::kInbound: return Action::kCallInbound;
    case CallType::kOutbound: return Action::kCallOutbound;
    case CallType::kInternal: return Action::kCallInternal;
    case CallType::kConsult: return Action::kCallConsult;
    case CallType::kUnknown: return Action::kCallUnknown;
  }
  return Action::kCallUnknown;
}

std::string DnKey(std::string_view id, std::string_view default_switch) {
  if (id.find('@') != std::string_view::npos) return std::string(id);
  return std::string(id) + "@" + std::string(default_switch);
}

}  // namespace

struct Engine::Impl {
  struct Instance;

  // The statistics listening to one subject of one node, indexed by the action or status bits
  // of their masks, so a change reaches only the statistics whose masks contain it.
  struct Listeners {
    std::vector<Instance*> all;
    std::array<std::vector<Instance*>, 32> by_bit;  // unfiltered, by mask bit
    std::vector<Instance*> always;                  // filtered statistics
    std::vector<Instance*> trees;  // state trees: read the model, only marked dirty
  };

  struct Node {
    ObjectType type = ObjectType::kAgent;
    std::string id;
    int index = -1;
    std::array<Listeners, 5> listeners;
    std::vector<std::unique_ptr<Instance>> catalog;  // by catalog index; null if not applicable
  };

  struct Tenant;
  // Nodes that see one action: DN, place, place groups, agent, agent groups, tenant.
  using NodeList = boost::container::small_vector<Node*, 12>;

  struct Instance {
    Instance(std::shared_ptr<const Definition> def, TimeMs created, Tenant* t, Node* n)
        : stat(std::move(def), created), tenant(t), node(n) {}
    Statistic stat;
    Tenant* tenant;
    Node* node;
    std::vector<std::uint64_t> subs;
    bool dirty = false;
    std::uint32_t bits = 0;  // main | rel mask bits (actions or statuses by subject)
    bool always = false;     // called for every change (filter or state tree)

    [[nodiscard]] bool Has(int bit) const { return (bits >> bit) & 1u; }
  };

  struct ActionRec {
    std::uint64_t key = 0;
    Action kind = Action::kLoggedIn;
    TimeMs start = 0;
    AttributesPtr attrs;
    int agent = -1;  // agent logged in on the DN when the action started
  };

  enum class CallState { kDialing, kRinging, kEstablished };
  struct Call {
    std::string conn;
    CallState state = CallState::kRinging;
    CallType type = CallType::kUnknown;
    ActionRec main;                 // dialing / ringing / established action
    std::optional<ActionRec> hold;  // CallOnHold while held
    TimeMs ring_start = 0;
    TimeMs established = 0;
    AttributesPtr attrs;
  };

  struct Dn {
    Node node;
    std::string number;
    std::string switch_id;
    int place = -1;
    int agent = -1;
    bool monitored = true;
    TimeMs last_event = 0;
    std::optional<ActionRec> logged_in;
    std::optional<ActionRec> mode;  // WaitForNextCall / NotReadyForNextCall / AfterCallWork
    std::optional<ActionRec> hook;  // OffHook / OnHook
    std::vector<Call> calls;
    Status status = Status::kMonitored;
    TimeMs status_start = 0;
    AttributesPtr status_attrs;
  };

  struct Agent {
    Node node;
    std::vector<int> dns;  // logged-in DNs
    std::vector<int> groups;
    Status status = Status::kLoggedOut;
    TimeMs status_start = 0;
    AttributesPtr status_attrs;
  };

  struct Place {
    Node node;
    std::vector<int> dns;
    std::vector<int> groups;
    Status status = Status::kLoggedOut;
    TimeMs status_start = 0;
    AttributesPtr status_attrs;
  };

  struct Group {
    Node node;
    std::vector<int> members;
    std::array<int, 24> counts{};
    Status status = Status::kLoggedOut;
    TimeMs status_start = 0;
  };

  struct Queue {
    Node node;
    std::string number;
    std::string switch_id;
    std::vector<int> groups;
    bool monitored = true;
    TimeMs last_event = 0;
    std::unordered_map<std::string, ActionRec> waiting;  // conn → CallWait
  };

  struct PendingAnswer {
    int queue = -1;
    TimeMs entered = 0;
  };

  struct Tenant {
    std::string name;
    const date::time_zone* zone = nullptr;
    Node node;
    std::vector<std::unique_ptr<Dn>> dns;
    std::vector<std::unique_ptr<Agent>> agents;
    std::vector<std::unique_ptr<Place>> places;
    std::vector<std::unique_ptr<Group>> groups;
    std::vector<std::unique_ptr<Queue>> queues;
    std::unordered_map<std::string, int> dn_by_key, agent_by_id, place_by_id, queue_by_key;
    std::map<std::pair<int, std::string>, int> group_by_name;  // (type, name)
    std::unordered_map<std::string, std::vector<std::string>> queue_keys_by_number;
    std::unordered_map<std::string, std::vector<std::string>> dn_keys_by_number;
    std::unordered_map<std::string, std::vector<int>> conn_dns;
    std::unordered_map<std::string, PendingAnswer> pending_answers;
    std::vector<std::shared_ptr<const Definition>> catalog_defs;  // parsed in the tenant's zone
    std::uint64_t next_key = 1;
  };

  struct Subscriber {
    std::uint64_t handle = 0;
    Instance* inst = nullptr;
    std::unique_ptr<Instance> owned;  // ad-hoc statistics
    // Ad-hoc: the definition as given (snapshots re-parse it), shared by every subscriber that
    // opened the same one (Sources).
    std::shared_ptr<const KeyValues> source;
    NotificationMode mode = NotificationMode::kImmediate;
    std::int64_t frequency_ms = 10'000;
    double insensitivity = 0;
    bool sent = false;
    StatValue last;
  };

  struct Timer {
    TimeMs time;
    std::uint64_t seq;
    std::uint64_t handle;
    bool periodic;
    bool operator>(const Timer& o) const { return time != o.time ? time > o.time : seq > o.seq; }
  };

  std::vector<CatalogEntry> catalog;
  std::vector<std::unique_ptr<Tenant>> tenants;
  std::unordered_map<std::string, Tenant*> tenant_by_name;
  std::unordered_map<std::uint64_t, std::unique_ptr<Subscriber>> subs;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers;
  std::vector<Instance*> dirty;
  std::vector<Notification>* out = nullptr;
  TimeMs now = 0;
  std::uint64_t next_handle = 1;
  std::uint64_t next_seq = 0;
  EngineCounters counters;
  // Interned ad-hoc definitions (wallboards open the same ones many times).
  std::map<KeyValues, std::weak_ptr<const KeyValues>> sources;

  std::shared_ptr<const KeyValues> Source(const KeyValues& kv) {
    auto& slot = sources[kv];
    if (auto alive = slot.lock()) return alive;
    auto made = std::make_shared<const KeyValues>(kv);
    slot = made;
    return made;
  }
  void ReleaseSource(std::shared_ptr<const KeyValues>& source) {
    if (!source) return;
    const KeyValues key = *source;
    source.reset();
    auto it = sources.find(key);
    if (it != sources.end() && it->second.expired()) sources.erase(it);
  }

  // Snapshots (definitions at the end of this file).
  void Save(BinaryWriter& w) const;
  Result<void> Load(BinaryReader& r, std::vector<std::string>& notes);
  Result<void> Populate(Tenant& T, const TenantSetup& setup, TimeMs t, bool merge,
                        std::vector<std::string>& notes);

  // ---------------------------------------------------------------- objects

  Tenant& GetOrCreateTenant(const std::string& name, TimeMs t) {
    auto it = tenant_by_name.find(name);
    if (it != tenant_by_name.end()) return *it->second;
    auto tenant = std::make_unique<Tenant>();
    tenant->name = name;
    tenant->node.type = ObjectType::kTenant;
    tenant->node.id = name;
    Tenant* raw = tenant.get();
    tenants.push_back(std::move(tenant));
    tenant_by_name[name] = raw;
    ParseCatalogFor(*raw);
    InstantiateCatalog(*raw, raw->node, t);
    return *raw;
  }

  void ParseCatalogFor(Tenant& T) {
    T.catalog_defs.clear();
    for (const CatalogEntry& e : catalog) {
      auto def = ParseDefinition(e.fields, T.zone);
      // Validated in SetCatalog already; a zone cannot make it fail.
      T.catalog_defs.push_back(def ? std::make_shared<const Definition>(std::move(*def)) : nullptr);
    }
  }

  static bool AppliesTo(const Definition& def, ObjectType type) {
    if (!def.objects.empty() &&
        std::find(def.objects.begin(), def.objects.end(), type) == def.objects.end()) {
      return false;
    }
    return static_cast<bool>(CheckApplicable(def, type));
  }

  void InstantiateCatalog(Tenant& T, Node& node, TimeMs t) {
    node.catalog.resize(T.catalog_defs.size());
    for (size_t i = 0; i < T.catalog_defs.size(); ++i) {
      const auto& def = T.catalog_defs[i];
      if (!def || !AppliesTo(*def, node.type)) continue;
      node.catalog[i] = std::make_unique<Instance>(def, t, &T, &node);
      Register(*node.catalog[i], t);
      ++counters.catalog_statistics;
    }
  }

  // `replay`: feed the current state of the objects into the new statistic (false when its
  // state comes from a snapshot).
  void Register(Instance& inst, TimeMs t, bool replay = true) {
    const Definition& def = inst.stat.Def();
    const bool actions = def.subject == Subject::kDNAction;
    inst.bits = actions ? def.main.actions : def.main.statuses;
    if (def.rel) inst.bits |= actions ? def.rel->actions : def.rel->statuses;
    inst.always = def.filter != nullptr;
    Listeners& l = inst.node->listeners[static_cast<int>(def.subject)];
    l.all.push_back(&inst);
    if (def.IsStateTree()) {
      l.trees.push_back(&inst);
    } else if (inst.always) {
      l.always.push_back(&inst);
    } else {
      for (int b = 0; b < 32; ++b) {
        if (inst.Has(b)) l.by_bit[b].push_back(&inst);
      }
    }
    if (replay) Replay(inst, t);
  }

  void Unregister(Instance& inst) {
    Listeners& l = inst.node->listeners[static_cast<int>(inst.stat.Def().subject)];
    auto drop = [&](std::vector<Instance*>& v) {
      v.erase(std::remove(v.begin(), v.end(), &inst), v.end());
    };
    drop(l.all);
    drop(l.always);
    drop(l.trees);
    for (auto& v : l.by_bit) drop(v);
    dirty.erase(std::remove(dirty.begin(), dirty.end(), &inst), dirty.end());
  }

  Dn& GetOrCreateDn(Tenant& T, const std::string& number, const std::string& sw, TimeMs t) {
    const std::string key = number + "@" + sw;
    auto it = T.dn_by_key.find(key);
    if (it != T.dn_by_key.end()) return *T.dns[it->second];
    auto dn = std::make_unique<Dn>();
    dn->number = number;
    dn->switch_id = sw;
    dn->node.type = ObjectType::kRegDN;
    dn->node.id = key;
    dn->node.index = static_cast<int>(T.dns.size());
    dn->status_start = t;
    T.dn_by_key[key] = dn->node.index;
    T.dn_keys_by_number[number].push_back(key);
    T.dns.push_back(std::move(dn));
    Dn& d = *T.dns.back();
    ++counters.objects;
    InstantiateCatalog(T, d.node, t);
    // The tenant sees a new DN unit.
    EmitStatus(T.node, Subject::kDNStatus, kDnUnit | d.node.index, {},
               {true, d.status, d.status_start, nullptr}, t);
    return d;
  }

  Agent& GetOrCreateAgent(Tenant& T, const std::string& id, TimeMs t) {
    auto it = T.agent_by_id.find(id);
    if (it != T.agent_by_id.end()) return *T.agents[it->second];
    auto a = std::make_unique<Agent>();
    a->node.type = ObjectType::kAgent;
    a->node.id = id;
    a->node.index = static_cast<int>(T.agents.size());
    a->status_start = t;
    T.agent_by_id[id] = a->node.index;
    T.agents.push_back(std::move(a));
    Agent& ag = *T.agents.back();
    ++counters.objects;
    InstantiateCatalog(T, ag.node, t);
    EmitStatus(T.node, Subject::kAgentStatus, kAgentUnit | ag.node.index, {},
               {true, ag.status, ag.status_start, nullptr}, t);
    return ag;
  }

  Place& GetOrCreatePlace(Tenant& T, const std::string& id, TimeMs t) {
    auto it = T.place_by_id.find(id);
    if (it != T.place_by_id.end()) return *T.places[it->second];
    auto p = std::make_unique<Place>();
    p->node.type = ObjectType::kPlace;
    p->node.id = id;
    p->node.index = static_cast<int>(T.places.size());
    p->status_start = t;
    T.place_by_id[id] = p->node.index;
    T.places.push_back(std::move(p));
    Place& pl = *T.places.back();
    ++counters.objects;
    InstantiateCatalog(T, pl.node, t);
    EmitStatus(T.node, Subject::kPlaceStatus, kPlaceUnit | pl.node.index, {},
               {true, pl.status, pl.status_start, nullptr}, t);
    return pl;
  }

  Queue& GetOrCreateQueue(Tenant& T, const std::string& number, const std::string& sw,
                          ObjectType type, TimeMs t) {
    const std::string key = number + "@" + sw;
    auto it = T.queue_by_key.find(key);
    if (it != T.queue_by_key.end()) return *T.queues[it->second];
    auto q = std::make_unique<Queue>();
    q->number = number;
    q->switch_id = sw;
    q->node.type = type;
    q->node.id = key;
    q->node.index = static_cast<int>(T.queues.size());
    T.queue_by_key[key] = q->node.index;
    T.queue_keys_by_number[number].push_back(key);
    T.queues.push_back(std::move(q));
    Queue& qu = *T.queues.back();
    ++counters.objects;
    InstantiateCatalog(T, qu.node, t);
    return qu;
  }

  // The caller instantiates the group's catalog once its members are in (InstantiateCatalog).
  Group& GetOrCreateGroup(Tenant& T, ObjectType type, const std::string& name, TimeMs t) {
    const auto key = std::make_pair(static_cast<int>(type), name);
    auto it = T.group_by_name.find(key);
    if (it != T.group_by_name.end()) return *T.groups[it->second];
    auto g = std::make_unique<Group>();
    g->node.type = type;
    g->node.id = name;
    g->node.index = static_cast<int>(T.groups.size());
    g->status_start = t;
    T.group_by_name[key] = g->node.index;
    T.groups.push_back(std::move(g));
    Group& gr = *T.groups.back();
    ++counters.objects;
    (void)t;
    return gr;
  }

  static std::pair<std::string, std::string> SplitDn(const std::string& id) {
    const size_t at = id.find('@');
    if (at == std::string::npos) return {id, "default"};
    return {id.substr(0, at), id.substr(at + 1)};
  }

  // Resolves "8001" or "8001@Switch" among known keys.
  static const int* FindByNumber(
      const std::unordered_map<std::string, int>& by_key,
      const std::unordered_map<std::string, std::vector<std::string>>& by_number,
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

  Result<Node*> FindNode(Tenant& T, const ObjectRef& ref) {
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

  // ---------------------------------------------------------------- propagation

  void MarkDirty(Instance* inst) {
    if (!inst->subs.empty() && !inst->dirty) {
      inst->dirty = true;
      dirty.push_back(inst);
    }
  }

  void EmitStatus(Node& node, Subject subject, std::uint64_t unit,
                  const Statistic::UnitStatus& before, const Statistic::UnitStatus& after,
                  TimeMs t) {
    Listeners& l = node.listeners[static_cast<int>(subject)];
    auto call = [&](Instance* inst) {
      inst->stat.Advance(t);
      inst->stat.OnStatus(unit, before, after, t);
      MarkDirty(inst);
    };
    for (Instance* inst : l.trees) MarkDirty(inst);
    for (Instance* inst : l.always) call(inst);
    const bool same = before.present && after.present && before.status == after.status &&
                      before.start == after.start;
    if (same) return;  // only the data changed: only filtered statistics can care
    const int old_bit = static_cast<int>(before.status);
    if (before.present) {
      for (Instance* inst : l.by_bit[old_bit]) call(inst);
    }
    if (after.present) {
      for (Instance* inst : l.by_bit[static_cast<int>(after.status)]) {
        if (before.present && inst->Has(old_bit)) continue;  // already called
        call(inst);
      }
    }
  }

  // Calls fn(node) for every node that sees actions of DN `d` started while `agent` was
  // logged in there.
  template <typename Fn>
  void ForDnActionNodes(Tenant& T, Dn& d, int agent, Fn&& fn) {
    fn(d.node);
    if (d.place >= 0) {
      Place& p = *T.places[d.place];
      fn(p.node);
      for (int g : p.groups) fn(T.groups[g]->node);
    }
    if (agent >= 0) {
      Agent& a = *T.agents[agent];
      fn(a.node);
      for (int g : a.groups) fn(T.groups[g]->node);
    }
    fn(T.node);
  }

  template <typename Fn>
  void ForQueueNodes(Tenant& T, Queue& q, Fn&& fn) {
    fn(q.node);
    for (int g : q.groups) fn(T.groups[g]->node);
    fn(T.node);
  }

  // Calls fn(inst) for the DNAction statistics of `nodes` that can see action `kind`.
  template <typename Fn>
  void ForActionListeners(NodeList& nodes, Action kind, Fn&& fn) {
    const int bit = static_cast<int>(kind);
    for (Node* n : nodes) {
      Listeners& l = n->listeners[static_cast<int>(Subject::kDNAction)];
      for (Instance* inst : l.trees) MarkDirty(inst);
      for (Instance* inst : l.always) fn(inst);
      for (Instance* inst : l.by_bit[bit]) fn(inst);
    }
  }
  void ActionStarted(NodeList& nodes, const ActionRec& r, TimeMs t) {
    ForActionListeners(nodes, r.kind, [&](Instance* inst) {
      inst->stat.Advance(t);
      inst->stat.OnActionStart(r.key, r.kind, r.start, *r.attrs, t);
      MarkDirty(inst);
    });
  }
  void ActionEnded(NodeList& nodes, const ActionRec& r, TimeMs t) {
    ForActionListeners(nodes, r.kind, [&](Instance* inst) {
      inst->stat.Advance(t);
      inst->stat.OnActionEnd(r.key, r.kind, r.start, *r.attrs, t);
      MarkDirty(inst);
    });
  }
  void ActionInstant(NodeList& nodes, Action kind, TimeMs duration, const Attributes& attrs,
                     TimeMs t) {
    ForActionListeners(nodes, kind, [&](Instance* inst) {
      inst->stat.Advance(t);
      inst->stat.OnInstant(kind, duration, attrs, t);
      MarkDirty(inst);
    });
  }

  NodeList DnNodes(Tenant& T, Dn& d, int agent) {
    NodeList nodes;
    ForDnActionNodes(T, d, agent, [&](Node& n) { nodes.push_back(&n); });
    return nodes;
  }
  NodeList QueueNodes(Tenant& T, Queue& q) {
    NodeList nodes;
    ForQueueNodes(T, q, [&](Node& n) { nodes.push_back(&n); });
    return nodes;
  }

  ActionRec StartDnAction(Tenant& T, Dn& d, Action kind, AttributesPtr attrs, TimeMs t) {
    ActionRec r{T.next_key++, kind, t, std::move(attrs), d.agent};
    auto nodes = DnNodes(T, d, r.agent);
    ActionStarted(nodes, r, t);
    return r;
  }
  void EndDnAction(Tenant& T, Dn& d, const ActionRec& r, TimeMs t) {
    auto nodes = DnNodes(T, d, r.agent);
    ActionEnded(nodes, r, t);
  }
  void DnInstant(Tenant& T, Dn& d, Action kind, TimeMs duration, const Attributes& attrs,
                 TimeMs t) {
    auto nodes = DnNodes(T, d, d.agent);
    ActionInstant(nodes, kind, duration, attrs, t);
  }

  // ---------------------------------------------------------------- statuses

  struct StatusInfo {
    Status status;
    AttributesPtr attrs;
  };

  static StatusInfo ComputeDnStatus(const Dn& d) {
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

  void UpdateDn(Tenant& T, Dn& d, TimeMs t) {
    StatusInfo now_info = ComputeDnStatus(d);
    if (now_info.status == d.status && now_info.attrs == d.status_attrs) return;
    const AttributesPtr old_attrs = d.status_attrs;
    const Statistic::UnitStatus before{true, d.status, d.status_start, old_attrs.get()};
    if (now_info.status != d.status) d.status_start = t;
    d.status = now_info.status;
    d.status_attrs = now_info.attrs;
    const Statistic::UnitStatus after{true, d.status, d.status_start, d.status_attrs.get()};
    const std::uint64_t unit = kDnUnit | static_cast<std::uint64_t>(d.node.index);
    EmitStatus(d.node, Subject::kDNStatus, unit, before, after, t);
    if (d.place >= 0) {
      Place& p = *T.places[d.place];
      EmitStatus(p.node, Subject::kDNStatus, unit, before, after, t);
      for (int g : p.groups)
        EmitStatus(T.groups[g]->node, Subject::kDNStatus, unit, before, after, t);
    }
    if (d.agent >= 0) {
      Agent& a = *T.agents[d.agent];
      EmitStatus(a.node, Subject::kDNStatus, unit, before, after, t);
      for (int g : a.groups)
        EmitStatus(T.groups[g]->node, Subject::kDNStatus, unit, before, after, t);
    }
    EmitStatus(T.node, Subject::kDNStatus, unit, before, after, t);
    if (d.agent >= 0) UpdateAgent(T, *T.agents[d.agent], t);
    if (d.place >= 0) UpdatePlace(T, *T.places[d.place], t);
  }

  void SetGroupMemberStatus(Tenant& T, Group& g, Status old_status, Status new_status, TimeMs t) {
    --g.counts[static_cast<int>(old_status)];
    ++g.counts[static_cast<int>(new_status)];
    Status best = Status::kLoggedOut;
    for (int code = 22; code >= 0; --code) {
      if (g.counts[code] > 0) {
        best = static_cast<Status>(code);
        break;
      }
    }
    if (best == g.status) return;
    const Statistic::UnitStatus before{true, g.status, g.status_start, nullptr};
    g.status = best;
    g.status_start = t;
    const Statistic::UnitStatus after{true, g.status, g.status_start, nullptr};
    EmitStatus(g.node, Subject::kGroupStatus, kGroupUnit | g.node.index, before, after, t);
    (void)T;
  }

  void UpdateAgent(Tenant& T, Agent& a, TimeMs t) {
    StatusInfo info{Status::kLoggedOut, nullptr};
    for (int di : a.dns) {
      const Dn& d = *T.dns[di];
      if (info.status == Status::kLoggedOut || d.status > info.status) {
        info = {d.status, d.status_attrs};
      }
    }
    if (info.status == a.status && info.attrs == a.status_attrs) return;
    const Status old_status = a.status;
    const AttributesPtr old_attrs = a.status_attrs;
    const Statistic::UnitStatus before{true, a.status, a.status_start, old_attrs.get()};
    if (info.status != a.status) a.status_start = t;
    a.status = info.status;
    a.status_attrs = info.attrs;
    const Statistic::UnitStatus after{true, a.status, a.status_start, a.status_attrs.get()};
    const std::uint64_t unit = kAgentUnit | static_cast<std::uint64_t>(a.node.index);
    EmitStatus(a.node, Subject::kAgentStatus, unit, before, after, t);
    for (int g : a.groups) {
      EmitStatus(T.groups[g]->node, Subject::kAgentStatus, unit, before, after, t);
    }
    EmitStatus(T.node, Subject::kAgentStatus, unit, before, after, t);
    if (old_status != a.status) {
      for (int g : a.groups) SetGroupMemberStatus(T, *T.groups[g], old_status, a.status, t);
    }
  }

  void UpdatePlace(Tenant& T, Place& p, TimeMs t) {
    StatusInfo info{Status::kLoggedOut, nullptr};
    bool any_login = false;
    for (int di : p.dns) {
      if (T.dns[di]->agent >= 0) any_login = true;
    }
    if (any_login) {
      info = {Status::kNotMonitored, nullptr};
      for (int di : p.dns) {
        const Dn& d = *T.dns[di];
        if (d.status >= info.status) info = {d.status, d.status_attrs};
      }
    }
    if (info.status == p.status && info.attrs == p.status_attrs) return;
    const Status old_status = p.status;
    const AttributesPtr old_attrs = p.status_attrs;
    const Statistic::UnitStatus before{true, p.status, p.status_start, old_attrs.get()};
    if (info.status != p.status) p.status_start = t;
    p.status = info.status;
    p.status_attrs = info.attrs;
    const Statistic::UnitStatus after{true, p.status, p.status_start, p.status_attrs.get()};
    const std::uint64_t unit = kPlaceUnit | static_cast<std::uint64_t>(p.node.index);
    EmitStatus(p.node, Subject::kPlaceStatus, unit, before, after, t);
    for (int g : p.groups) {
      EmitStatus(T.groups[g]->node, Subject::kPlaceStatus, unit, before, after, t);
    }
    EmitStatus(T.node, Subject::kPlaceStatus, unit, before, after, t);
    if (old_status != p.status) {
      for (int g : p.groups) SetGroupMemberStatus(T, *T.groups[g], old_status, p.status, t);
    }
  }

  // DN `d` joins (or leaves) the DN units of the agent `a` and its groups.
  void DnUnitForAgent(Tenant& T, Dn& d, Agent& a, bool join, TimeMs t) {
    const Statistic::UnitStatus cur{true, d.status, d.status_start, d.status_attrs.get()};
    const Statistic::UnitStatus none{};
    const std::uint64_t unit = kDnUnit | static_cast<std::uint64_t>(d.node.index);
    EmitStatus(a.node, Subject::kDNStatus, unit, join ? none : cur, join ? cur : none, t);
    for (int g : a.groups) {
      EmitStatus(T.groups[g]->node, Subject::kDNStatus, unit, join ? none : cur, join ? cur : none,
                 t);
    }
  }

  void AssignPlace(Tenant& T, Dn& d, Place& p, TimeMs t) {
    if (d.place >= 0) return;
    d.place = p.node.index;
    p.dns.push_back(d.node.index);
    const Statistic::UnitStatus cur{true, d.status, d.status_start, d.status_attrs.get()};
    const std::uint64_t unit = kDnUnit | static_cast<std::uint64_t>(d.node.index);
    EmitStatus(p.node, Subject::kDNStatus, unit, {}, cur, t);
    for (int g : p.groups) EmitStatus(T.groups[g]->node, Subject::kDNStatus, unit, {}, cur, t);
    UpdatePlace(T, p, t);
  }

  // ---------------------------------------------------------------- replay into a new statistic

  template <typename Fn>
  void ForOngoingDnActions(Dn& d, int agent_filter, Fn&& fn) {
    auto visit = [&](const ActionRec& r) {
      if (agent_filter < 0 || r.agent == agent_filter) fn(r);
    };
    if (d.logged_in) visit(*d.logged_in);
    if (d.mode) visit(*d.mode);
    if (d.hook) visit(*d.hook);
    for (const Call& c : d.calls) {
      visit(c.main);
      if (c.hold) visit(*c.hold);
    }
  }

  void Replay(Instance& inst, TimeMs t) {
    Tenant& T = *inst.tenant;
    Node& node = *inst.node;
    Statistic& s = inst.stat;
    const Subject subject = s.Def().subject;
    auto dn_status = [&](Dn& d) {
      s.OnStatus(kDnUnit | d.node.index, {}, {true, d.status, d.status_start, d.status_attrs.get()},
                 t);
    };
    auto agent_status = [&](Agent& a) {
      s.OnStatus(kAgentUnit | a.node.index, {},
                 {true, a.status, a.status_start, a.status_attrs.get()}, t);
    };
    auto place_status = [&](Place& p) {
      s.OnStatus(kPlaceUnit | p.node.index, {},
                 {true, p.status, p.status_start, p.status_attrs.get()}, t);
    };
    auto dn_actions = [&](Dn& d, int agent) {
      ForOngoingDnActions(d, agent, [&](const ActionRec& r) {
        s.OnActionStart(r.key, r.kind, r.start, *r.attrs, t);
      });
    };
    auto queue_actions = [&](Queue& q) {
      for (auto& [conn, r] : q.waiting) s.OnActionStart(r.key, r.kind, r.start, *r.attrs, t);
    };
    auto agent_dns = [&](Agent& a, auto&& fn) {
      for (int di : a.dns) fn(*T.dns[di]);
    };
    switch (node.type) {
      case ObjectType::kRegDN: {
        Dn& d = *T.dns[node.index];
        if (subject == Subject::kDNStatus) dn_status(d);
        if (subject == Subject::kDNAction) dn_actions(d, -1);
        break;
      }
      case ObjectType::kAgent: {
        Agent& a = *T.agents[node.index];
        if (subject == Subject::kAgentStatus) agent_status(a);
        if (subject == Subject::kDNStatus) agent_dns(a, dn_status);
        if (subject == Subject::kDNAction) {
          for (int di : a.dns) dn_actions(*T.dns[di], a.node.index);
        }
        break;
      }
      case ObjectType::kPlace: {
        Place& p = *T.places[node.index];
        if (subject == Subject::kPlaceStatus) place_status(p);
        for (int di : p.dns) {
          if (subject == Subject::kDNStatus) dn_status(*T.dns[di]);
          if (subject == Subject::kDNAction) dn_actions(*T.dns[di], -1);
        }
        break;
      }
      case ObjectType::kGroupAgents: {
        Group& g = *T.groups[node.index];
        if (subject == Subject::kGroupStatus) {
          s.OnStatus(kGroupUnit | g.node.index, {}, {true, g.status, g.status_start, nullptr}, t);
        }
        for (int m : g.members) {
          Agent& a = *T.agents[m];
          if (subject == Subject::kAgentStatus) agent_status(a);
          if (subject == Subject::kDNStatus) agent_dns(a, dn_status);
          if (subject == Subject::kDNAction) {
            for (int di : a.dns) dn_actions(*T.dns[di], a.node.index);
          }
        }
        break;
      }
      case ObjectType::kGroupPlaces: {
        Group& g = *T.groups[node.index];
        if (subject == Subject::kGroupStatus) {
          s.OnStatus(kGroupUnit | g.node.index, {}, {true, g.status, g.status_start, nullptr}, t);
        }
        for (int m : g.members) {
          Place& p = *T.places[m];
          if (subject == Subject::kPlaceStatus) place_status(p);
          for (int di : p.dns) {
            if (subject == Subject::kDNStatus) dn_status(*T.dns[di]);
            if (subject == Subject::kDNAction) dn_actions(*T.dns[di], -1);
          }
        }
        break;
      }
      case ObjectType::kQueue:
      case ObjectType::kRoutePoint:
        if (subject == Subject::kDNAction) queue_actions(*T.queues[node.index]);
        break;
      case ObjectType::kGroupQueues:
        if (subject == Subject::kDNAction) {
          for (int m : T.groups[node.index]->members) queue_actions(*T.queues[m]);
        }
        break;
      case ObjectType::kTenant:
        for (auto& d : T.dns) {
          if (subject == Subject::kDNStatus) dn_status(*d);
          if (subject == Subject::kDNAction) dn_actions(*d, -1);
        }
        if (subject == Subject::kAgentStatus) {
          for (auto& a : T.agents) agent_status(*a);
        }
        if (subject == Subject::kPlaceStatus) {
          for (auto& p : T.places) place_status(*p);
        }
        if (subject == Subject::kDNAction) {
          for (auto& q : T.queues) queue_actions(*q);
        }
        break;
    }
  }

  // ---------------------------------------------------------------- events

  AttributesPtr CallAttributes(const Event& e, CallType type, const std::string& queue) {
    auto a = std::make_shared<Attributes>();
    a->media_type = e.media_type.empty() ? "voice" : e.media_type;
    a->call_type = type;
    a->this_queue = !e.this_queue.empty() ? e.this_queue : queue;
    a->ani = e.ani;
    a->dnis = e.dnis;
    a->user_data = e.user_data;
    return a;
  }

  AttributesPtr AgentAttributes(const Event& e) {
    // Most agent-state actions carry nothing: share one record for them.
    static const AttributesPtr kPlainVoice = std::make_shared<const Attributes>();
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

  Call* FindCall(Dn& d, const std::string& conn) {
    for (Call& c : d.calls) {
      if (c.conn == conn) return &c;
    }
    return nullptr;
  }

  void RemoveCall(Tenant& T, Dn& d, const std::string& conn) {
    d.calls.erase(std::remove_if(d.calls.begin(), d.calls.end(),
                                 [&](const Call& c) { return c.conn == conn; }),
                  d.calls.end());
    auto it = T.conn_dns.find(conn);
    if (it != T.conn_dns.end()) {
      auto& v = it->second;
      v.erase(std::remove(v.begin(), v.end(), d.node.index), v.end());
      if (v.empty()) T.conn_dns.erase(it);
    }
  }

  void LogoutDn(Tenant& T, Dn& d, TimeMs t) {
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

  void LoginDn(Tenant& T, Dn& d, Agent& a, const Event& e, TimeMs t) {
    if (d.agent == a.node.index) return;  // already logged in here
    if (d.agent >= 0) LogoutDn(T, d, t);
    if (!e.place_id.empty() && d.place < 0)
      AssignPlace(T, d, GetOrCreatePlace(T, e.place_id, t), t);
    const bool first_login = a.dns.empty();
    d.agent = a.node.index;
    a.dns.push_back(d.node.index);
    DnUnitForAgent(T, d, a, true, t);
    if (first_login) {
      for (auto& list : a.node.listeners) {
        for (Instance* inst : list.all) {
          inst->stat.Advance(t);
          inst->stat.OnLogin(t);
          MarkDirty(inst);
        }
      }
    }
    d.logged_in = StartDnAction(T, d, Action::kLoggedIn, AgentAttributes(e), t);
    UpdateDn(T, d, t);
    UpdateAgent(T, a, t);
    if (d.place >= 0) UpdatePlace(T, *T.places[d.place], t);
  }

  void SetMode(Tenant& T, Dn& d, Action kind, const Event& e, TimeMs t) {
    if (d.mode && d.mode->kind == kind && d.mode->attrs->reasons == e.reasons) return;
    if (d.mode) {
      EndDnAction(T, d, *d.mode, t);
      d.mode.reset();
    }
    d.mode = StartDnAction(T, d, kind, AgentAttributes(e), t);
    UpdateDn(T, d, t);
  }

  void SetHook(Tenant& T, Dn& d, Action kind, const Event& e, TimeMs t) {
    if (d.hook && d.hook->kind == kind) return;
    if (d.hook) {
      EndDnAction(T, d, *d.hook, t);
      d.hook.reset();
    }
    d.hook = StartDnAction(T, d, kind, AgentAttributes(e), t);
    UpdateDn(T, d, t);
  }

  Call& NewCall(Tenant& T, Dn& d, const Event& e, CallState state, CallType type, Action kind,
                TimeMs t) {
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

  void OnEstablished(Tenant& T, Dn& d, const Event& e, TimeMs t) {
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
      ActionInstant(nodes, Action::kCallAnswered, t - it->second.entered, *c->attrs, t);
      T.pending_answers.erase(it);
    }
    UpdateDn(T, d, t);
  }

  void OnReleased(Tenant& T, Dn& d, const Event& e, TimeMs t) {
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

  void OnAttachedData(Tenant& T, const Event& e, TimeMs t) {
    auto merge = [&](const AttributesPtr& old) {
      auto a = std::make_shared<Attributes>(*old);
      for (const auto& [k, v] : e.user_data) {
        auto it = std::find_if(a->user_data.begin(), a->user_data.end(),
                               [&](const auto& kv) { return kv.first == k; });
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
      for (Node* n : nodes) {
        // Unfiltered statistics ignore data changes; state trees show them.
        for (Instance* inst : n->listeners[static_cast<int>(Subject::kDNAction)].trees) {
          MarkDirty(inst);
        }
        for (Instance* inst : n->listeners[static_cast<int>(Subject::kDNAction)].always) {
          inst->stat.Advance(t);
          inst->stat.OnActionAttrs(r.key, r.kind, r.start, *before, *next, t);
          MarkDirty(inst);
        }
      }
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

  void OnLink(Tenant& T, const Event& e, bool up, TimeMs t) {
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
        for (auto& [conn, r] : q.waiting) ActionEnded(nodes, r, t);
        q.waiting.clear();
      }
      q.monitored = up;
    }
  }

  Queue& QueueFor(Tenant& T, const Event& e, TimeMs t) {
    const int* i =
        FindByNumber(T.queue_by_key, T.queue_keys_by_number, DnKey(e.this_dn, e.switch_id));
    if (i != nullptr) return *T.queues[*i];
    return GetOrCreateQueue(T, e.this_dn, e.switch_id, ObjectType::kQueue, t);
  }

  Result<void> ApplyEvent(const Event& e, TimeMs t) {
    Tenant& T = GetOrCreateTenant(e.tenant.empty() ? "default" : e.tenant, t);
    const std::string sw = e.switch_id.empty() ? "default" : e.switch_id;
    switch (e.type) {
      case EventType::kTick: return {};
      case EventType::kLinkDisconnected:
      case EventType::kLinkConnected:
        OnLink(T, e, e.type == EventType::kLinkConnected, t);
        return {};
      case EventType::kQueued: {
        Queue& q = QueueFor(T, e, t);
        q.last_event = std::max(q.last_event, e.time);  // the ordering rule uses event time
        if (q.waiting.count(e.conn_id) != 0) {
          ++counters.events_ignored;
          return {};
        }
        const CallType type = e.call_type == CallType::kUnknown ? CallType::kInbound : e.call_type;
        AttributesPtr attrs = CallAttributes(e, type, q.number);
        ActionRec r{T.next_key++, Action::kCallWait, t, attrs, -1};
        auto nodes = QueueNodes(T, q);
        ActionStarted(nodes, r, t);
        ActionInstant(nodes, Action::kCallEntered, 0, *attrs, t);
        q.waiting.emplace(e.conn_id, std::move(r));
        return {};
      }
      case EventType::kDiverted:
      case EventType::kAbandoned: {
        Queue& q = QueueFor(T, e, t);
        q.last_event = std::max(q.last_event, e.time);  // the ordering rule uses event time
        auto it = q.waiting.find(e.conn_id);
        if (it == q.waiting.end()) {
          ++counters.events_ignored;
          return {};
        }
        ActionRec r = std::move(it->second);
        q.waiting.erase(it);
        auto nodes = QueueNodes(T, q);
        ActionEnded(nodes, r, t);
        const bool diverted = e.type == EventType::kDiverted;
        ActionInstant(nodes, diverted ? Action::kCallDistributed : Action::kCallAbandoned,
                      t - r.start, *r.attrs, t);
        if (diverted) T.pending_answers[e.conn_id] = PendingAnswer{q.node.index, r.start};
        return {};
      }
      case EventType::kAttachedDataChanged: OnAttachedData(T, e, t); return {};
      default: break;
    }
    // Events on a regular DN.
    Dn& d = GetOrCreateDn(T, e.this_dn, sw, t);
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

  // ---------------------------------------------------------------- values and notifications

  DnState DnStateOf(Tenant& T, Dn& d, bool actions, bool reasons) {
    (void)T;
    DnState s;
    s.dn_id = d.number;
    s.switch_id = d.switch_id;
    s.status = d.status;
    s.time = d.status_start;
    if (reasons && d.status_attrs) s.reasons = d.status_attrs->reasons;
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

  PlaceState PlaceStateOf(Tenant& T, Place& p, bool actions, bool reasons) {
    PlaceState s;
    s.place_id = p.node.id;
    s.status = p.status;
    s.time = p.status_start;
    for (int di : p.dns) s.dns.push_back(DnStateOf(T, *T.dns[di], actions, reasons));
    return s;
  }

  AgentState AgentStateOf(Tenant& T, Agent& a, bool actions, bool reasons) {
    AgentState s;
    s.agent_id = a.node.id;
    s.status = a.status;
    s.time = a.status_start;
    if (reasons && a.status_attrs) s.reasons = a.status_attrs->reasons;
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
      s.place.status = a.status;
      s.place.time = a.status_start;
      for (int di : a.dns) s.place.dns.push_back(DnStateOf(T, *T.dns[di], actions, reasons));
    }
    return s;
  }

  StatValue ValueOf(Instance& inst, TimeMs t) {
    inst.stat.Advance(t);
    StatValue v;
    v.timestamp = t;
    const Definition& def = inst.stat.Def();
    if (def.IsStateTree()) {
      Tenant& T = *inst.tenant;
      Node& node = *inst.node;
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
          for (int m : g.members)
            tree->agents.push_back(AgentStateOf(T, *T.agents[m], actions, reasons));
          status = g.status;
          break;
        }
        case ObjectType::kGroupPlaces: {
          Group& g = *T.groups[node.index];
          tree->kind = StateTree::Kind::kGroupPlaces;
          tree->group_id = g.node.id;
          for (int m : g.members)
            tree->places.push_back(PlaceStateOf(T, *T.places[m], actions, reasons));
          status = g.status;
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
    const double n = inst.stat.Number(t);
    v.number = std::round(n * 1000.0) / 1000.0;
    v.int_value = static_cast<std::int64_t>(std::llround(n));
    v.string_value = FormatNumber(v.number);
    v.interval_length_s = inst.stat.IntervalLengthSeconds(t);
    return v;
  }

  static bool ShouldSend(const Subscriber& s, const StatValue& v, bool state_changed) {
    if (!s.sent) return true;
    if (v.state) return state_changed || v.int_value != s.last.int_value;
    const double last = s.last.number;
    if (v.number == last) return false;
    if (s.insensitivity <= 1 || last == 0) return true;
    return std::fabs(v.number - last) >= s.insensitivity / 100.0 * std::fabs(last);
  }

  void Send(Subscriber& s, StatValue v) {
    s.sent = true;
    s.last = v;
    ++counters.notifications;
    if (out != nullptr) out->push_back(Notification{s.handle, std::move(v)});
  }

  void FlushDirty(TimeMs t) {
    for (Instance* inst : dirty) {
      inst->dirty = false;
      bool any_immediate = false;
      for (std::uint64_t h : inst->subs) {
        if (subs.at(h)->mode == NotificationMode::kImmediate) any_immediate = true;
      }
      if (!any_immediate) continue;
      StatValue v = ValueOf(*inst, t);
      for (std::uint64_t h : inst->subs) {
        Subscriber& s = *subs.at(h);
        if (s.mode != NotificationMode::kImmediate) continue;
        if (ShouldSend(s, v, true)) Send(s, v);
      }
    }
    dirty.clear();
  }

  void ArmTimers(Subscriber& s) {
    if (s.mode == NotificationMode::kPeriodical) {
      timers.push(Timer{now + s.frequency_ms, next_seq++, s.handle, true});
    }
    if (s.mode == NotificationMode::kReset || s.mode == NotificationMode::kImmediate) {
      if (auto b = s.inst->stat.NextBoundary()) timers.push(Timer{*b, next_seq++, s.handle, false});
    }
  }

  void RunTimersUntil(TimeMs t) {
    while (!timers.empty() && timers.top().time <= t) {
      const Timer timer = timers.top();
      timers.pop();
      auto it = subs.find(timer.handle);
      if (it == subs.end()) continue;
      Subscriber& s = *it->second;
      now = std::max(now, timer.time);
      if (timer.periodic) {
        StatValue v = ValueOf(*s.inst, timer.time);
        const bool suppress = s.insensitivity > 1 && s.sent && !ShouldSend(s, v, false);
        if (!suppress) Send(s, std::move(v));
        timers.push(Timer{timer.time + s.frequency_ms, next_seq++, s.handle, true});
        continue;
      }
      const bool reset = s.inst->stat.Advance(timer.time);
      if (s.mode == NotificationMode::kReset && reset) {
        StatValue v = ValueOf(*s.inst, timer.time);
        v.number = std::round(s.inst->stat.ValueBeforeLastReset() * 1000.0) / 1000.0;
        v.int_value = static_cast<std::int64_t>(std::llround(v.number));
        v.string_value = FormatNumber(v.number);
        Send(s, std::move(v));
      } else if (s.mode == NotificationMode::kImmediate) {
        StatValue v = ValueOf(*s.inst, timer.time);
        if (ShouldSend(s, v, false)) Send(s, std::move(v));
      }
      if (auto b = s.inst->stat.NextBoundary()) {
        timers.push(Timer{*b, next_seq++, s.handle, false});
      }
    }
  }

  Result<Tenant*> TenantFor(std::string_view name) {
    auto it = tenant_by_name.find(std::string(name));
    if (it == tenant_by_name.end()) {
      return Error{Errc::kNotFound, "tenant '" + std::string(name) + "' is unknown"};
    }
    return it->second;
  }

  Result<Opened> Subscribe(Instance* inst, std::unique_ptr<Instance> owned, const Definition& def) {
    auto s = std::make_unique<Subscriber>();
    s->handle = next_handle++;
    s->inst = inst;
    s->owned = std::move(owned);
    s->mode = def.mode;
    s->frequency_ms = def.frequency_s * 1000;
    s->insensitivity = def.insensitivity;
    inst->subs.push_back(s->handle);
    Opened o;
    o.handle = s->handle;
    o.value = ValueOf(*inst, now);
    s->sent = true;  // the initial value is delivered with the open
    s->last = o.value;
    ArmTimers(*s);
    subs.emplace(o.handle, std::move(s));
    ++counters.open_statistics;
    return o;
  }
};

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

Result<void> Engine::SetCatalog(const std::vector<CatalogEntry>& entries) {
  for (const CatalogEntry& e : entries) {
    auto def = ParseDefinition(e.fields, nullptr);
    if (!def) {
      return Error{def.error().code, "statistic '" + e.name + "': " + def.error().message};
    }
    if (def->objects.empty()) {
      return Error{Errc::kInvalidArgument,
                   "statistic '" + e.name + "': objects: list the object types it applies to"};
    }
    for (ObjectType t : def->objects) {
      auto ok = CheckApplicable(*def, t);
      if (!ok)
        return Error{Errc::kInvalidArgument, "statistic '" + e.name + "': " + ok.error().message};
    }
  }
  impl_->catalog = entries;
  return {};
}

Result<void> Engine::AddTenant(const TenantSetup& setup, TimeMs now) {
  auto& I = *impl_;
  const date::time_zone* zone = nullptr;
  if (!setup.time_zone.empty()) {
    zone = FindZone(setup.time_zone);
    if (zone == nullptr) {
      return Error{Errc::kInvalidArgument,
                   "tenant '" + setup.name + "': unknown time zone '" + setup.time_zone + "'"};
    }
  }
  if (I.tenant_by_name.count(setup.name) != 0) {
    return Error{Errc::kAlreadyExists, "tenant '" + setup.name + "' is configured twice"};
  }
  now = std::max(now, I.now);
  I.now = now;
  // Create the tenant with its zone before the catalog is instantiated.
  auto tenant = std::make_unique<Impl::Tenant>();
  tenant->name = setup.name;
  tenant->zone = zone;
  tenant->node.type = ObjectType::kTenant;
  tenant->node.id = setup.name;
  Impl::Tenant& T = *tenant;
  I.tenants.push_back(std::move(tenant));
  I.tenant_by_name[setup.name] = &T;
  I.ParseCatalogFor(T);
  I.InstantiateCatalog(T, T.node, now);
  std::vector<std::string> notes;
  return I.Populate(T, setup, now, false, notes);
}

Result<std::vector<std::string>> Engine::MergeTenant(const TenantSetup& setup, TimeMs now) {
  auto& I = *impl_;
  auto it = I.tenant_by_name.find(setup.name);
  if (it == I.tenant_by_name.end()) {
    auto added = AddTenant(setup, now);
    if (!added) return added.error();
    return std::vector<std::string>{};
  }
  Impl::Tenant& T = *it->second;
  std::vector<std::string> notes;
  const std::string had = T.zone != nullptr ? std::string(T.zone->name()) : "";
  if (had != setup.time_zone) {
    notes.push_back("tenant '" + setup.name + "': time zone '" + setup.time_zone +
                    "' differs from the snapshot's '" + had +
                    "'; the statistics keep the snapshot's zone");
  }
  now = std::max(now, I.now);
  I.now = now;
  auto r = I.Populate(T, setup, now, true, notes);
  if (!r) return r.error();
  return notes;
}

bool Engine::HasTenant(std::string_view name) const {
  return impl_->tenant_by_name.count(std::string(name)) != 0;
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
    const bool existed = T.group_by_name.count({static_cast<int>(g.type), g.name}) != 0 && merge;
    auto& group = I.GetOrCreateGroup(T, g.type, g.name, t);
    auto member_of = [&](int index) {
      return std::find(group.members.begin(), group.members.end(), index) != group.members.end();
    };
    for (const auto& m : g.members) {
      if (g.type == ObjectType::kGroupAgents) {
        auto& a = I.GetOrCreateAgent(T, m, t);
        if (member_of(a.node.index)) continue;
        if (existed) {
          notes.push_back("group '" + g.name + "': new member '" + m +
                          "' is not added to a group restored from a snapshot");
          continue;
        }
        group.members.push_back(a.node.index);
        a.groups.push_back(group.node.index);
        ++group.counts[static_cast<int>(a.status)];
      } else if (g.type == ObjectType::kGroupPlaces) {
        auto& p = I.GetOrCreatePlace(T, m, t);
        if (member_of(p.node.index)) continue;
        if (existed) {
          notes.push_back("group '" + g.name + "': new member '" + m +
                          "' is not added to a group restored from a snapshot");
          continue;
        }
        group.members.push_back(p.node.index);
        p.groups.push_back(group.node.index);
        ++group.counts[static_cast<int>(p.status)];
      } else {
        auto [number, sw] = Impl::SplitDn(m);
        const int* qi = Impl::FindByNumber(T.queue_by_key, T.queue_keys_by_number, m);
        Impl::Queue& q = qi != nullptr ? *T.queues[*qi]
                                       : I.GetOrCreateQueue(T, number, sw, ObjectType::kQueue, t);
        if (member_of(q.node.index)) continue;
        if (existed) {
          notes.push_back("group '" + g.name + "': new member '" + m +
                          "' is not added to a group restored from a snapshot");
          continue;
        }
        group.members.push_back(q.node.index);
        q.groups.push_back(group.node.index);
      }
    }
    if (group.node.catalog.empty()) I.InstantiateCatalog(T, group.node, t);
  }
  return {};
}

Result<void> Engine::CheckOrder(const Event& e) const {
  const auto& I = *impl_;
  auto it = I.tenant_by_name.find(e.tenant.empty() ? "default" : e.tenant);
  if (it == I.tenant_by_name.end() || e.this_dn.empty()) return {};
  const Impl::Tenant& T = *it->second;
  const std::string key = DnKey(e.this_dn, e.switch_id.empty() ? "default" : e.switch_id);
  TimeMs last = -1;
  if (auto d = T.dn_by_key.find(key); d != T.dn_by_key.end()) last = T.dns[d->second]->last_event;
  if (auto q = T.queue_by_key.find(key); q != T.queue_by_key.end()) {
    last = std::max(last, T.queues[q->second]->last_event);
  }
  if (e.time < last) {
    return Error{Errc::kOutOfOrder, "event for DN '" + key + "' at " + std::to_string(e.time) +
                                        " ms is older than the last applied event of that DN (" +
                                        std::to_string(last) + " ms)"};
  }
  return {};
}

Result<void> Engine::Apply(const Event& event, std::vector<Notification>& out) {
  auto& I = *impl_;
  auto order = CheckOrder(event);
  if (!order) return order;
  auto missing = [&](const char* field) -> Result<void> {
    return Error{Errc::kInvalidArgument,
                 std::string(EventTypeName(event.type)) + ": field '" + field + "' is required"};
  };
  switch (event.type) {
    case EventType::kTick:
    case EventType::kLinkConnected:
    case EventType::kLinkDisconnected: break;
    case EventType::kAgentLogin:
      if (event.agent_id.empty()) return missing("agentId");
      [[fallthrough]];
    default:
      if (event.this_dn.empty()) return missing("thisDN");
      break;
  }
  switch (event.type) {
    case EventType::kDialing:
    case EventType::kRinging:
    case EventType::kEstablished:
    case EventType::kReleased:
    case EventType::kHeld:
    case EventType::kRetrieved:
    case EventType::kQueued:
    case EventType::kDiverted:
    case EventType::kAbandoned:
    case EventType::kAttachedDataChanged:
      if (event.conn_id.empty()) return missing("connId");
      break;
    default: break;
  }
  const TimeMs t = std::max(event.time, I.now);
  I.out = &out;
  I.RunTimersUntil(t);
  I.now = t;
  auto r = I.ApplyEvent(event, t);
  ++I.counters.events_applied;
  I.FlushDirty(t);
  I.out = nullptr;
  return r;
}

void Engine::AdvanceTo(TimeMs now, std::vector<Notification>& out) {
  auto& I = *impl_;
  I.out = &out;
  I.RunTimersUntil(now);
  I.now = std::max(I.now, now);
  I.out = nullptr;
}

TimeMs Engine::Now() const { return impl_->now; }

Result<StatValue> Engine::Peek(std::string_view tenant, std::string_view name,
                               const ObjectRef& object) {
  auto& I = *impl_;
  auto T = I.TenantFor(tenant);
  if (!T) return T.error();
  size_t index = I.catalog.size();
  for (size_t i = 0; i < I.catalog.size(); ++i) {
    if (I.catalog[i].name == name) index = i;
  }
  if (index == I.catalog.size()) {
    return Error{Errc::kNotFound, "statistic '" + std::string(name) + "' is not in the catalog"};
  }
  auto node = I.FindNode(**T, object);
  if (!node) return node.error();
  auto& inst = (*node)->catalog[index];
  if (!inst) {
    return Error{Errc::kInvalidArgument, "statistic '" + std::string(name) +
                                             "' does not apply to " +
                                             std::string(ObjectTypeName(object.type))};
  }
  return I.ValueOf(*inst, I.now);
}

Result<Engine::Opened> Engine::OpenCatalog(std::string_view tenant, std::string_view name,
                                           const ObjectRef& object) {
  auto& I = *impl_;
  auto T = I.TenantFor(tenant);
  if (!T) return T.error();
  for (size_t i = 0; i < I.catalog.size(); ++i) {
    if (I.catalog[i].name != name) continue;
    auto node = I.FindNode(**T, object);
    if (!node) return node.error();
    auto& inst = (*node)->catalog[i];
    if (!inst) {
      return Error{Errc::kInvalidArgument, "statistic '" + std::string(name) +
                                               "' does not apply to " +
                                               std::string(ObjectTypeName(object.type))};
    }
    return I.Subscribe(inst.get(), nullptr, inst->stat.Def());
  }
  return Error{Errc::kNotFound, "statistic '" + std::string(name) + "' is not in the catalog"};
}

Result<Engine::Opened> Engine::OpenDefinition(std::string_view tenant, const KeyValues& definition,
                                              const ObjectRef& object) {
  auto& I = *impl_;
  auto T = I.TenantFor(tenant);
  if (!T) return T.error();
  auto def = ParseDefinition(definition, (*T)->zone);
  if (!def) return def.error();
  auto ok = CheckApplicable(*def, object.type);
  if (!ok) return ok.error();
  auto node = I.FindNode(**T, object);
  if (!node) return node.error();
  auto shared = std::make_shared<const Definition>(std::move(*def));
  auto inst = std::make_unique<Impl::Instance>(shared, I.now, *T, *node);
  Impl::Instance* raw = inst.get();
  I.Register(*raw, I.now);
  auto opened = I.Subscribe(raw, std::move(inst), *shared);
  if (opened) I.subs.at(opened->handle)->source = I.Source(definition);
  return opened;
}

void Engine::Close(std::uint64_t handle) {
  auto& I = *impl_;
  auto it = I.subs.find(handle);
  if (it == I.subs.end()) return;
  Impl::Subscriber& s = *it->second;
  auto& list = s.inst->subs;
  list.erase(std::remove(list.begin(), list.end(), handle), list.end());
  if (s.owned) I.Unregister(*s.owned);
  I.ReleaseSource(s.source);
  I.subs.erase(it);
  --I.counters.open_statistics;
}

Result<StatValue> Engine::Get(std::uint64_t handle) {
  auto& I = *impl_;
  auto it = I.subs.find(handle);
  if (it == I.subs.end()) return Error{Errc::kNotFound, "no such statistic handle"};
  return I.ValueOf(*it->second->inst, I.now);
}

bool Engine::HasCatalogStatistic(std::string_view name) const {
  for (const auto& e : impl_->catalog) {
    if (e.name == name) return true;
  }
  return false;
}

EngineCounters Engine::Counters() const { return impl_->counters; }

size_t Engine::ApproxStatisticBytes() const {
  size_t bytes = 0;
  auto node_bytes = [&](const Impl::Node& n) {
    for (const auto& inst : n.catalog) {
      if (inst) bytes += sizeof(Impl::Instance) - sizeof(Statistic) + inst->stat.ApproxBytes();
    }
  };
  for (const auto& T : impl_->tenants) {
    node_bytes(T->node);
    for (const auto& x : T->dns) node_bytes(x->node);
    for (const auto& x : T->agents) node_bytes(x->node);
    for (const auto& x : T->places) node_bytes(x->node);
    for (const auto& x : T->groups) node_bytes(x->node);
    for (const auto& x : T->queues) node_bytes(x->node);
  }
  return bytes;
}

// ---------------------------------------------------------------- snapshots
//
// The whole engine state as bytes: the catalog it was built with, every tenant's objects with
// their ongoing actions and statuses, every statistic's accumulator, the subscribers with their
// notification state, and the timers. Object indices are kept, so the unit keys inside the
// accumulators stay valid. Layout: docs/on_disk_format.md#snapshots.

namespace {

// Attributes are shared between actions and statuses: written once, then referenced.
class AttrsWriter {
 public:
  void Put(BinaryWriter& w, const AttributesPtr& a) {
    if (!a) return w.U64(0);
    auto [it, fresh] = index_.try_emplace(a.get(), index_.size());
    if (!fresh) {
      w.U64(2);
      return w.U64(it->second);
    }
    w.U64(1);
    w.Str(a->media_type);
    w.U64(static_cast<std::uint64_t>(a->call_type));
    w.Str(a->this_queue);
    w.Str(a->ani);
    w.Str(a->dnis);
    PutKv(w, a->reasons);
    PutKv(w, a->user_data);
  }
  static void PutKv(BinaryWriter& w, const KeyValues& kv) {
    w.U64(kv.size());
    for (const auto& [k, v] : kv) {
      w.Str(k);
      w.Str(v);
    }
  }

 private:
  std::unordered_map<const Attributes*, std::uint64_t> index_;
};

class AttrsReader {
 public:
  AttributesPtr Get(BinaryReader& r) {
    switch (r.U64()) {
      case 0: return nullptr;
      case 2: {
        const std::uint64_t i = r.U64();
        if (i >= seen_.size()) {
          r.Fail();
          return nullptr;
        }
        return seen_[i];
      }
      case 1: {
        auto a = std::make_shared<Attributes>();
        a->media_type = r.Str();
        const std::uint64_t type = r.U64();
        if (type > static_cast<std::uint64_t>(CallType::kConsult)) r.Fail();
        a->call_type = static_cast<CallType>(type);
        a->this_queue = r.Str();
        a->ani = r.Str();
        a->dnis = r.Str();
        a->reasons = GetKv(r);
        a->user_data = GetKv(r);
        seen_.push_back(a);
        return a;
      }
      default: r.Fail(); return nullptr;
    }
  }
  static KeyValues GetKv(BinaryReader& r) {
    KeyValues kv(r.Count(2));
    for (auto& [k, v] : kv) {
      k = r.Str();
      v = r.Str();
    }
    return kv;
  }

 private:
  std::vector<AttributesPtr> seen_;
};

void PutInts(BinaryWriter& w, const std::vector<int>& v) {
  w.U64(v.size());
  for (int i : v) w.I64(i);
}

std::vector<int> GetInts(BinaryReader& r) {
  std::vector<int> v(r.Count());
  for (int& i : v) i = static_cast<int>(r.I64());
  return v;
}

template <typename E>
E GetEnum(BinaryReader& r, std::uint64_t max) {
  const std::uint64_t v = r.U64();
  if (v > max) r.Fail();
  return static_cast<E>(v > max ? 0 : v);
}

Status GetStatus(BinaryReader& r) {
  const auto s = GetEnum<Status>(r, static_cast<std::uint64_t>(Status::kLoggedOut));
  return s;
}

enum class NodeKind : std::uint8_t { kTenant, kDn, kAgent, kPlace, kGroup, kQueue };

}  // namespace

void Engine::Impl::Save(BinaryWriter& w) const {
  AttrsWriter attrs;
  w.U64(catalog.size());
  for (const CatalogEntry& e : catalog) {
    w.Str(e.name);
    AttrsWriter::PutKv(w, e.fields);
  }
  w.I64(now);
  w.U64(next_handle);
  w.U64(next_seq);
  w.U64(counters.events_applied);
  w.U64(counters.events_ignored);
  w.U64(counters.notifications);

  auto put_node = [&](const Node& n) {
    size_t present = 0;
    for (const auto& inst : n.catalog) present += inst ? 1 : 0;
    w.U64(present);
    for (size_t i = 0; i < n.catalog.size(); ++i) {
      const Instance* inst = n.catalog[i].get();
      if (inst == nullptr) continue;
      w.U64(i);
      const size_t section = w.BeginSection();
      inst->stat.Save(w);
      w.EndSection(section);
      w.U64(inst->subs.size());
      for (std::uint64_t h : inst->subs) w.U64(h);
    }
  };
  auto put_action = [&](const ActionRec& a) {
    w.U64(a.key);
    w.U64(static_cast<std::uint64_t>(a.kind));
    w.I64(a.start);
    attrs.Put(w, a.attrs);
    w.I64(a.agent);
  };
  auto put_opt_action = [&](const std::optional<ActionRec>& a) {
    w.Bool(a.has_value());
    if (a) put_action(*a);
  };

  w.U64(tenants.size());
  for (const auto& tp : tenants) {
    const Tenant& T = *tp;
    w.Str(T.name);
    w.Str(T.zone != nullptr ? std::string(T.zone->name()) : std::string());
    w.U64(T.next_key);
    put_node(T.node);
    w.U64(T.dns.size());
    for (const auto& dp : T.dns) {
      const Dn& d = *dp;
      w.Str(d.number);
      w.Str(d.switch_id);
      w.I64(d.place);
      w.I64(d.agent);
      w.Bool(d.monitored);
      w.I64(d.last_event);
      put_opt_action(d.logged_in);
      put_opt_action(d.mode);
      put_opt_action(d.hook);
      w.U64(d.calls.size());
      for (const Call& c : d.calls) {
        w.Str(c.conn);
        w.U64(static_cast<std::uint64_t>(c.state));
        w.U64(static_cast<std::uint64_t>(c.type));
        put_action(c.main);
        put_opt_action(c.hold);
        w.I64(c.ring_start);
        w.I64(c.established);
        attrs.Put(w, c.attrs);
      }
      w.U64(static_cast<std::uint64_t>(d.status));
      w.I64(d.status_start);
      attrs.Put(w, d.status_attrs);
      put_node(d.node);
    }
    auto put_member = [&](const auto& m) {
      w.Str(m.node.id);
      PutInts(w, m.dns);
      PutInts(w, m.groups);
      w.U64(static_cast<std::uint64_t>(m.status));
      w.I64(m.status_start);
      attrs.Put(w, m.status_attrs);
      put_node(m.node);
    };
    w.U64(T.agents.size());
    for (const auto& a : T.agents) put_member(*a);
    w.U64(T.places.size());
    for (const auto& p : T.places) put_member(*p);
    w.U64(T.groups.size());
    for (const auto& gp : T.groups) {
      const Group& g = *gp;
      w.U64(static_cast<std::uint64_t>(g.node.type));
      w.Str(g.node.id);
      PutInts(w, g.members);
      for (int c : g.counts) w.I64(c);
      w.U64(static_cast<std::uint64_t>(g.status));
      w.I64(g.status_start);
      put_node(g.node);
    }
    w.U64(T.queues.size());
    for (const auto& qp : T.queues) {
      const Queue& q = *qp;
      w.U64(static_cast<std::uint64_t>(q.node.type));
      w.Str(q.number);
      w.Str(q.switch_id);
      PutInts(w, q.groups);
      w.Bool(q.monitored);
      w.I64(q.last_event);
      // Sorted, so equal states give equal bytes.
      std::vector<const std::pair<const std::string, ActionRec>*> waiting;
      for (const auto& kv : q.waiting) waiting.push_back(&kv);
      std::sort(waiting.begin(), waiting.end(),
                [](const auto* a, const auto* b) { return a->first < b->first; });
      w.U64(waiting.size());
      for (const auto* kv : waiting) {
        w.Str(kv->first);
        put_action(kv->second);
      }
      put_node(q.node);
    }
    std::map<std::string, const std::vector<int>*> conns;
    for (const auto& [conn, dns] : T.conn_dns) conns[conn] = &dns;
    w.U64(conns.size());
    for (const auto& [conn, dns] : conns) {
      w.Str(conn);
      PutInts(w, *dns);
    }
    std::map<std::string, PendingAnswer> answers(T.pending_answers.begin(),
                                                 T.pending_answers.end());
    w.U64(answers.size());
    for (const auto& [conn, pa] : answers) {
      w.Str(conn);
      w.I64(pa.queue);
      w.I64(pa.entered);
    }
  }

  // Where a subscriber's instance lives.
  auto locate = [&](const Instance& inst, std::uint64_t& tenant, NodeKind& kind) {
    for (size_t ti = 0; ti < tenants.size(); ++ti) {
      if (tenants[ti].get() == inst.tenant) tenant = ti;
    }
    switch (inst.node->type) {
      case ObjectType::kTenant: kind = NodeKind::kTenant; break;
      case ObjectType::kRegDN: kind = NodeKind::kDn; break;
      case ObjectType::kAgent: kind = NodeKind::kAgent; break;
      case ObjectType::kPlace: kind = NodeKind::kPlace; break;
      case ObjectType::kGroupAgents:
      case ObjectType::kGroupPlaces:
      case ObjectType::kGroupQueues: kind = NodeKind::kGroup; break;
      case ObjectType::kQueue:
      case ObjectType::kRoutePoint: kind = NodeKind::kQueue; break;
    }
  };
  std::vector<const Subscriber*> ordered;
  for (const auto& [h, sp] : subs) ordered.push_back(sp.get());
  std::sort(ordered.begin(), ordered.end(),
            [](const Subscriber* a, const Subscriber* b) { return a->handle < b->handle; });
  w.U64(ordered.size());
  for (const Subscriber* sp : ordered) {
    const Subscriber& s = *sp;
    std::uint64_t tenant = 0;
    NodeKind kind = NodeKind::kTenant;
    locate(*s.inst, tenant, kind);
    w.U64(s.handle);
    w.U64(tenant);
    w.U64(static_cast<std::uint64_t>(kind));
    w.I64(s.inst->node->index);
    w.Bool(s.owned != nullptr);
    if (s.owned) {
      AttrsWriter::PutKv(w, *s.source);
      const size_t section = w.BeginSection();
      s.owned->stat.Save(w);
      w.EndSection(section);
    } else {
      const auto& cat = s.inst->node->catalog;
      size_t index = 0;
      for (size_t i = 0; i < cat.size(); ++i) {
        if (cat[i].get() == s.inst) index = i;
      }
      w.U64(index);
    }
    w.U64(static_cast<std::uint64_t>(s.mode));
    w.I64(s.frequency_ms);
    w.F64(s.insensitivity);
    w.Bool(s.sent);
    w.F64(s.last.number);
    w.I64(s.last.int_value);
    w.Str(s.last.string_value);
    w.I64(s.last.timestamp);
    w.I64(s.last.interval_length_s);
  }
  std::vector<Timer> pending;
  auto copy = timers;
  while (!copy.empty()) {
    pending.push_back(copy.top());
    copy.pop();
  }
  w.U64(pending.size());
  for (const Timer& t : pending) {
    w.I64(t.time);
    w.U64(t.seq);
    w.U64(t.handle);
    w.Bool(t.periodic);
  }
}

Result<void> Engine::Impl::Load(BinaryReader& r, std::vector<std::string>& notes) {
  auto bad = [&](const std::string& what) -> Result<void> {
    return Error{Errc::kInvalidArgument, "engine snapshot: " + what};
  };
  // Saved catalog index → index in the current catalog (same name and fields), or -1.
  std::vector<int> cat_map(r.Count(2), -1);
  for (size_t i = 0; i < cat_map.size(); ++i) {
    const std::string name = r.Str();
    const KeyValues fields = AttrsReader::GetKv(r);
    for (size_t j = 0; j < catalog.size(); ++j) {
      if (catalog[j].name != name) continue;
      if (catalog[j].fields == fields) {
        cat_map[i] = static_cast<int>(j);
      } else {
        notes.push_back("catalog statistic '" + name +
                        "' changed since the snapshot: it starts accumulating again now");
      }
    }
  }
  now = r.I64();
  next_handle = r.U64();
  next_seq = r.U64();
  counters = EngineCounters{};
  counters.events_applied = r.U64();
  counters.events_ignored = r.U64();
  counters.notifications = r.U64();
  if (!r.Ok()) return bad("truncated header");

  AttrsReader attrs;
  std::uint64_t dropped_stats = 0;
  auto get_node = [&](Tenant& T, Node& n) -> bool {
    n.catalog.resize(T.catalog_defs.size());
    const size_t present = r.Count(3);
    for (size_t k = 0; k < present; ++k) {
      const std::uint64_t saved = r.U64();
      const std::string_view blob = r.Section();
      std::vector<std::uint64_t> handles(r.Count());
      for (auto& h : handles) h = r.U64();
      if (!r.Ok() || saved >= cat_map.size()) return false;
      const int j = cat_map[saved];
      if (j < 0 || !T.catalog_defs[j] || !AppliesTo(*T.catalog_defs[j], n.type)) {
        ++dropped_stats;
        continue;
      }
      auto inst = std::make_unique<Instance>(T.catalog_defs[j], now, &T, &n);
      BinaryReader sr(blob);
      if (!inst->stat.Load(sr) || !sr.AtEnd()) return false;
      inst->subs = std::move(handles);
      n.catalog[j] = std::move(inst);
      Register(*n.catalog[j], now, false);
      ++counters.catalog_statistics;
    }
    return r.Ok();
  };
  auto get_action = [&](ActionRec& a) {
    a.key = r.U64();
    a.kind = GetEnum<Action>(r, kActionCount - 1);
    a.start = r.I64();
    a.attrs = attrs.Get(r);
    a.agent = static_cast<int>(r.I64());
    if (!a.attrs) r.Fail();  // actions always carry attributes
  };
  auto get_opt_action = [&](std::optional<ActionRec>& a) {
    if (!r.Bool()) return;
    a.emplace();
    get_action(*a);
  };

  const size_t n_tenants = r.Count(4);
  for (size_t ti = 0; ti < n_tenants && r.Ok(); ++ti) {
    auto tp = std::make_unique<Tenant>();
    Tenant& T = *tp;
    T.name = r.Str();
    const std::string zone = r.Str();
    if (!zone.empty()) {
      T.zone = FindZone(zone);
      if (T.zone == nullptr)
        return bad("tenant '" + T.name + "': unknown time zone '" + zone + "'");
    }
    T.next_key = r.U64();
    T.node.type = ObjectType::kTenant;
    T.node.id = T.name;
    if (tenant_by_name.count(T.name) != 0) return bad("tenant '" + T.name + "' twice");
    tenant_by_name[T.name] = &T;
    tenants.push_back(std::move(tp));
    ParseCatalogFor(T);
    if (!get_node(T, T.node)) return bad("tenant '" + T.name + "': damaged statistics");

    const size_t n_dns = r.Count(8);
    for (size_t i = 0; i < n_dns && r.Ok(); ++i) {
      auto dp = std::make_unique<Dn>();
      Dn& d = *dp;
      d.number = r.Str();
      d.switch_id = r.Str();
      d.place = static_cast<int>(r.I64());
      d.agent = static_cast<int>(r.I64());
      d.monitored = r.Bool();
      d.last_event = r.I64();
      get_opt_action(d.logged_in);
      get_opt_action(d.mode);
      get_opt_action(d.hook);
      d.calls.resize(r.Count(8));
      for (Call& c : d.calls) {
        c.conn = r.Str();
        c.state = GetEnum<CallState>(r, static_cast<std::uint64_t>(CallState::kEstablished));
        c.type = GetEnum<CallType>(r, static_cast<std::uint64_t>(CallType::kConsult));
        get_action(c.main);
        get_opt_action(c.hold);
        c.ring_start = r.I64();
        c.established = r.I64();
        c.attrs = attrs.Get(r);
      }
      d.status = GetStatus(r);
      d.status_start = r.I64();
      d.status_attrs = attrs.Get(r);
      d.node.type = ObjectType::kRegDN;
      d.node.id = d.number + "@" + d.switch_id;
      d.node.index = static_cast<int>(T.dns.size());
      T.dn_by_key[d.node.id] = d.node.index;
      T.dn_keys_by_number[d.number].push_back(d.node.id);
      T.dns.push_back(std::move(dp));
      ++counters.objects;
      if (!get_node(T, d.node)) return bad("DN '" + d.node.id + "': damaged statistics");
    }
    auto get_member = [&](auto& m, ObjectType type, std::unordered_map<std::string, int>& by_id,
                          size_t index) -> bool {
      m.node.type = type;
      m.node.id = r.Str();
      m.node.index = static_cast<int>(index);
      m.dns = GetInts(r);
      m.groups = GetInts(r);
      m.status = GetStatus(r);
      m.status_start = r.I64();
      m.status_attrs = attrs.Get(r);
      by_id[m.node.id] = m.node.index;
      ++counters.objects;
      return get_node(T, m.node);
    };
    const size_t n_agents = r.Count(6);
    for (size_t i = 0; i < n_agents && r.Ok(); ++i) {
      T.agents.push_back(std::make_unique<Agent>());
      if (!get_member(*T.agents.back(), ObjectType::kAgent, T.agent_by_id, i)) {
        return bad("agent " + std::to_string(i) + ": damaged statistics");
      }
    }
    const size_t n_places = r.Count(6);
    for (size_t i = 0; i < n_places && r.Ok(); ++i) {
      T.places.push_back(std::make_unique<Place>());
      if (!get_member(*T.places.back(), ObjectType::kPlace, T.place_by_id, i)) {
        return bad("place " + std::to_string(i) + ": damaged statistics");
      }
    }
    const size_t n_groups = r.Count(28);
    for (size_t i = 0; i < n_groups && r.Ok(); ++i) {
      auto gp = std::make_unique<Group>();
      Group& g = *gp;
      g.node.type = GetEnum<ObjectType>(r, static_cast<std::uint64_t>(ObjectType::kTenant));
      g.node.id = r.Str();
      g.node.index = static_cast<int>(i);
      g.members = GetInts(r);
      for (int& c : g.counts) c = static_cast<int>(r.I64());
      g.status = GetStatus(r);
      g.status_start = r.I64();
      T.group_by_name[{static_cast<int>(g.node.type), g.node.id}] = g.node.index;
      T.groups.push_back(std::move(gp));
      ++counters.objects;
      if (!get_node(T, g.node)) return bad("group '" + g.node.id + "': damaged statistics");
    }
    const size_t n_queues = r.Count(7);
    for (size_t i = 0; i < n_queues && r.Ok(); ++i) {
      auto qp = std::make_unique<Queue>();
      Queue& q = *qp;
      q.node.type = GetEnum<ObjectType>(r, static_cast<std::uint64_t>(ObjectType::kTenant));
      q.number = r.Str();
      q.switch_id = r.Str();
      q.node.id = q.number + "@" + q.switch_id;
      q.node.index = static_cast<int>(i);
      q.groups = GetInts(r);
      q.monitored = r.Bool();
      q.last_event = r.I64();
      const size_t waiting = r.Count(5);
      for (size_t k = 0; k < waiting && r.Ok(); ++k) {
        std::string conn = r.Str();
        get_action(q.waiting[conn]);
      }
      T.queue_by_key[q.node.id] = q.node.index;
      T.queue_keys_by_number[q.number].push_back(q.node.id);
      T.queues.push_back(std::move(qp));
      ++counters.objects;
      if (!get_node(T, q.node)) return bad("queue '" + q.node.id + "': damaged statistics");
    }
    const size_t n_conns = r.Count(2);
    for (size_t i = 0; i < n_conns && r.Ok(); ++i) {
      std::string conn = r.Str();
      T.conn_dns[conn] = GetInts(r);
    }
    const size_t n_answers = r.Count(3);
    for (size_t i = 0; i < n_answers && r.Ok(); ++i) {
      std::string conn = r.Str();
      PendingAnswer pa;
      pa.queue = static_cast<int>(r.I64());
      pa.entered = r.I64();
      T.pending_answers[conn] = pa;
    }
    if (!r.Ok()) return bad("tenant '" + T.name + "': truncated");
    // Cross references must point inside the tenant.
    auto in = [](int i, size_t n) { return i >= -1 && i < static_cast<int>(n); };
    auto all_in = [](const std::vector<int>& v, size_t n) {
      return std::all_of(v.begin(), v.end(),
                         [n](int i) { return i >= 0 && i < static_cast<int>(n); });
    };
    for (const auto& d : T.dns) {
      if (!in(d->place, T.places.size()) || !in(d->agent, T.agents.size())) {
        return bad("DN '" + d->node.id + "': bad references");
      }
    }
    for (const auto& a : T.agents) {
      if (!all_in(a->dns, T.dns.size()) || !all_in(a->groups, T.groups.size())) {
        return bad("agent '" + a->node.id + "': bad references");
      }
    }
    for (const auto& p : T.places) {
      if (!all_in(p->dns, T.dns.size()) || !all_in(p->groups, T.groups.size())) {
        return bad("place '" + p->node.id + "': bad references");
      }
    }
    for (const auto& g : T.groups) {
      const size_t n = g->node.type == ObjectType::kGroupAgents   ? T.agents.size()
                       : g->node.type == ObjectType::kGroupPlaces ? T.places.size()
                                                                  : T.queues.size();
      if (!all_in(g->members, n)) return bad("group '" + g->node.id + "': bad references");
    }
    for (const auto& q : T.queues) {
      if (!all_in(q->groups, T.groups.size())) return bad("queue '" + q->node.id + "': bad refs");
    }
    for (const auto& [conn, dns] : T.conn_dns) {
      if (!all_in(dns, T.dns.size())) return bad("call '" + conn + "': bad references");
    }
    for (const auto& [conn, pa] : T.pending_answers) {
      if (!in(pa.queue, T.queues.size())) return bad("call '" + conn + "': bad references");
    }
  }
  if (!r.Ok()) return bad("truncated objects");

  auto find_node = [&](Tenant& T, NodeKind kind, std::int64_t i) -> Node* {
    auto at = [&](auto& v) -> Node* {
      return i >= 0 && i < static_cast<std::int64_t>(v.size()) ? &v[i]->node : nullptr;
    };
    switch (kind) {
      case NodeKind::kTenant: return &T.node;
      case NodeKind::kDn: return at(T.dns);
      case NodeKind::kAgent: return at(T.agents);
      case NodeKind::kPlace: return at(T.places);
      case NodeKind::kGroup: return at(T.groups);
      case NodeKind::kQueue: return at(T.queues);
    }
    return nullptr;
  };
  std::uint64_t dropped_subs = 0;
  const size_t n_subs = r.Count(8);
  for (size_t i = 0; i < n_subs && r.Ok(); ++i) {
    auto s = std::make_unique<Subscriber>();
    s->handle = r.U64();
    const std::uint64_t ti = r.U64();
    const auto kind = GetEnum<NodeKind>(r, static_cast<std::uint64_t>(NodeKind::kQueue));
    const std::int64_t ni = r.I64();
    const bool owned = r.Bool();
    if (!r.Ok() || ti >= tenants.size()) return bad("subscriber: bad tenant");
    Tenant& T = *tenants[ti];
    Node* node = find_node(T, kind, ni);
    if (node == nullptr) return bad("subscriber " + std::to_string(s->handle) + ": bad object");
    if (owned) {
      s->source = Source(AttrsReader::GetKv(r));
      const std::string_view blob = r.Section();
      auto def = ParseDefinition(*s->source, T.zone);
      if (!def || !CheckApplicable(*def, node->type)) {
        return bad("subscriber " + std::to_string(s->handle) + ": definition no longer valid");
      }
      auto shared = std::make_shared<const Definition>(std::move(*def));
      s->owned = std::make_unique<Instance>(shared, now, &T, node);
      BinaryReader sr(blob);
      if (!s->owned->stat.Load(sr) || !sr.AtEnd()) {
        return bad("subscriber " + std::to_string(s->handle) + ": damaged statistic");
      }
      s->owned->subs.push_back(s->handle);
      s->inst = s->owned.get();
      Register(*s->owned, now, false);
    } else {
      const std::uint64_t saved = r.U64();
      const int j = saved < cat_map.size() ? cat_map[saved] : -1;
      s->inst = j >= 0 && static_cast<size_t>(j) < node->catalog.size() ? node->catalog[j].get()
                                                                        : nullptr;
    }
    s->mode =
        GetEnum<NotificationMode>(r, static_cast<std::uint64_t>(NotificationMode::kNoNotification));
    s->frequency_ms = r.I64();
    s->insensitivity = r.F64();
    s->sent = r.Bool();
    s->last.number = r.F64();
    s->last.int_value = r.I64();
    s->last.string_value = r.Str();
    s->last.timestamp = r.I64();
    s->last.interval_length_s = r.I64();
    if (s->inst == nullptr) {
      ++dropped_subs;  // its catalog statistic changed or is gone
      continue;
    }
    ++counters.open_statistics;
    const std::uint64_t h = s->handle;
    if (!subs.emplace(h, std::move(s)).second) return bad("subscriber handle twice");
  }
  const size_t n_timers = r.Count(4);
  for (size_t i = 0; i < n_timers && r.Ok(); ++i) {
    Timer t{};
    t.time = r.I64();
    t.seq = r.U64();
    t.handle = r.U64();
    t.periodic = r.Bool();
    timers.push(t);
  }
  if (!r.Ok() || !r.AtEnd()) return bad("truncated or trailing bytes");

  // Every handle an instance lists has its subscriber (or the subscriber was dropped).
  auto check_subs = [&](Node& n) {
    for (auto& inst : n.catalog) {
      if (!inst) continue;
      auto& list = inst->subs;
      list.erase(std::remove_if(list.begin(), list.end(),
                                [&](std::uint64_t h) { return subs.count(h) == 0; }),
                 list.end());
    }
  };
  for (auto& T : tenants) {
    check_subs(T->node);
    for (auto& x : T->dns) check_subs(x->node);
    for (auto& x : T->agents) check_subs(x->node);
    for (auto& x : T->places) check_subs(x->node);
    for (auto& x : T->groups) check_subs(x->node);
    for (auto& x : T->queues) check_subs(x->node);
  }
  // Catalog statistics the snapshot did not have (new or changed in the catalog) start now.
  for (auto& tp : tenants) {
    Tenant& T = *tp;
    auto fill = [&](Node& n) {
      for (size_t j = 0; j < T.catalog_defs.size(); ++j) {
        const auto& def = T.catalog_defs[j];
        if (n.catalog[j] || !def || !AppliesTo(*def, n.type)) continue;
        n.catalog[j] = std::make_unique<Instance>(def, now, &T, &n);
        Register(*n.catalog[j], now);
        ++counters.catalog_statistics;
      }
    };
    fill(T.node);
    for (auto& x : T.dns) fill(x->node);
    for (auto& x : T.agents) fill(x->node);
    for (auto& x : T.places) fill(x->node);
    for (auto& x : T.groups) fill(x->node);
    for (auto& x : T.queues) fill(x->node);
  }
  if (dropped_stats > 0 || dropped_subs > 0) {
    notes.push_back(std::to_string(dropped_stats) +
                    " saved catalog statistics are no longer in the catalog; " +
                    std::to_string(dropped_subs) + " subscribed statistics were closed");
  }
  return {};
}

std::string Engine::Save() const {
  BinaryWriter w;
  // About 100 bytes per statistic: one allocation instead of a doubling series.
  w.Reserve(static_cast<size_t>(impl_->counters.catalog_statistics + impl_->subs.size()) * 100 +
            4096);
  impl_->Save(w);
  return w.Take();
}

Result<std::vector<std::string>> Engine::Load(std::string_view data) {
  auto fresh = std::make_unique<Impl>();
  fresh->catalog = impl_->catalog;
  BinaryReader r(data);
  std::vector<std::string> notes;
  auto loaded = fresh->Load(r, notes);
  if (!loaded) return loaded.error();
  impl_ = std::move(fresh);
  return notes;
}

}  // namespace tally::stats
