// The public façade of the engine (stats::Engine, engine.h): argument checks, then the work
// done by Engine::Impl (engine_impl.h and its files).
// Threading: single-threaded (the engine thread).
#include "stats/engine.h"

#include <date/tz.h>

#include "stats/engine_impl.h"
#include "stats/key_interner.h"

namespace tally::stats {

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
  if (!IsValidEventTime(now)) return TimeOutOfRange("tenant '" + setup.name + "': ", now);
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
  // Create the tenant with its zone and time before the catalog is instantiated.
  auto tenant = std::make_unique<Impl::Tenant>();
  tenant->name = setup.name;
  tenant->now = now;
  tenant->zone = zone;
  tenant->node.type = ObjectType::kTenant;
  tenant->node.id = setup.name;
  Impl::Tenant& T = *tenant;
  T.clock = static_cast<int>(I.tenants.size());
  I.tenants.push_back(std::move(tenant));
  I.tenant_by_name[setup.name] = &T;
  I.ParseCatalogFor(T);
  I.InstantiateCatalog(T, T.node, now);
  std::vector<std::string> notes;
  return I.Populate(T, setup, now, false, notes);
}

Result<std::vector<std::string>> Engine::MergeTenant(const TenantSetup& setup, TimeMs now) {
  auto& I = *impl_;
  if (!IsValidEventTime(now)) return TimeOutOfRange("tenant '" + setup.name + "': ", now);
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
  now = std::max(now, T.now);
  T.now = now;
  auto r = I.Populate(T, setup, now, true, notes);
  if (!r) return r.error();
  return notes;
}

Result<std::vector<std::string>> Engine::Reconfigure(const std::vector<CatalogEntry>& catalog,
                                                     const TenantSetup& setup, TimeMs now) {
  std::vector<std::string> notes;
  if (catalog != impl_->catalog) {
    const std::vector<CatalogEntry> before = impl_->catalog;
    const std::string state = Save();  // under the catalog it was built with
    if (auto r = SetCatalog(catalog); !r) return r.error();
    auto loaded = Load(state);
    if (!loaded) {
      impl_->catalog = before;
      return loaded.error();
    }
    notes = std::move(*loaded);
    notes.push_back("the statistics catalog changed: " + std::to_string(before.size()) + " → " +
                    std::to_string(catalog.size()) + " statistics");
  }
  auto merged = MergeTenant(setup, std::max(now, Now(setup.name)));
  if (!merged) return merged.error();
  notes.insert(notes.end(), merged->begin(), merged->end());
  return notes;
}

const std::vector<CatalogEntry>& Engine::Catalog() const { return impl_->catalog; }

bool Engine::HasTenant(std::string_view name) const {
  return impl_->tenant_by_name.count(std::string(name)) != 0;
}

Result<void> Engine::Impl::CheckOrderAt(const Tenant& T, const Event& e, const Located& at,
                                        TimeMs time) {
  TimeMs last = -1;
  if (at.dn >= 0) last = T.dns[at.dn]->last_event;
  if (at.queue >= 0) last = std::max(last, T.queues[at.queue]->last_event);
  if (time < last) {
    // The key is built only here (the hot path finds the DN by its interned number).
    return Error{Errc::kOutOfOrder, "event for DN '" + OrderKey(e) + "' at " +
                                        std::to_string(time) +
                                        " ms is older than the last applied event of that DN (" +
                                        std::to_string(last) + " ms)"};
  }
  return {};
}

auto Engine::Impl::Locate(const Tenant& T, const Event& e) -> Located {
  Located at;
  if (e.this_dn.empty()) return at;
  at.exact = e.this_dn.find('@') == std::string::npos;
  if (e.key_id != 0 && e.key_id < places_by_key.size()) {
    const KeyPlace& p = places_by_key[e.key_id];
    if (p.tenant == &T && p.version == T.where_version + 1) {
      at.dn = p.dn;
      at.queue = p.queue;
      return at;
    }
  }
  OrderKeyInto(e, key_buf);
  if (auto w = T.where.find(std::string_view(key_buf)); w != T.where.end()) {
    at.dn = w->second.dn;
    at.queue = w->second.queue;
  }
  if (e.key_id != 0 && e.key_id <= KeyInterner::kMaxKeys) {
    if (places_by_key.size() <= e.key_id) {
      places_by_key.resize(std::max<size_t>(e.key_id + 1, places_by_key.size() * 2));
    }
    places_by_key[e.key_id] = KeyPlace{&T, T.where_version + 1, at.dn, at.queue};
  }
  return at;
}

Result<void> Engine::Apply(const Event& event, std::vector<Notification>& out) {
  auto& I = *impl_;
  if (!IsValidEventTime(event.time)) {
    return TimeOutOfRange(std::string(EventTypeName(event.type)) + ": ", event.time);
  }
  // The event's DN is found once: for the ordering rule and for applying it.
  Impl::Located at;
  const std::string_view tenant =
      event.tenant.empty() ? std::string_view("default") : std::string_view(event.tenant);
  Impl::Tenant* known = I.last_tenant;
  if (known == nullptr || known->name != tenant) {
    auto it = I.tenant_by_name.find(tenant);
    known = it != I.tenant_by_name.end() ? it->second : nullptr;
  }
  if (known != nullptr) {
    I.last_tenant = known;
    at = I.Locate(*known, event);
    auto order = Impl::CheckOrderAt(*known, event, at, event.time);
    if (!order) return order;
  }
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
  // Only the event's tenant moves (its time and its timers).
  Impl::Tenant& T =
      known != nullptr ? *known : I.GetOrCreateTenant(std::string(tenant), event.time);
  const TimeMs t = std::max(event.time, T.now);
  I.RunTimersUntil(T, t, out);
  auto r = I.ApplyEvent(T, event, t, at);
  ++I.counters.events_applied;
  I.notifier.Flush(out);
  return r;
}

Result<void> Engine::AdvanceTo(TimeMs now, std::vector<Notification>& out) {
  auto& I = *impl_;
  if (!IsValidEventTime(now)) return TimeOutOfRange("AdvanceTo: ", now);
  for (auto& T : I.tenants) I.RunTimersUntil(*T, now, out);
  I.notifier.Flush(out);
  return {};
}

TimeMs Engine::Now(std::string_view tenant) const {
  auto it = impl_->tenant_by_name.find(std::string(tenant));
  return it != impl_->tenant_by_name.end() ? it->second->now : LatestNow();
}

TimeMs Engine::LatestNow() const {
  TimeMs latest = kMinEventTime;
  for (const auto& T : impl_->tenants) latest = std::max(latest, T->now);
  return latest;
}

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
  const int slot = (*T)->LayoutOf(**node).slot_of[index];
  if (slot < 0) {
    return Error{Errc::kInvalidArgument, "statistic '" + std::string(name) +
                                             "' does not apply to " +
                                             std::string(ObjectTypeName(object.type))};
  }
  return Impl::SlotValue(**T, **node, Impl::SlotIndex(static_cast<size_t>(slot)), (*T)->now);
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
    const Impl::Layout& L = (*T)->LayoutOf(**node);
    const int slot = L.slot_of[i];
    if (slot < 0) {
      return Error{Errc::kInvalidArgument, "statistic '" + std::string(name) +
                                               "' does not apply to " +
                                               std::string(ObjectTypeName(object.type))};
    }
    const auto s = Impl::SlotIndex(static_cast<size_t>(slot));
    const StatValue initial = Impl::SlotValue(**T, **node, s, (*T)->now);
    Impl::CatalogSource& source = I.SourceFor(**T, **node, s);
    return I.Subscribe(**T, source, L.slots[s].shape->Def(), initial);
  }
  return Error{Errc::kNotFound, "statistic '" + std::string(name) + "' is not in the catalog"};
}

Result<Engine::Opened> Engine::OpenDefinition(std::string_view tenant, const KeyValues& definition,
                                              const ObjectRef& object) {
  auto& I = *impl_;
  auto T = I.TenantFor(tenant);
  if (!T) return T.error();
  auto def = I.ParsedAdHoc(definition, (*T)->zone, object.type);
  if (!def) return def.error();
  auto ok = CheckApplicable((*def)->shape.Def(), object.type);
  if (!ok) {
    def->reset();
    I.ReleaseParsed(definition, (*T)->zone, object.type);
    return ok.error();
  }
  auto node = I.FindNode(**T, object);
  if (!node) {
    def->reset();
    I.ReleaseParsed(definition, (*T)->zone, object.type);
    return node.error();
  }
  const TimeMs now = (*T)->now;
  Impl::AdHocPtr owned = Impl::MakeAdHoc(*std::move(def), now, *T, *node);
  Impl::AdHoc& a = *owned;
  I.Register(a, now);
  auto opened = I.Subscribe(**T, a, a.Def(), Impl::AdHocValue(a, now));
  if (!opened) {
    I.Unregister(a);
    return opened;
  }
  (void)owned.release();  // owned by its subscription from now on (Close)
  return opened;
}

void Engine::Close(std::uint64_t handle) {
  auto& I = *impl_;
  Subscription* s = I.notifier.Find(handle);
  if (s == nullptr) return;
  NotifiedSource* source = s->source;
  I.notifier.Unsubscribe(handle);
  if (Impl::AdHoc* a = Impl::AdHocOf(source)) {
    I.Unregister(*a);
    std::shared_ptr<const Impl::AdHocDef> def = a->def;
    Impl::AdHocDeleter()(a);
    const KeyValues fields = def->fields;
    const date::time_zone* zone = def->zone;
    const ObjectType type = def->type;
    def.reset();
    I.ReleaseParsed(fields, zone, type);
  } else {
    I.DropSourceIfUnused(static_cast<Impl::CatalogSource&>(*source));
  }
  --I.counters.open_statistics;
}

Result<StatValue> Engine::Get(std::uint64_t handle) {
  auto& I = *impl_;
  Subscription* s = I.notifier.Find(handle);
  if (s == nullptr) return Error{Errc::kNotFound, "no such statistic handle"};
  return s->source->ValueAt(s->source->Now());
}

Result<std::string> Engine::SaveStatistic(std::uint64_t handle) {
  auto& I = *impl_;
  Subscription* s = I.notifier.Find(handle);
  if (s == nullptr) return Error{Errc::kNotFound, "no such statistic handle"};
  Impl::AdHoc* a = Impl::AdHocOf(s->source);
  if (a == nullptr) return Error{Errc::kInvalidArgument, "not an ad-hoc statistic"};
  return Impl::SaveAdHocState(*a);
}

Result<void> Engine::LoadStatistic(std::uint64_t handle, std::string_view bytes,
                                   std::vector<Notification>& out) {
  auto& I = *impl_;
  Subscription* s = I.notifier.Find(handle);
  if (s == nullptr) return Error{Errc::kNotFound, "no such statistic handle"};
  Impl::AdHoc* a = Impl::AdHocOf(s->source);
  if (a == nullptr) return Error{Errc::kInvalidArgument, "not an ad-hoc statistic"};
  const std::string kept = Impl::SaveAdHocState(*a);
  if (!Impl::LoadAdHocState(*a, bytes)) {
    (void)Impl::LoadAdHocState(*a, kept);  // what it held is its own: it loads
    return Error{Errc::kInvalidArgument, "the statistic's state does not fit its definition"};
  }
  I.notifier.MarkDirty(*a);
  I.notifier.Flush(out);
  return {};
}

void Engine::SetObjectCreatedHook(std::function<void()> hook) {
  impl_->on_object_created = std::move(hook);
}

bool Engine::HasCatalogStatistic(std::string_view name) const {
  for (const auto& e : impl_->catalog) {
    if (e.name == name) return true;
  }
  return false;
}

EngineCounters Engine::Counters() const {
  EngineCounters c = impl_->counters;
  c.notifications = impl_->notifier.Sent();
  return c;
}

size_t Engine::ApproxStatisticBytes() const {
  size_t bytes = 0;
  const Impl::Tenant* tenant = nullptr;
  auto node_bytes = [&](const Impl::Node& n) {
    const Impl::Layout& L = tenant->LayoutOf(n);
    bytes += L.words * sizeof(std::uint64_t);
    for (const Impl::Slot& s : L.slots) {
      if (s.Stateful()) bytes += s.shape->HeapBytes(n.block.get() + s.offset);
    }
  };
  for (const auto& T : impl_->tenants) {
    tenant = T.get();
    node_bytes(T->node);
    for (const auto& x : T->dns) node_bytes(x->node);
    for (const auto& x : T->agents) node_bytes(x->node);
    for (const auto& x : T->places) node_bytes(x->node);
    for (const auto& x : T->groups) node_bytes(x->node);
    for (const auto& x : T->queues) node_bytes(x->node);
  }
  return bytes;
}

std::string Engine::Save() const {
  BinaryWriter w;
  // About 100 bytes per statistic: one allocation instead of a doubling series.
  w.Reserve(static_cast<size_t>(impl_->counters.catalog_statistics + impl_->notifier.Size()) * 100 +
            4096);
  impl_->Save(w);
  return w.Take();
}

Result<std::vector<std::string>> Engine::Load(std::string_view data, bool adopt_catalog) {
  auto fresh = std::make_unique<Impl>();
  fresh->catalog = impl_->catalog;
  BinaryReader r(data);
  std::vector<std::string> notes;
  auto loaded = fresh->Load(r, notes, adopt_catalog);
  if (!loaded) return loaded.error();
  impl_ = std::move(fresh);
  return notes;
}

// ---------------------------------------------------------------- glue of the impl

std::string Engine::Impl::SaveAdHocState(AdHoc& a) {
  BinaryWriter w;
  a.Stat().Save(w);
  const ResetMemo* memo = a.Memo();
  w.F64(memo != nullptr ? memo->value : 0);
  w.I64(memo != nullptr ? memo->interval_s : 0);
  return w.Take();
}

bool Engine::Impl::LoadAdHocState(AdHoc& a, std::string_view bytes) {
  const Shape& shape = a.def->shape;
  shape.Destroy(a.Words());
  shape.Init(a.Words(), a.tenant->now);
  BinaryReader r(bytes);
  if (!a.Stat().Load(r)) return false;
  ResetMemo memo;
  memo.value = r.F64();
  memo.interval_s = r.I64();
  if (!r.Ok() || !r.AtEnd() || memo.interval_s < 0 || memo.interval_s > kMaxEventTime / 1000) {
    return false;
  }
  if (ResetMemo* kept = a.Memo()) *kept = memo;
  return true;
}

Result<std::shared_ptr<const Engine::Impl::AdHocDef>> Engine::Impl::ParsedAdHoc(
    const KeyValues& kv, const date::time_zone* zone, ObjectType type) {
  auto& slot = parsed[{zone, type, kv}];
  if (auto alive = slot.lock()) return alive;
  auto def = ParseDefinition(kv, zone);
  if (!def) {
    parsed.erase({zone, type, kv});
    return def.error();
  }
  auto made = std::make_shared<const AdHocDef>(kv, zone, type,
                                               std::make_shared<const Definition>(std::move(*def)));
  slot = made;
  return made;
}

void Engine::Impl::ReleaseParsed(const KeyValues& kv, const date::time_zone* zone,
                                 ObjectType type) {
  auto it = parsed.find({zone, type, kv});
  if (it != parsed.end() && it->second.expired()) parsed.erase(it);
}

auto Engine::Impl::TenantFor(std::string_view name) -> Result<Tenant*> {
  auto it = tenant_by_name.find(std::string(name));
  if (it == tenant_by_name.end()) {
    return Error{Errc::kNotFound, "tenant '" + std::string(name) + "' is unknown"};
  }
  return it->second;
}

auto Engine::Impl::Subscribe(Tenant& T, NotifiedSource& source, const Definition& def,
                             StatValue initial) -> Result<Opened> {
  const NotificationSettings settings{def.mode, def.frequency_s * 1000, def.insensitivity};
  Opened o;
  o.value = std::move(initial);
  o.handle = notifier.Subscribe(source, T.clock, T.now, settings, o.value);
  ++counters.open_statistics;
  return o;
}

auto Engine::Impl::SourceFor(Tenant& T, Node& node, std::uint16_t slot) -> CatalogSource& {
  NodeExtras& x = node.Extras();
  if (x.sources.size() <= slot) x.sources.resize(T.LayoutOf(node).slots.size());
  auto& source = x.sources[slot];
  if (!source) source = std::make_unique<CatalogSource>(&T, &node, slot);
  return *source;
}

void Engine::Impl::DropSourceIfUnused(CatalogSource& source) {
  if (!source.subscribers.empty()) return;
  notifier.Forget(source);
  NodeExtras& x = *source.node->extras;
  x.sources[source.slot].reset();
}

Engine::Impl::~Impl() {
  for (const auto& [handle, s] : notifier.All()) {
    if (AdHoc* a = AdHocOf(s.source)) AdHocDeleter()(a);
  }
  for (auto& T : tenants) {
    auto destroy = [&](Node& n) { DestroyBlock(T->LayoutOf(n), n); };
    destroy(T->node);
    for (auto& x : T->dns) destroy(x->node);
    for (auto& x : T->agents) destroy(x->node);
    for (auto& x : T->places) destroy(x->node);
    for (auto& x : T->groups) destroy(x->node);
    for (auto& x : T->queues) destroy(x->node);
  }
}

}  // namespace tally::stats
