// Golden scenarios: tests/scenarios/*.scn, one parameterised test per file. The format is
// documented in tests/scenarios/README.md; a contact-center expert can add a case without C++.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/catalog.h"
#include "events/codec.h"
#include "stats/engine.h"

namespace tally {
namespace {

namespace fs = std::filesystem;
using stats::ObjectType;

std::string SourceDir() {
  const char* dir = std::getenv("TALLY_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

// Splits a line into words; "double quoted" words may hold spaces (\" escapes a quote).
std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_quotes = false;
  bool any = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_quotes) {
      if (c == '\\' && i + 1 < line.size()) {
        cur.push_back(line[++i]);
      } else if (c == '"') {
        in_quotes = false;
      } else {
        cur.push_back(c);
      }
    } else if (c == '"') {
      in_quotes = true;
      any = true;
    } else if (c == '#') {
      break;
    } else if (c == ' ' || c == '\t') {
      if (any || !cur.empty()) out.push_back(cur);
      cur.clear();
      any = false;
    } else {
      cur.push_back(c);
    }
  }
  if (any || !cur.empty()) out.push_back(cur);
  return out;
}

std::pair<std::string, std::string> KeyValue(const std::string& word) {
  const size_t eq = word.find('=');
  if (eq == std::string::npos) return {word, ""};
  return {word.substr(0, eq), word.substr(eq + 1)};
}

class Scenario {
 public:
  explicit Scenario(fs::path file) : file_(std::move(file)) {}

  void Run() {
    std::ifstream in(file_);
    ASSERT_TRUE(in) << "cannot open " << file_;
    auto catalog = config::LoadCatalogFile(SourceDir() + "/config/statistics.toml");
    ASSERT_TRUE(catalog.errors.empty()) << catalog.errors[0].ToString();
    for (auto& d : catalog.definitions) catalog_.push_back({d.name, d.fields});
    ASSERT_TRUE(engine_.SetCatalog(catalog_));
    std::string line;
    while (std::getline(in, line)) {
      ++line_no_;
      const auto w = Words(line);
      if (w.empty()) continue;
      Step(w);
      if (::testing::Test::HasFatalFailure()) return;
    }
    EXPECT_GT(expectations_, 0) << Where() << "a scenario must expect something";
  }

 private:
  std::string Where() const {
    return file_.filename().string() + ":" + std::to_string(line_no_) + ": ";
  }

  TimeMs ParseTime(const std::string& text) {
    if (!text.empty() && text[0] == '+') {
      double n = std::stod(text.substr(1));
      const char unit = text.back();
      if (unit == 'm') n *= 60;
      if (unit == 'h') n *= 3600;
      return now_ + static_cast<TimeMs>(std::llround(n * 1000));
    }
    TimeMs t = 0;
    if (events::ParseRfc3339(text, t)) return t;
    if (text.size() == 8 && text[2] == ':') {
      const TimeMs day = now_ - ((now_ % 86'400'000) + 86'400'000) % 86'400'000;
      return day + (std::stoi(text.substr(0, 2)) * 3600 + std::stoi(text.substr(3, 2)) * 60 +
                    std::stoi(text.substr(6, 2))) *
                       1000LL;
    }
    ADD_FAILURE() << Where() << "bad time '" << text << "'";
    return now_;
  }

  ObjectType Type(const std::string& name) {
    auto t = stats::ParseObjectType(name);
    EXPECT_TRUE(t) << Where() << "unknown object type " << name;
    return t.value_or(ObjectType::kAgent);
  }

  void EnsureTenant() {
    if (added_.count(setup_.name) != 0) return;
    added_.insert(setup_.name);
    auto r = engine_.AddTenant(setup_, now_);
    ASSERT_TRUE(r) << Where() << r.error().message;
  }

  void Collect() {
    for (auto& n : pending_) {
      for (auto& [name, h] : handles_) {
        if (h == n.handle) sent_[name].push_back(n.value);
      }
    }
    pending_.clear();
  }

  void CheckValue(const std::string& what, const stats::StatValue& v, const std::string& want) {
    ++expectations_;
    char* end = nullptr;
    const double number = std::strtod(want.c_str(), &end);
    if (end != want.c_str() && *end == '\0') {
      EXPECT_NEAR(v.number, number, 0.01)
          << Where() << what << " = " << v.number << ", expected " << want;
    } else {
      EXPECT_EQ(v.string_value, want) << Where() << what;
    }
  }

  void Step(const std::vector<std::string>& w) {
    const std::string& cmd = w[0];
    if (cmd == "tenant") {
      // After the first tenant was added, `tenant` starts (or returns to) another one.
      if (!added_.empty()) {
        setups_[setup_.name] = setup_;
        auto known = setups_.find(w.at(1));
        setup_ = known != setups_.end() ? known->second : stats::TenantSetup{};
      }
      setup_.name = w.at(1);
      for (size_t i = 2; i < w.size(); ++i) {
        auto [k, v] = KeyValue(w[i]);
        if (k == "timezone") setup_.time_zone = v;
      }
    } else if (cmd == "agents") {
      setup_.agents.insert(setup_.agents.end(), w.begin() + 1, w.end());
    } else if (cmd == "place") {
      setup_.places.push_back({w.at(1), {w.begin() + 2, w.end()}});
    } else if (cmd == "group") {
      setup_.groups.push_back({Type(w.at(1)), w.at(2), {w.begin() + 3, w.end()}});
    } else if (cmd == "queue") {
      setup_.queues.insert(setup_.queues.end(), w.begin() + 1, w.end());
    } else if (cmd == "routepoint") {
      setup_.routing_points.insert(setup_.routing_points.end(), w.begin() + 1, w.end());
    } else if (cmd == "start") {
      now_ = ParseTime(w.at(1));
      EnsureTenant();
    } else if (cmd == "open" || cmd == "subscribe") {
      EnsureTenant();
      const stats::ObjectRef ref{Type(w.at(2)), w.at(3)};
      Result<stats::Engine::Opened> r = Error{};
      if (cmd == "subscribe") {
        r = engine_.OpenCatalog(setup_.name, w.at(4), ref);
      } else {
        stats::KeyValues def;
        for (size_t i = 4; i < w.size(); ++i) def.push_back(KeyValue(w[i]));
        r = engine_.OpenDefinition(setup_.name, def, ref);
      }
      ASSERT_TRUE(r) << Where() << r.error().message;
      handles_[w.at(1)] = r->handle;
    } else if (cmd == "refused") {
      // refused OBJTYPE OBJID key=value ... : the definition must be refused
      EnsureTenant();
      stats::KeyValues def;
      for (size_t i = 3; i < w.size(); ++i) def.push_back(KeyValue(w[i]));
      auto r = engine_.OpenDefinition(setup_.name, def, stats::ObjectRef{Type(w.at(1)), w.at(2)});
      ++expectations_;
      EXPECT_FALSE(r) << Where() << "definition was accepted";
    } else if (cmd == "at") {
      EnsureTenant();
      const TimeMs t = ParseTime(w.at(1));
      boost::json::object o;
      o["type"] = w.at(2);
      o["time"] = t;
      o["tenant"] = setup_.name;
      for (size_t i = 3; i < w.size(); ++i) {
        auto [k, v] = KeyValue(w[i]);
        const size_t dot = k.find('.');
        if (dot != std::string::npos) {
          const std::string outer = k.substr(0, dot);
          if (!o.contains(outer)) o[outer] = boost::json::object();
          o[outer].as_object()[k.substr(dot + 1)] = v;
        } else {
          o[k] = v;
        }
      }
      auto e =
          events::ParseEvent(boost::json::serialize(o), events::NormalizeOptions{setup_.name, t});
      ASSERT_TRUE(e) << Where() << e.error().message;
      auto r = engine_.Apply(*e, pending_);
      ASSERT_TRUE(r) << Where() << r.error().message;
      now_ = std::max(now_, t);
      Collect();
    } else if (cmd == "advance") {
      EnsureTenant();
      now_ = ParseTime(w.at(1));
      ASSERT_TRUE(engine_.AdvanceTo(now_, pending_));
      Collect();
    } else if (cmd == "expect") {
      // expect NAME = VALUE | expect NAME interval = N
      const std::string& name = w.at(1);
      auto it = handles_.find(name);
      ASSERT_NE(it, handles_.end()) << Where() << "unknown statistic " << name;
      auto v = engine_.Get(it->second);
      ASSERT_TRUE(v);
      if (w.at(2) == "interval") {
        ++expectations_;
        EXPECT_EQ(v->interval_length_s, std::stoll(w.at(4))) << Where() << name << " interval";
      } else {
        CheckValue(name, *v, w.at(3));
      }
    } else if (cmd == "peek") {
      // peek CatalogName OBJTYPE OBJID = VALUE
      auto v = engine_.Peek(setup_.name, w.at(1), stats::ObjectRef{Type(w.at(2)), w.at(3)});
      ASSERT_TRUE(v) << Where() << v.error().message;
      CheckValue(w.at(1), *v, w.at(5));
    } else if (cmd == "notified") {
      // notified NAME = v1 v2 …  (or "-" for none) since the previous check
      const std::string& name = w.at(1);
      // A value written VALUE@SECONDS also checks the notification's intervalLength.
      std::vector<std::string> want(w.begin() + 3, w.end());
      if (want.size() == 1 && want[0] == "-") want.clear();
      std::vector<std::string> got;
      for (size_t i = 0; i < sent_[name].size(); ++i) {
        const auto& v = sent_[name][i];
        const bool with_interval = i < want.size() && want[i].find('@') != std::string::npos;
        got.push_back(v.string_value +
                      (with_interval ? "@" + std::to_string(v.interval_length_s) : ""));
      }
      sent_[name].clear();
      ++expectations_;
      EXPECT_EQ(got, want) << Where() << name << " notifications";
    } else {
      ADD_FAILURE() << Where() << "unknown command '" << cmd << "'";
    }
  }

  fs::path file_;
  int line_no_ = 0;
  int expectations_ = 0;
  std::set<std::string> added_;                       // tenants added to the engine
  std::map<std::string, stats::TenantSetup> setups_;  // the other tenants' configuration
  TimeMs now_ = 1772352000000;                        // 2026-03-01T08:00:00Z
  stats::TenantSetup setup_{"acme", "", {}, {}, {}, {}, {}};
  std::vector<stats::CatalogEntry> catalog_;
  stats::Engine engine_;
  std::map<std::string, std::uint64_t> handles_;
  std::map<std::string, std::vector<stats::StatValue>> sent_;
  std::vector<stats::Notification> pending_;
};

std::vector<std::string> ScenarioFiles() {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(SourceDir() + "/tests/scenarios")) {
    if (entry.path().extension() == ".scn") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class ScenarioTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioTest, Matches) { Scenario(GetParam()).Run(); }

INSTANTIATE_TEST_SUITE_P(Golden, ScenarioTest, ::testing::ValuesIn(ScenarioFiles()),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string n = fs::path(param_info.param).stem().string();
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

TEST(ScenarioSuiteTest, HasAtLeastFortyScenarios) { EXPECT_GE(ScenarioFiles().size(), 40u); }

}  // namespace
}  // namespace tally
