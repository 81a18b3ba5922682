// The snapshot codec of the engine: the whole state as bytes and back
// (docs/on_disk_format.md#snapshots), bounds-checked on load and never trusted.
// Threading: single-threaded (Engine::Impl).
#include <date/tz.h>

#include "stats/engine_impl.h"

namespace tally::stats {

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

// The engine section of a snapshot starts with this magic and its format version, so a snapshot
// of another layout is refused by name, never misread. Version 1 had no header; 3 added the
// length of the interval before the last reset; 4 made time and timers per tenant; 5 saves each
// accumulator in its compact shape (statistic.h), only the parts its category keeps; 6 adds each
// group's late members (5 is still read: no group had any).
constexpr std::string_view kEngineMagic = "tally.engine";
constexpr std::uint64_t kEngineFormat = 6;  // 6: groups' late members (a live reload)
constexpr std::uint64_t kOldestEngineFormat = 5;

// A time read from a snapshot: outside the valid range it marks the input as malformed and
// remembers the first such value for the error message.
struct TimeReader {
  BinaryReader& r;
  std::optional<TimeMs> bad;
  TimeMs operator()() {
    const TimeMs t = r.I64();
    if (!IsValidEventTime(t)) {
      if (!bad) bad = t;
      r.Fail();
      return kMinEventTime;
    }
    return t;
  }
};

}  // namespace

void Engine::Impl::Save(BinaryWriter& w) const {
  AttrsWriter attrs;
  w.Str(kEngineMagic);
  w.U64(kEngineFormat);
  w.U64(catalog.size());
  for (const CatalogEntry& e : catalog) {
    w.Str(e.name);
    AttrsWriter::PutKv(w, e.fields);
  }
  w.U64(notifier.NextHandle());
  w.U64(notifier.NextSeq());
  w.U64(counters.events_applied);
  w.U64(counters.events_ignored);
  w.U64(notifier.Sent());

  // The catalog statistics of a node that keep state, each as its catalog index and its
  // accumulator (state trees and ledger readers have none; ledgers are rebuilt on load).
  const Tenant* tenant = nullptr;
  auto put_node = [&](const Node& n) {
    const Layout& L = tenant->LayoutOf(n);
    auto saved = [&](size_t i) { return L.slots[i].Stateful() && !L.Derived(n, SlotIndex(i)); };
    size_t present = 0;
    for (size_t i = 0; i < L.slots.size(); ++i) present += saved(i) ? 1 : 0;
    w.U64(present);
    for (size_t i = 0; i < L.slots.size(); ++i) {
      if (!saved(i)) continue;
      const Slot& slot = L.slots[i];
      w.U64(static_cast<std::uint64_t>(slot.catalog));
      const size_t section = w.BeginSection();
      StatRef(*slot.shape, n.block.get() + slot.offset).Save(w);
      w.EndSection(section);
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
    tenant = &T;
    w.Str(T.name);
    w.Str(T.zone != nullptr ? std::string(T.zone->name()) : std::string());
    w.I64(T.now);
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
      w.U64(static_cast<std::uint64_t>(d.node.status));
      w.I64(d.node.status_start);
      attrs.Put(w, d.node.status_attrs);
      put_node(d.node);
    }
    auto put_member = [&](const auto& m) {
      w.Str(m.node.id);
      PutInts(w, m.dns);
      PutInts(w, m.groups);
      w.U64(static_cast<std::uint64_t>(m.node.status));
      w.I64(m.node.status_start);
      attrs.Put(w, m.node.status_attrs);
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
      w.U64(static_cast<std::uint64_t>(g.node.status));
      w.I64(g.node.status_start);
      w.Bool(g.node.derive);
      w.U64(g.original);
      w.I64(g.late);
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

  // Where a subscriber's statistic lives.
  auto locate = [&](const Tenant* t, const Node& node, std::uint64_t& tenant_index,
                    NodeKind& kind) {
    for (size_t ti = 0; ti < tenants.size(); ++ti) {
      if (tenants[ti].get() == t) tenant_index = ti;
    }
    switch (node.type) {
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
  auto put_memo = [&](const ResetMemo& m) {
    w.F64(m.value);
    w.I64(m.interval_s);
  };
  std::vector<std::pair<std::uint64_t, const Subscription*>> ordered;
  for (const auto& [h, s] : notifier.All()) ordered.emplace_back(h, &s);
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  w.U64(ordered.size());
  for (const auto& [handle, sp] : ordered) {
    const Subscription& s = *sp;
    std::uint64_t tenant_index = 0;
    NodeKind kind = NodeKind::kTenant;
    AdHoc* a = AdHocOf(s.source);
    const auto* cat = a == nullptr ? static_cast<const CatalogSource*>(s.source) : nullptr;
    const Node& node = a != nullptr ? *a->node : *cat->node;
    locate(a != nullptr ? a->tenant : cat->tenant, node, tenant_index, kind);
    w.U64(handle);
    w.U64(tenant_index);
    w.U64(static_cast<std::uint64_t>(kind));
    w.I64(node.index);
    w.Bool(a != nullptr);
    if (a != nullptr) {
      AttrsWriter::PutKv(w, a->def->fields);
      const size_t section = w.BeginSection();
      a->Stat().Save(w);
      w.EndSection(section);
      const ResetMemo* memo = a->Memo();
      put_memo(memo != nullptr ? *memo : ResetMemo{});
    } else {
      w.U64(static_cast<std::uint64_t>(cat->tenant->LayoutOf(node).slots[cat->slot].catalog));
      put_memo(cat->memo);
    }
    w.U64(static_cast<std::uint64_t>(s.settings.mode));
    w.I64(s.settings.frequency_ms);
    w.F64(s.settings.insensitivity);
    w.Bool(s.sent);
    w.F64(s.last);
  }
  // Timers of every tenant, each with its tenant's index, in firing order per tenant.
  // (The notifier's clock of a tenant is its index.)
  const auto pending = notifier.Timers();
  w.U64(pending.size());
  for (const auto& [ti, t] : pending) {
    w.U64(static_cast<std::uint64_t>(ti));
    w.I64(t.time);
    w.U64(t.seq);
    w.U64(t.handle);
    w.Bool(t.periodic);
  }
}

Result<void> Engine::Impl::Load(BinaryReader& r, std::vector<std::string>& notes,
                                bool adopt_catalog) {
  TimeReader time{r, std::nullopt};
  auto bad = [&](const std::string& what) -> Result<void> {
    if (time.bad) {
      return Error{Errc::kInvalidArgument,
                   "engine snapshot: " + what + ": " + TimeOutOfRange("", *time.bad).message};
    }
    return Error{Errc::kInvalidArgument, "engine snapshot: " + what};
  };
  if (r.Str() != kEngineMagic) {
    return Error{Errc::kUnsupported,
                 "engine snapshot format version 1 is not supported by this build (it reads "
                 "version " +
                     std::to_string(kEngineFormat) + ")"};
  }
  const std::uint64_t format = r.U64();
  if (format < kOldestEngineFormat || format > kEngineFormat) {
    return Error{Errc::kUnsupported, "engine snapshot format version " + std::to_string(format) +
                                         " is not supported by this build (it reads versions " +
                                         std::to_string(kOldestEngineFormat) + " to " +
                                         std::to_string(kEngineFormat) + ")"};
  }
  // Saved catalog index → index in the current catalog (same name and fields), or -1.
  std::vector<int> cat_map(r.Count(2), -1);
  std::vector<CatalogEntry> saved_catalog;
  for (size_t i = 0; i < cat_map.size(); ++i) {
    const std::string name = r.Str();
    const KeyValues fields = AttrsReader::GetKv(r);
    if (adopt_catalog) {
      // The catalog the snapshot was taken under becomes the engine's (recovery: a later
      // reload record changes it at its own point).
      saved_catalog.push_back({name, fields});
      cat_map[i] = static_cast<int>(i);
      continue;
    }
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
  if (adopt_catalog) catalog = std::move(saved_catalog);
  const std::uint64_t next_handle = r.U64();
  const std::uint64_t next_seq = r.U64();
  counters = EngineCounters{};
  counters.events_applied = r.U64();
  counters.events_ignored = r.U64();
  notifier.RestoreCounters(next_handle, next_seq, r.U64());
  if (!r.Ok()) return bad("truncated header");

  AttrsReader attrs;
  std::uint64_t dropped_stats = 0;
  // Catalog statistics the snapshot did not have (new or changed in the catalog) start at the
  // snapshot's time: they are replayed once every object is loaded.
  struct Fresh {
    Tenant* tenant;
    Node* node;
    std::vector<std::uint16_t> slots;
  };
  std::vector<Fresh> fresh;
  auto get_node = [&](Tenant& T, Node& n) -> bool {
    InstantiateCatalog(T, n, T.now, false);
    n.created = INT64_MIN;  // its statistics started before the snapshot
    const Layout& L = T.LayoutOf(n);
    std::vector<bool> loaded(L.slots.size(), false);
    const size_t present = r.Count(5);
    for (size_t k = 0; k < present; ++k) {
      const std::uint64_t saved = r.U64();
      const std::string_view blob = r.Section();
      if (!r.Ok() || saved >= cat_map.size()) return false;
      const int j = cat_map[saved];
      const int slot = j < 0 ? -1 : L.slot_of[static_cast<size_t>(j)];
      if (slot < 0) {
        ++dropped_stats;
        continue;
      }
      const auto si = static_cast<size_t>(slot);
      if (loaded[si] || !L.slots[si].Stateful() || L.Derived(n, SlotIndex(si))) return false;
      loaded[si] = true;
      BinaryReader sr(blob);
      if (!SlotRef(L, n, SlotIndex(si)).Load(sr) || !sr.AtEnd()) return false;
    }
    std::vector<std::uint16_t> missing;
    for (size_t i = 0; i < L.slots.size(); ++i) {
      if (L.slots[i].Stateful() && !loaded[i] && !L.Derived(n, SlotIndex(i))) {
        missing.push_back(SlotIndex(i));
      }
    }
    fresh.push_back(Fresh{&T, &n, std::move(missing)});
    return r.Ok();
  };
  auto get_action = [&](ActionRec& a) {
    a.key = r.U64();
    a.kind = GetEnum<Action>(r, kActionCount - 1);
    a.start = time();
    a.attrs = attrs.Get(r);
    a.agent = static_cast<int>(r.I64());
    if (!a.attrs) r.Fail();  // actions always carry attributes
  };
  auto get_opt_action = [&](std::optional<ActionRec>& a) {
    if (!r.Bool()) return;
    a = ActionRec{};  // not emplace(): clang 14 finds the nested type not default-constructible
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
    T.now = time();
    T.next_key = r.U64();
    T.node.type = ObjectType::kTenant;
    T.node.id = T.name;
    if (tenant_by_name.count(T.name) != 0) return bad("tenant '" + T.name + "' twice");
    tenant_by_name[T.name] = &T;
    T.clock = static_cast<int>(tenants.size());
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
      d.last_event = time();
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
        c.ring_start = time();
        c.established = time();
        c.attrs = attrs.Get(r);
      }
      d.node.status = GetStatus(r);
      d.node.status_start = time();
      d.node.status_attrs = attrs.Get(r);
      d.node.type = ObjectType::kRegDN;
      d.node.id = d.number + "@" + d.switch_id;
      d.node.index = static_cast<int>(T.dns.size());
      T.dn_by_key[d.node.id] = d.node.index;
      T.where[d.node.id].dn = d.node.index;
      T.dn_keys_by_number[d.number].push_back(d.node.id);
      T.dns.push_back(std::move(dp));
      ++counters.objects;
      if (!get_node(T, d.node)) return bad("DN '" + d.node.id + "': damaged statistics");
    }
    auto get_member = [&](auto& m, ObjectType type, StringMap<int>& by_id, size_t index) -> bool {
      m.node.type = type;
      m.node.id = r.Str();
      m.node.index = static_cast<int>(index);
      m.dns = GetInts(r);
      m.groups = GetInts(r);
      m.node.status = GetStatus(r);
      m.node.status_start = time();
      m.node.status_attrs = attrs.Get(r);
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
      g.node.status = GetStatus(r);
      g.node.status_start = time();
      g.node.derive = r.Bool();
      if (format >= 6) {
        g.original = static_cast<std::uint32_t>(std::min<std::uint64_t>(r.U64(), Group::kAll));
        g.late = static_cast<int>(r.I64());
        if (g.late < -1 || g.late >= static_cast<int>(n_groups) || g.late == static_cast<int>(i)) {
          return bad("group '" + g.node.id + "': damaged late-member group");
        }
      }
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
      q.last_event = time();
      const size_t waiting = r.Count(5);
      for (size_t k = 0; k < waiting && r.Ok(); ++k) {
        std::string conn = r.Str();
        get_action(q.waiting[conn]);
      }
      T.queue_by_key[q.node.id] = q.node.index;
      T.where[q.node.id].queue = q.node.index;
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
      pa.entered = time();
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
  auto get_memo = [&](ResetMemo& m) {
    m.value = r.F64();
    m.interval_s = r.I64();
    if (m.interval_s < 0 || m.interval_s > kMaxEventTime / 1000) r.Fail();
  };
  const size_t n_subs = r.Count(8);
  for (size_t i = 0; i < n_subs && r.Ok(); ++i) {
    Subscription s;
    AdHocPtr made;
    NotifiedSource* source = nullptr;
    const std::uint64_t handle = r.U64();
    const std::uint64_t ti = r.U64();
    const auto kind = GetEnum<NodeKind>(r, static_cast<std::uint64_t>(NodeKind::kQueue));
    const std::int64_t ni = r.I64();
    const bool owned = r.Bool();
    if (!r.Ok() || ti >= tenants.size()) return bad("subscriber: bad tenant");
    Tenant& T = *tenants[ti];
    Node* node = find_node(T, kind, ni);
    if (node == nullptr) return bad("subscriber " + std::to_string(handle) + ": bad object");
    if (owned) {
      const KeyValues kv = AttrsReader::GetKv(r);
      const std::string_view blob = r.Section();
      auto def = ParsedAdHoc(kv, T.zone, node->type);
      if (!def || !CheckApplicable((*def)->shape.Def(), node->type)) {
        return bad("subscriber " + std::to_string(handle) + ": definition no longer valid");
      }
      made = MakeAdHoc(*std::move(def), T.now, &T, node);
      BinaryReader sr(blob);
      if (!made->Stat().Load(sr) || !sr.AtEnd()) {
        return bad("subscriber " + std::to_string(handle) + ": damaged statistic");
      }
      ResetMemo memo;
      get_memo(memo);
      if (ResetMemo* kept = made->Memo()) *kept = memo;
      Register(*made, T.now, false);
      source = made.get();
    } else {
      const std::uint64_t saved = r.U64();
      ResetMemo memo;
      get_memo(memo);
      const int j = saved < cat_map.size() ? cat_map[saved] : -1;
      const int slot = j < 0 ? -1 : T.LayoutOf(*node).slot_of[static_cast<size_t>(j)];
      if (slot >= 0) {
        CatalogSource& cs = SourceFor(T, *node, SlotIndex(static_cast<size_t>(slot)));
        if (cs.subscribers.empty()) cs.memo = memo;
        source = &cs;
      }
    }
    s.settings.mode =
        GetEnum<NotificationMode>(r, static_cast<std::uint64_t>(NotificationMode::kNoNotification));
    s.settings.frequency_ms = r.I64();
    s.settings.insensitivity = r.F64();
    if (s.settings.frequency_ms < 1) r.Fail();
    s.sent = r.Bool();
    s.last = r.F64();
    if (source == nullptr) {
      ++dropped_subs;  // its catalog statistic changed or is gone
      continue;
    }
    ++counters.open_statistics;
    s.source = source;
    s.clock = T.clock;
    if (!notifier.Restore(handle, s)) {
      if (made) Unregister(*made);
      return bad("subscriber handle twice");
    }
    source->subscribers.push_back(handle);
    (void)made.release();  // owned by its subscription
  }
  const size_t n_timers = r.Count(5);
  for (size_t i = 0; i < n_timers && r.Ok(); ++i) {
    const std::uint64_t ti = r.U64();
    if (ti >= tenants.size()) return bad("timer: bad tenant");
    NotifierTimer t{};
    t.time = time();
    t.seq = r.U64();
    t.handle = r.U64();
    t.periodic = r.Bool();
    notifier.RestoreTimer(static_cast<int>(ti), t);
  }
  if (!r.Ok() || !r.AtEnd()) return bad("truncated or trailing bytes");

  // Catalog statistics of a vanished subscription's object keep no view.
  for (auto& T : tenants) {
    auto drop_unused = [&](Node& n) {
      if (!n.extras) return;
      for (auto& src : n.extras->sources) {
        if (src && src->subscribers.empty()) src.reset();
      }
    };
    drop_unused(T->node);
    for (auto& x : T->dns) drop_unused(x->node);
    for (auto& x : T->agents) drop_unused(x->node);
    for (auto& x : T->places) drop_unused(x->node);
    for (auto& x : T->groups) drop_unused(x->node);
    for (auto& x : T->queues) drop_unused(x->node);
  }
  // Status ledgers are derived from the objects: rebuilt, not saved. Catalog statistics the
  // snapshot did not have start now.
  for (Fresh& f : fresh) ReplayCatalog(*f.tenant, *f.node, f.slots, true, f.tenant->now);
  if (dropped_stats > 0 || dropped_subs > 0) {
    notes.push_back(std::to_string(dropped_stats) +
                    " saved catalog statistics are no longer in the catalog; " +
                    std::to_string(dropped_subs) + " subscribed statistics were closed");
  }
  return {};
}

}  // namespace tally::stats
