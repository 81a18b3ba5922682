// Engine::Impl: the engine's internal state and the functions its files share — the object
// model (tenants, DNs, agents, places, groups, queues, their ongoing actions and statuses), the
// catalog statistics laid out per object type, ad-hoc statistics, subscribers and timers.
// Internal to src/stats: only the engine's own .cc files include it. Where each part lives:
//   object_model.cc   creation and lookup of objects, propagation, status derivation
//   layout.cc         catalog layouts and subject plans per object type, derived groups,
//                     ad-hoc listeners, replay into new statistics, status ledgers
//   event_apply.cc    event semantics (actions started and ended by each event type)
//   state_tree.cc     values: numbers and CurrentState trees
//   notifier.h/.cc    Notifier: subscriptions, ShouldSend/insensitivity, dirty flush, timers
//   engine_snapshot.cc  the snapshot codec
//   engine.cc         the public façade (stats::Engine)
// Threading: single-threaded, like Engine (the engine thread owns it).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include "common/binary.h"
#include "common/string_hash.h"
#include "stats/definition.h"
#include "stats/engine.h"
#include "stats/notifier.h"
#include "stats/statistic.h"

namespace date {
class time_zone;
}

namespace tally::stats {

constexpr std::uint64_t kDnUnit = 1ull << 40;
constexpr std::uint64_t kAgentUnit = 2ull << 40;
constexpr std::uint64_t kPlaceUnit = 3ull << 40;
constexpr std::uint64_t kGroupUnit = 4ull << 40;

inline Error TimeOutOfRange(std::string_view what, TimeMs t) {
  return Error{Errc::kInvalidArgument,
               std::string(what) + "field 'time': " + std::to_string(t) +
                   " ms is outside the valid range " + std::to_string(kMinEventTime) + ".." +
                   std::to_string(kMaxEventTime) + " (1970-01-01 .. 9999-12-31T23:59:59.999Z)"};
}

inline std::string FormatNumber(double v) {
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

inline Action CallAction(CallType t) {
  switch (t) {
    case CallType::kInbound: return Action::kCallInbound;
    case CallType::kOutbound: return Action::kCallOutbound;
    case CallType::kInternal: return Action::kCallInternal;
    case CallType::kConsult: return Action::kCallConsult;
    case CallType::kUnknown: return Action::kCallUnknown;
  }
  return Action::kCallUnknown;
}

// Is an object of this type the only unit of this status subject (an agent's AgentStatus, a
// DN's DNStatus, a place's PlaceStatus, a group's GroupStatus)? Then its statistics of that
// subject need no unit keys, and its status ledger is the object's own status.
inline bool IsOneUnit(ObjectType type, Subject subject) {
  switch (subject) {
    case Subject::kAgentStatus: return type == ObjectType::kAgent;
    case Subject::kDNStatus: return type == ObjectType::kRegDN;
    case Subject::kPlaceStatus: return type == ObjectType::kPlace;
    case Subject::kGroupStatus:
      return type == ObjectType::kGroupAgents || type == ObjectType::kGroupPlaces;
    case Subject::kDNAction: return false;
  }
  return false;
}

// The engine's string-keyed maps: open addressing (one probe sequence, no node per entry), a
// transparent hash (a lookup by string_view builds no string).
template <typename V>
using StringMap = boost::unordered_flat_map<std::string, V, StringHash, std::equal_to<>>;

using UnitStatus = StatRef::UnitStatus;

struct Engine::Impl {
  struct Tenant;
  struct Node;

  // The status ledger of one subject of one node with several units: for each status, how many
  // of the node's units are in it now and the sum of their status starts. Shared by every
  // current catalog statistic of that node and subject without a filter (CurrentNumber,
  // CurrentTime, CurrentAverageTime, the CurrentRelative… percentages): they read it instead of
  // each re-deriving the statuses. Kept in the node's block (kLedgerWords words). A node that is
  // its subject's only unit has no ledger: its own status is read instead.
  static constexpr std::uint32_t kLedgerWords = 48;  // 32 counts (int32), 32 sums (int64)
  struct LedgerRef {
    std::uint64_t* w;
    [[nodiscard]] std::int32_t* Count() const { return reinterpret_cast<std::int32_t*>(w); }
    [[nodiscard]] std::int64_t* StartSum() const { return reinterpret_cast<std::int64_t*>(w + 16); }
    void Add(const UnitStatus& u, int sign) const {
      if (!u.present) return;
      Count()[static_cast<int>(u.status)] += sign;
      StartSum()[static_cast<int>(u.status)] += sign * u.start;
    }
  };
  // Units in `mask` now, and their Σ (now − start) in ms, from a node's ledger (or own status).
  [[nodiscard]] static std::int64_t LedgerCount(const Node& n, Subject s, std::uint32_t off,
                                                std::uint32_t mask);
  [[nodiscard]] static double LedgerTimeMs(const Node& n, Subject s, std::uint32_t off,
                                           std::uint32_t mask, TimeMs now);
  // Does this catalog definition read the ledger (see LedgerRef)?
  static bool UsesLedger(const Definition& def);

  // ---------------------------------------------------------------- catalog layouts

  // One catalog statistic as kept on every object of one type: its shape and where its words
  // are in each object's block.
  struct Slot {
    int catalog = -1;  // index in the catalog
    std::shared_ptr<const Shape> shape;
    std::uint32_t offset = 0;  // words into the block
    Subject subject = Subject::kDNAction;
    std::uint32_t main = 0;  // mask bits (actions or statuses by subject)
    std::uint32_t rel = 0;
    enum class Kind : std::uint8_t { kTree, kLedger, kFiltered, kKeyed } kind = Kind::kKeyed;
    [[nodiscard]] bool Stateful() const { return shape->Words() > 0 && kind != Kind::kLedger; }
  };
  // An unfiltered statistic in a subject plan: its mask bits next to it, so a scan touches no
  // slot.
  struct Keyed {
    std::uint32_t main;
    std::uint32_t rel;
    std::uint16_t slot;
    bool current;  // keeps the current set (Shape::TracksCurrent)
  };
  // The catalog statistics of one subject on one object type, by how a change reaches them.
  struct SubjectPlan {
    std::vector<std::uint16_t> trees;     // marked on every change (state trees; derived filtered)
    std::vector<std::uint16_t> filtered;  // called for every change (the filter decides)
    std::vector<Keyed> keyed;             // called when a change's bits are in their masks
    std::vector<Keyed> marked;  // only marked when a change's bits are in their masks (ledger
                                // readers, derived group statistics)
    bool ledger = false;        // a multi-unit ledger is kept at ledger_offset
    std::uint32_t ledger_offset = 0;
    // DNAction: by action kind, the slots an action start, end or instant calls, and those it
    // only marks (a historical statistic learns of an action when it ends).
    using ByAction = std::array<std::vector<std::uint16_t>, kActionCount>;
    ByAction on_start, on_end, on_instant, mark_start, mark_end, mark_instant;
    // Something here is called (else, without subscribers, a change has nothing to do).
    bool calls = false;
  };
  // The catalog as kept on the objects of one type of one tenant.
  struct Layout {
    std::vector<Slot> slots;
    std::vector<int> slot_of;  // catalog index → slot, or -1 when it does not apply
    std::uint32_t words = 0;   // per object
    std::array<SubjectPlan, 5> plans;
    std::vector<std::uint16_t> since_login;  // slots whose windows restart at the agent's login
    // Groups: the slots that can be read from the members' statistics of the same catalog
    // entry (see Node::derive), and the plans of a group that does.
    std::vector<bool> derivable;
    std::array<SubjectPlan, 5> derived_plans;
    [[nodiscard]] bool Derived(const Node& n, std::uint16_t slot) const {
      return n.derive && derivable[slot];
    }
    [[nodiscard]] const SubjectPlan& PlanFor(const Node& n, Subject s) const {
      return (n.derive ? derived_plans : plans)[static_cast<size_t>(s)];
    }
  };
  static std::uint16_t SlotIndex(size_t i) { return static_cast<std::uint16_t>(i); }

  // ---------------------------------------------------------------- statistics as sources

  struct AdHoc;
  // A catalog statistic someone subscribed to: the notifier's view of (node, slot). Exists only
  // while subscribed.
  struct CatalogSource final : NotifiedSource {
    CatalogSource(Tenant* t, Node* n, std::uint16_t s) : tenant(t), node(n), slot(s) {}
    Tenant* tenant;
    Node* node;
    std::uint16_t slot;
    ResetMemo memo;

    // NotifiedSource (state_tree.cc)
    [[nodiscard]] StatValue ValueAt(TimeMs t) override;
    void AdvanceTo(TimeMs t) override;
    [[nodiscard]] std::optional<TimeMs> LastResetAt() const override;
    [[nodiscard]] std::optional<TimeMs> NextBoundary() const override;
    [[nodiscard]] StatValue ClosedIntervalValue(TimeMs t) override;
    [[nodiscard]] TimeMs Now() const override;

   private:
    template <typename Fn>
    std::optional<TimeMs> OfWindow(Fn&& fn) const;
  };

  // The parsed form of an ad-hoc definition, shared by every open of the same fields in the same
  // zone on objects of the same type (a wallboard opens one definition for hundreds of agents).
  struct AdHocDef {
    AdHocDef(KeyValues kv, const date::time_zone* z, ObjectType t,
             const std::shared_ptr<const Definition>& def);
    KeyValues fields;  // as given (snapshots re-parse them)
    const date::time_zone* zone;
    ObjectType type;
    Shape shape;
    std::uint32_t main = 0;  // mask bits (actions or statuses by subject)
    std::uint32_t rel = 0;
    bool filtered = false;
    bool tree = false;
    bool reset_memo = false;  // Reset notifications: the value before each reset is kept
  };

  // An ad-hoc statistic: owned by its one subscription, listening on its node. Made with its
  // words after it, in one allocation (MakeAdHoc).
  struct AdHoc final : NotifiedSource {
    AdHoc(std::shared_ptr<const AdHocDef> d, Tenant* t, Node* n)
        : def(std::move(d)), tenant(t), node(n) {}
    std::shared_ptr<const AdHocDef> def;
    Tenant* tenant;
    Node* node;

    [[nodiscard]] std::uint64_t* Words() { return reinterpret_cast<std::uint64_t*>(this + 1); }
    [[nodiscard]] ResetMemo* Memo() {
      return def->reset_memo ? reinterpret_cast<ResetMemo*>(Words() + def->shape.Words()) : nullptr;
    }
    [[nodiscard]] StatRef Stat() { return StatRef(def->shape, Words(), Memo()); }
    [[nodiscard]] const Definition& Def() const { return def->shape.Def(); }

    // NotifiedSource (state_tree.cc)
    [[nodiscard]] StatValue ValueAt(TimeMs t) override;
    void AdvanceTo(TimeMs t) override { Stat().Advance(t); }
    [[nodiscard]] std::optional<TimeMs> LastResetAt() const override {
      return const_cast<AdHoc*>(this)->Stat().LastResetTime();
    }
    [[nodiscard]] std::optional<TimeMs> NextBoundary() const override {
      return const_cast<AdHoc*>(this)->Stat().NextBoundary();
    }
    [[nodiscard]] StatValue ClosedIntervalValue(TimeMs t) override;
    [[nodiscard]] TimeMs Now() const override;
  };
  struct AdHocDeleter {
    void operator()(AdHoc* a) const;
  };
  using AdHocPtr = std::unique_ptr<AdHoc, AdHocDeleter>;
  // A new ad-hoc statistic that starts accumulating at `created` (not yet listening).
  static AdHocPtr MakeAdHoc(std::shared_ptr<const AdHocDef> def, TimeMs created, Tenant* t,
                            Node* n);

  // What a node has beyond its catalog block, allocated once something needs it: the ad-hoc
  // statistics listening on it (by subject), and its subscribed catalog statistics (by slot).
  struct NodeExtras {
    std::array<std::vector<AdHoc*>, 5> adhoc;
    std::vector<std::unique_ptr<CatalogSource>> sources;
    [[nodiscard]] CatalogSource* Source(std::uint16_t slot) const {
      return slot < sources.size() ? sources[slot].get() : nullptr;
    }
  };

  struct Node {
    ObjectType type = ObjectType::kAgent;
    int index = -1;
    std::string id;
    // The catalog statistics of this object, laid out by its tenant's layout for its type.
    std::unique_ptr<std::uint64_t[]> block;
    std::unique_ptr<NodeExtras> extras;
    // When its catalog statistics started (unknown for objects restored from a snapshot).
    TimeMs created = INT64_MIN;
    // A group whose members' catalog statistics started with its own: its derivable statistics
    // are read as the merge of the members' (Layout::derivable) and keep no state of their own.
    bool derive = false;
    // Its own status, as a unit of its own subject (DNs, agents, places, groups).
    Status status = Status::kLoggedOut;
    TimeMs status_start = 0;
    AttributesPtr status_attrs;
    [[nodiscard]] UnitStatus Unit() const {
      return UnitStatus{true, status, status_start, status_attrs.get()};
    }
    NodeExtras& Extras() {
      if (!extras) extras = std::make_unique<NodeExtras>();
      return *extras;
    }
  };

  // Nodes that see one action: DN, place, place groups, agent, agent groups, tenant.
  using NodeList = boost::container::small_vector<Node*, 12>;

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
  };

  struct Agent {
    Node node;
    std::vector<int> dns;  // logged-in DNs
    std::vector<int> groups;
  };

  struct Place {
    Node node;
    std::vector<int> dns;
    std::vector<int> groups;
  };

  struct Group {
    Node node;
    std::vector<int> members;
    std::array<int, 24> counts{};
    // Members that joined a derived group after it started (a live reload) count from their
    // join: its derived statistics read its first `original` members and, for the late ones,
    // `late` — a hidden group of only those, started at their join (docs/operations.md).
    static constexpr std::uint32_t kAll = UINT32_MAX;
    std::uint32_t original = kAll;
    int late = -1;
    [[nodiscard]] size_t Original() const { return std::min<size_t>(original, members.size()); }
  };

  struct Queue {
    Node node;
    std::string number;
    std::string switch_id;
    std::vector<int> groups;
    bool monitored = true;
    TimeMs last_event = 0;
    StringMap<ActionRec> waiting;  // conn → CallWait
  };

  struct PendingAnswer {
    int queue = -1;
    TimeMs entered = 0;
  };

  // Where an event's DN is, found once per event: its DN and queue indices (-1: unknown).
  // `exact`: the DN key is the one GetOrCreateDn uses (a plain number, not "7001@Switch").
  struct Located {
    int dn = -1;
    int queue = -1;
    bool exact = false;
  };

  // Each tenant has its own time ("now") and its own timers (the notifier's clock of the same
  // index): with the event clock, one tenant's events never move another's statistics (issue 18).
  struct Tenant {
    std::string name;
    const date::time_zone* zone = nullptr;
    TimeMs now = 0;
    int clock = 0;  // index in `tenants`
    Node node;
    std::vector<std::unique_ptr<Dn>> dns;
    std::vector<std::unique_ptr<Agent>> agents;
    std::vector<std::unique_ptr<Place>> places;
    std::vector<std::unique_ptr<Group>> groups;
    std::vector<std::unique_ptr<Queue>> queues;
    StringMap<int> dn_by_key, agent_by_id, place_by_id, queue_by_key;
    StringMap<Located> where;         // "number@switch" → DN and queue: one probe per event
    std::uint64_t where_version = 0;  // bumped whenever `where` changes (KeyPlace)
    std::map<std::pair<int, std::string>, int> group_by_name;  // (type, name)
    StringMap<std::vector<std::string>> queue_keys_by_number;
    StringMap<std::vector<std::string>> dn_keys_by_number;
    StringMap<std::vector<int>> conn_dns;
    StringMap<PendingAnswer> pending_answers;
    std::vector<std::shared_ptr<const Definition>> catalog_defs;  // parsed in the tenant's zone
    std::array<Layout, kObjectTypeCount> layouts;                 // by object type
    std::uint64_t next_key = 1;
    [[nodiscard]] const Layout& LayoutOf(const Node& n) const {
      return layouts[static_cast<int>(n.type)];
    }
  };

  std::vector<CatalogEntry> catalog;
  std::vector<std::unique_ptr<Tenant>> tenants;
  StringMap<Tenant*> tenant_by_name;
  std::string key_buf;  // reused for the DN key of each event (stats::OrderKey): no allocation
  // Interned attached data: calls without ANI, DNIS or user data share one record per media,
  // call type and queue (and its remembered filter results). Bounded: past kMaxCallAttrs
  // distinct ones, records are made per call again.
  static constexpr size_t kMaxCallAttrs = 4096;
  StringMap<AttributesPtr> call_attrs;
  std::string attrs_key_buf;
  // Where each interned key (Event::key_id) was found, valid while its tenant's `where` has not
  // changed since: the hot path neither builds nor hashes the key.
  struct KeyPlace {
    const void* tenant = nullptr;
    std::uint64_t version = 0;  // the tenant's where_version + 1 (0: empty)
    int dn = -1;
    int queue = -1;
  };
  std::vector<KeyPlace> places_by_key;
  Tenant* last_tenant = nullptr;  // the tenant of the last event (most events follow it)
  Located Locate(const Tenant& T, const Event& e);
  // kOutOfOrder if `time` is older than the last event of the DN or queue at `at`.
  static Result<void> CheckOrderAt(const Tenant& T, const Event& e, const Located& at, TimeMs time);
  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl();  // frees what the statistics of every block own

  // The notifier owns nothing: ad-hoc statistics are owned by their subscription (its source
  // pointer), catalog sources by their node.
  Notifier notifier;
  EngineCounters counters;
  std::function<void()> on_object_created;  // Engine::SetObjectCreatedHook
  // Parsed ad-hoc definitions (AdHocDef), alive while some statistic uses them.
  std::map<std::tuple<const date::time_zone*, ObjectType, KeyValues>, std::weak_ptr<const AdHocDef>>
      parsed;
  Result<std::shared_ptr<const AdHocDef>> ParsedAdHoc(const KeyValues& kv,
                                                      const date::time_zone* zone, ObjectType type);
  // Forgets a parsed definition once nothing uses it (the caller dropped its reference).
  void ReleaseParsed(const KeyValues& kv, const date::time_zone* zone, ObjectType type);
  // The ad-hoc statistic behind a subscription, if it is one.
  static AdHoc* AdHocOf(NotifiedSource* source) { return dynamic_cast<AdHoc*>(source); }
  // An ad-hoc statistic's accumulator and Reset memo as bytes, and back (all or nothing is the
  // caller's: on false the words hold a fresh state).
  static std::string SaveAdHocState(AdHoc& a);
  static bool LoadAdHocState(AdHoc& a, std::string_view bytes);

  // Snapshots (engine_snapshot.cc).
  void Save(BinaryWriter& w) const;
  Result<void> Load(BinaryReader& r, std::vector<std::string>& notes, bool adopt_catalog);
  // The configured objects of a tenant (object_model.cc); `merge` after a snapshot was loaded.
  Result<void> Populate(Tenant& T, const TenantSetup& setup, TimeMs t, bool merge,
                        std::vector<std::string>& notes);

  // ---------------------------------------------------------------- objects

  Tenant& GetOrCreateTenant(const std::string& name, TimeMs t);
  // Parses the catalog in the tenant's zone and lays it out for every object type.
  void ParseCatalogFor(Tenant& T);
  static void BuildLayout(const Tenant& T, ObjectType type, Layout& L);

  static bool AppliesTo(const Definition& def, ObjectType type);
  // Can a group's statistic of this definition be read from its members' (same entry)?
  static bool Derivable(const Definition& def);

  // Gives `node` its catalog block (every slot starts accumulating at `t`); `replay` feeds the
  // current state of the objects it sees into it (false when the state comes from a snapshot).
  void InstantiateCatalog(Tenant& T, Node& node, TimeMs t, bool replay = true);
  // Replays into the slots of `node` listed in `fresh` (and its ledgers when `ledgers`).
  void ReplayCatalog(Tenant& T, Node& node, const std::vector<std::uint16_t>& fresh, bool ledgers,
                     TimeMs t);
  // Frees what the statistics of a block own.
  static void DestroyBlock(const Layout& L, Node& node);

  // An ad-hoc statistic starts listening on its node (with the current state replayed into it),
  // or stops.
  void Register(AdHoc& a, TimeMs t, bool replay = true);
  void Unregister(AdHoc& a);

  // The one way an object comes to exist, for all five kinds: found by its key, or created with
  // the next index, registered under the key, counted, then `init` (catalog statistics, the
  // tenant's status units). The wrappers below say what each kind adds.
  template <typename Object, typename Map, typename Key, typename Init>
  Object& GetOrCreate(std::vector<std::unique_ptr<Object>>& all, Map& by_key, const Key& key,
                      ObjectType type, std::string id, TimeMs t, Init&& init);
  Dn& GetOrCreateDn(Tenant& T, const std::string& number, const std::string& sw, TimeMs t);

  Agent& GetOrCreateAgent(Tenant& T, const std::string& id, TimeMs t);

  Place& GetOrCreatePlace(Tenant& T, const std::string& id, TimeMs t);

  Queue& GetOrCreateQueue(Tenant& T, const std::string& number, const std::string& sw,
                          ObjectType type, TimeMs t);

  // The caller instantiates the group's catalog once its members are in (InstantiateCatalog).
  Group& GetOrCreateGroup(Tenant& T, ObjectType type, const std::string& name, TimeMs t);

  static std::pair<std::string, std::string> SplitDn(const std::string& id);

  // Resolves "8001" or "8001@Switch" among known keys.
  static const int* FindByNumber(const StringMap<int>& by_key,
                                 const StringMap<std::vector<std::string>>& by_number,
                                 const std::string& id);

  Result<Node*> FindNode(Tenant& T, const ObjectRef& ref);

  // ---------------------------------------------------------------- statistics of a node

  // The accumulator of a catalog slot of `node` (with the reset memo of its subscription).
  static StatRef SlotRef(const Layout& L, Node& node, std::uint16_t slot) {
    const Slot& s = L.slots[slot];
    CatalogSource* src = node.extras ? node.extras->Source(slot) : nullptr;
    return StatRef(*s.shape, node.block.get() + s.offset, src != nullptr ? &src->memo : nullptr);
  }
  // The slot changed: its subscribers see it at the next flush.
  void MarkSlot(const NodeExtras* x, std::uint16_t slot) {
    if (x == nullptr) return;
    if (CatalogSource* src = x->Source(slot)) notifier.MarkDirty(*src);
  }
  void MarkDirty(NotifiedSource* source) { notifier.MarkDirty(*source); }

  // ---------------------------------------------------------------- propagation

  // A unit of `node`'s `subject` changed: its statistics see it (most objects have nothing to
  // keep for most subjects: the check is inline).
  void EmitStatus(Tenant& T, Node& node, Subject subject, std::uint64_t unit,
                  const UnitStatus& before, const UnitStatus& after, TimeMs t) {
    if (node.extras == nullptr && !T.LayoutOf(node).PlanFor(node, subject).calls) return;
    EmitStatusTo(T, node, subject, unit, before, after, t);
  }
  void EmitStatusTo(Tenant& T, Node& node, Subject subject, std::uint64_t unit,
                    const UnitStatus& before, const UnitStatus& after, TimeMs t);

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

  void ActionStarted(Tenant& T, NodeList& nodes, const ActionRec& r, TimeMs t);
  void ActionEnded(Tenant& T, NodeList& nodes, const ActionRec& r, TimeMs t);
  void ActionInstant(Tenant& T, NodeList& nodes, Action kind, TimeMs duration,
                     const Attributes& attrs, TimeMs t);
  // An action's data changed: its filtered statistics re-evaluate, state trees are marked.
  void ActionAttrsChanged(Tenant& T, NodeList& nodes, const ActionRec& r, const Attributes& before,
                          TimeMs t);

  NodeList DnNodes(Tenant& T, Dn& d, int agent);
  NodeList QueueNodes(Tenant& T, Queue& q);

  ActionRec StartDnAction(Tenant& T, Dn& d, Action kind, AttributesPtr attrs, TimeMs t);
  void EndDnAction(Tenant& T, Dn& d, const ActionRec& r, TimeMs t);
  void DnInstant(Tenant& T, Dn& d, Action kind, TimeMs duration, const Attributes& attrs, TimeMs t);

  // ---------------------------------------------------------------- statuses

  struct StatusInfo {
    Status status;
    AttributesPtr attrs;
  };

  static StatusInfo ComputeDnStatus(const Dn& d);

  void UpdateDn(Tenant& T, Dn& d, TimeMs t);

  void SetGroupMemberStatus(Tenant& T, Group& g, Status old_status, Status new_status, TimeMs t);
  // The group's status from its members' counts (a change is emitted).
  void RefreshGroupStatus(Tenant& T, Group& g, TimeMs t);
  // A live reload adds `member` (an agent, place or queue of the group's type) to an existing
  // group at `t`: the member's present state joins the group's statistics and its history counts
  // from `t` on (a derived group keeps reading its original members plus a hidden late group).
  void JoinGroup(Tenant& T, Group& g, Node& member, TimeMs t);
  // The group list of an agent, place or queue.
  static std::vector<int>& GroupsOf(Tenant& T, Node& member);

  void UpdateAgent(Tenant& T, Agent& a, TimeMs t);

  void UpdatePlace(Tenant& T, Place& p, TimeMs t);

  // DN `d` joins (or leaves) the DN units of the agent `a` and its groups.
  void DnUnitForAgent(Tenant& T, Dn& d, Agent& a, bool join, TimeMs t);

  void AssignPlace(Tenant& T, Dn& d, Place& p, TimeMs t);

  // ---------------------------------------------------------------- replay into new statistics

  template <typename Fn>
  static void ForOngoingDnActions(Dn& d, int agent_filter, Fn&& fn) {
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
  // Calls fn(unit, status) for every unit of `subject` that `node` has now.
  void ForEachUnit(Tenant& T, Node& node, Subject subject,
                   const std::function<void(std::uint64_t, const UnitStatus&)>& fn);
  // Calls fn(action) for every ongoing action `node` sees (DNAction subject).
  void ForEachOngoingAction(Tenant& T, Node& node, const std::function<void(const ActionRec&)>& fn);
  // Feeds the current state of its node into one accumulator.
  void Replay(Tenant& T, Node& node, StatRef stat, Subject subject, TimeMs t);

  // ---------------------------------------------------------------- events

  AttributesPtr CallAttributes(const Event& e, CallType type, const std::string& queue);

  AttributesPtr AgentAttributes(const Event& e);

  Call* FindCall(Dn& d, const std::string& conn);

  void RemoveCall(Tenant& T, Dn& d, const std::string& conn);

  void LogoutDn(Tenant& T, Dn& d, TimeMs t);

  void LoginDn(Tenant& T, Dn& d, Agent& a, const Event& e, TimeMs t);

  void SetMode(Tenant& T, Dn& d, Action kind, const Event& e, TimeMs t);

  void SetHook(Tenant& T, Dn& d, Action kind, const Event& e, TimeMs t);

  Call& NewCall(Tenant& T, Dn& d, const Event& e, CallState state, CallType type, Action kind,
                TimeMs t);

  void OnEstablished(Tenant& T, Dn& d, const Event& e, TimeMs t);

  void OnReleased(Tenant& T, Dn& d, const Event& e, TimeMs t);

  void OnAttachedData(Tenant& T, const Event& e, TimeMs t);

  void OnLink(Tenant& T, const Event& e, bool up, TimeMs t);

  Queue& QueueFor(Tenant& T, const Event& e, TimeMs t, const Located& at);

  Result<void> ApplyEvent(Tenant& T, const Event& e, TimeMs t, const Located& at);

  // ---------------------------------------------------------------- values and notifications

  static DnState DnStateOf(Tenant& T, Dn& d, bool actions, bool reasons);

  static PlaceState PlaceStateOf(Tenant& T, Place& p, bool actions, bool reasons);

  static AgentState AgentStateOf(Tenant& T, Agent& a, bool actions, bool reasons);

  // The value of a catalog slot of `node` at `t` (its windows moved to `t` first).
  static StatValue SlotValue(Tenant& T, Node& node, std::uint16_t slot, TimeMs t);
  // Calls fn(member node, member slot) for the members of a group holding the same catalog entry
  // as `slot` (a derived slot).
  template <typename Fn>
  static void ForMemberSlots(Tenant& T, Node& group, std::uint16_t slot, Fn&& fn) {
    const int catalog = T.LayoutOf(group).slots[slot].catalog;
    const Group& g = *T.groups[group.index];
    for (size_t i = 0; i < g.Original(); ++i) {
      const int m = g.members[i];
      Node& member = group.type == ObjectType::kGroupAgents   ? T.agents[m]->node
                     : group.type == ObjectType::kGroupPlaces ? T.places[m]->node
                                                              : T.queues[m]->node;
      const int ms = T.LayoutOf(member).slot_of[static_cast<size_t>(catalog)];
      fn(member, SlotIndex(static_cast<size_t>(ms)));
    }
    if (g.late < 0) return;
    Node& late = T.groups[g.late]->node;
    const Layout& LL = T.LayoutOf(late);
    const std::uint16_t ls =
        SlotIndex(static_cast<size_t>(LL.slot_of[static_cast<size_t>(catalog)]));
    if (LL.Derived(late, ls)) return ForMemberSlots(T, late, ls, fn);
    fn(late, ls);
  }
  // Does `group` qualify for derived statistics (members present, started together)?
  bool CanDerive(const Tenant& T, const Node& group) const;
  // The value of an ad-hoc statistic.
  static StatValue AdHocValue(AdHoc& a, TimeMs t);
  // The CurrentState tree of `node` for `def`.
  static StatValue TreeValue(Tenant& T, Node& node, const Definition& def, TimeMs t);
  // A number as a StatValue.
  static StatValue NumberValue(double n, std::int64_t interval_s, TimeMs t);

  // Runs the tenant's timers due until `t` (and moves its time there).
  void RunTimersUntil(Tenant& T, TimeMs t, std::vector<Notification>& out) {
    notifier.RunUntil(T.clock, t, T.now, out);
  }

  Result<Tenant*> TenantFor(std::string_view name);

  // Subscribes to `source` (settings from `def`).
  Result<Opened> Subscribe(Tenant& T, NotifiedSource& source, const Definition& def,
                           StatValue initial);
  // The subscribed view of a catalog slot, created on the first subscription.
  CatalogSource& SourceFor(Tenant& T, Node& node, std::uint16_t slot);
  // Drops the view of a catalog slot nobody subscribes to any more.
  void DropSourceIfUnused(CatalogSource& source);
};

}  // namespace tally::stats
