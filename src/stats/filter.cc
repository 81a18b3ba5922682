// The filter language (filter.h): a recursive-descent parser and the compiled expression tree.
// Threading: a parsed filter is immutable and may be shared.
#include "stats/filter.h"

#include <atomic>
#include <charconv>
#include <vector>

namespace tally::stats {

Filter::Filter() {
  static std::atomic<std::uint64_t> next{1};
  id_ = next.fetch_add(1, std::memory_order_relaxed);
}

namespace {

enum class Field { kMedia, kCallType, kThisQueue, kAni, kDnis, kUserData, kReasons };
enum class Op { kEq, kNe, kLt, kLe, kGt, kGe };

const std::string* FindKey(const KeyValues& kv, std::string_view key) {
  for (const auto& [k, v] : kv) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool ToNumber(std::string_view s, double& out) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

class Compare final : public Filter {
 public:
  Compare(Field f, std::string key, Op op, std::string value)
      : field_(f), key_(std::move(key)), op_(op), value_(std::move(value)) {}
  bool Matches(const Attributes& a) const override {
    std::string_view actual;
    bool present = true;
    switch (field_) {
      case Field::kMedia: actual = a.media_type; break;
      case Field::kCallType: actual = CallTypeName(a.call_type); break;
      case Field::kThisQueue: actual = a.this_queue; break;
      case Field::kAni: actual = a.ani; break;
      case Field::kDnis: actual = a.dnis; break;
      case Field::kUserData:
      case Field::kReasons: {
        const std::string* v = FindKey(field_ == Field::kUserData ? a.user_data : a.reasons, key_);
        present = v != nullptr;
        if (present) actual = *v;
        break;
      }
    }
    if (!present) return op_ == Op::kNe;
    int cmp;
    double x;
    double y;
    if (op_ != Op::kEq && op_ != Op::kNe && ToNumber(actual, x) && ToNumber(value_, y)) {
      cmp = x < y ? -1 : (x > y ? 1 : 0);
    } else if (field_ == Field::kMedia || field_ == Field::kCallType) {
      cmp = EqualsIgnoreCase(actual, value_) ? 0 : (actual < std::string_view(value_) ? -1 : 1);
    } else {
      cmp = actual.compare(value_);
      cmp = cmp < 0 ? -1 : (cmp > 0 ? 1 : 0);
    }
    switch (op_) {
      case Op::kEq: return cmp == 0;
      case Op::kNe: return cmp != 0;
      case Op::kLt: return cmp < 0;
      case Op::kLe: return cmp <= 0;
      case Op::kGt: return cmp > 0;
      case Op::kGe: return cmp >= 0;
    }
    return false;
  }

 private:
  Field field_;
  std::string key_;
  Op op_;
  std::string value_;
};

class Exists final : public Filter {
 public:
  Exists(bool reasons, std::string key, std::optional<std::string> value)
      : reasons_(reasons), key_(std::move(key)), value_(std::move(value)) {}
  bool Matches(const Attributes& a) const override {
    const std::string* v = FindKey(reasons_ ? a.reasons : a.user_data, key_);
    return v != nullptr && (!value_ || *v == *value_);
  }

 private:
  bool reasons_;
  std::string key_;
  std::optional<std::string> value_;
};

class Not final : public Filter {
 public:
  explicit Not(FilterPtr inner) : inner_(std::move(inner)) {}
  bool Matches(const Attributes& a) const override { return !inner_->Matches(a); }

 private:
  FilterPtr inner_;
};

class Junction final : public Filter {
 public:
  Junction(bool is_and, std::vector<FilterPtr> parts) : and_(is_and), parts_(std::move(parts)) {}
  bool Matches(const Attributes& a) const override {
    for (const auto& p : parts_) {
      if (p->Matches(a) != and_) return !and_;
    }
    return and_;
  }

 private:
  bool and_;
  std::vector<FilterPtr> parts_;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<FilterPtr> Parse() {
    SkipSpace();
    if (pos_ >= text_.size()) return Err("empty filter");
    auto e = Or();
    if (!e) return e;
    SkipSpace();
    if (pos_ < text_.size()) {
      return Err("unexpected '" + std::string(1, text_[pos_]) + "'");
    }
    return e;
  }

 private:
  tally::Error Err(const std::string& what) const {
    return tally::Error{Errc::kInvalidArgument,
                        "dynamicFilter: column " + std::to_string(pos_ + 1) + ": " + what};
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }

  bool Eat(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  Result<FilterPtr> Or() {
    std::vector<FilterPtr> parts;
    auto first = And();
    if (!first) return first;
    parts.push_back(*first);
    while (Eat('|')) {
      auto next = And();
      if (!next) return next;
      parts.push_back(*next);
    }
    if (parts.size() == 1) return parts[0];
    return FilterPtr(std::make_shared<Junction>(false, std::move(parts)));
  }

  Result<FilterPtr> And() {
    std::vector<FilterPtr> parts;
    auto first = Unary();
    if (!first) return first;
    parts.push_back(*first);
    while (Eat('&')) {
      auto next = Unary();
      if (!next) return next;
      parts.push_back(*next);
    }
    if (parts.size() == 1) return parts[0];
    return FilterPtr(std::make_shared<Junction>(true, std::move(parts)));
  }

  Result<FilterPtr> Unary() {
    SkipSpace();
    if (Eat('~')) {
      if (++depth_ > kMaxDepth) return Err(TooDeep());
      auto inner = Unary();
      --depth_;
      if (!inner) return inner;
      return FilterPtr(std::make_shared<Not>(*inner));
    }
    if (Eat('(')) {
      if (++depth_ > kMaxDepth) return Err(TooDeep());
      auto inner = Or();
      --depth_;
      if (!inner) return inner;
      if (!Eat(')')) return Err("expected ')'");
      return inner;
    }
    return Primary();
  }

  // Parsing, evaluating and destroying a filter recurse once per level: without a bound, a
  // request body of '(' (or '~') overflowed the stack (issue 18, found by the filter target).
  static constexpr int kMaxDepth = 64;
  static std::string TooDeep() {
    return "nested deeper than " + std::to_string(kMaxDepth) + " levels of '(' and '~'";
  }

  static bool IsNameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '@' || c == ':' || c == '+' || c == '/' || c == '#' ||
           c == '*';
  }

  std::string Name() {
    SkipSpace();
    const size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  // A bare token or a "quoted string" (with \" and \\ escapes).
  Result<std::string> Value() {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '"') {
      ++pos_;
      std::string out;
      while (pos_ < text_.size() && text_[pos_] != '"') {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
        out.push_back(text_[pos_++]);
      }
      if (pos_ >= text_.size()) return Err("unterminated string");
      ++pos_;
      return out;
    }
    std::string v = Name();
    if (v.empty()) return Err("expected a value");
    return v;
  }

  Result<FilterPtr> Call(const std::string& fn) {
    // The '(' has been consumed.
    auto key = Value();
    if (!key) return key.error();
    std::optional<std::string> value;
    if (Eat(',')) {
      auto v = Value();
      if (!v) return v.error();
      value = *v;
    }
    if (!Eat(')')) return Err("expected ')' to close " + fn + "(");
    if (EqualsIgnoreCase(fn, "PairExists")) {
      if (!value) return Err("PairExists needs a key and a value");
      return FilterPtr(std::make_shared<Exists>(false, *key, value));
    }
    if (EqualsIgnoreCase(fn, "KeyExists")) {
      if (value) return Err("KeyExists takes one argument");
      return FilterPtr(std::make_shared<Exists>(false, *key, std::nullopt));
    }
    return FilterPtr(std::make_shared<Exists>(true, *key, value));  // ReasonExists
  }

  Result<FilterPtr> Primary() {
    SkipSpace();
    const size_t start = pos_;
    const std::string name = Name();
    if (name.empty()) {
      if (pos_ >= text_.size()) return Err("unexpected end of filter");
      return Err("unexpected '" + std::string(1, text_[pos_]) + "'");
    }
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '(') {
      if (!EqualsIgnoreCase(name, "PairExists") && !EqualsIgnoreCase(name, "KeyExists") &&
          !EqualsIgnoreCase(name, "ReasonExists")) {
        pos_ = start;
        return Err("unknown function '" + name + "'");
      }
      ++pos_;
      return Call(name);
    }
    Field field = Field::kUserData;
    std::string key;
    auto dotted = [&](std::string_view prefix) {
      return name.size() > prefix.size() && EqualsIgnoreCase(name.substr(0, prefix.size()), prefix);
    };
    if (EqualsIgnoreCase(name, "Media") || EqualsIgnoreCase(name, "MediaType")) {
      field = Field::kMedia;
    } else if (EqualsIgnoreCase(name, "CallType")) {
      field = Field::kCallType;
    } else if (EqualsIgnoreCase(name, "ThisQueue")) {
      field = Field::kThisQueue;
    } else if (EqualsIgnoreCase(name, "ANI")) {
      field = Field::kAni;
    } else if (EqualsIgnoreCase(name, "DNIS")) {
      field = Field::kDnis;
    } else if (dotted("UserData.")) {
      key = name.substr(9);
    } else if (dotted("Reasons.")) {
      field = Field::kReasons;
      key = name.substr(8);
    } else if (EqualsIgnoreCase(name, "UserData") || EqualsIgnoreCase(name, "Reasons")) {
      pos_ = start;
      return Err("'" + name + "' needs a key, e.g. " + name + ".Key=value");
    } else {
      key = name;
    }
    SkipSpace();
    Op op;
    const std::string_view rest = text_.substr(pos_);
    if (rest.substr(0, 2) == "!=") {
      op = Op::kNe;
      pos_ += 2;
    } else if (rest.substr(0, 2) == "<=") {
      op = Op::kLe;
      pos_ += 2;
    } else if (rest.substr(0, 2) == ">=") {
      op = Op::kGe;
      pos_ += 2;
    } else if (!rest.empty() && rest[0] == '=') {
      op = Op::kEq;
      pos_ += rest.size() > 1 && rest[1] == '=' ? 2 : 1;
    } else if (!rest.empty() && rest[0] == '<') {
      op = Op::kLt;
      ++pos_;
    } else if (!rest.empty() && rest[0] == '>') {
      op = Op::kGt;
      ++pos_;
    } else {
      return Err("expected a comparison (=, !=, <, <=, >, >=) after '" + name + "'");
    }
    auto value = Value();
    if (!value) return value.error();
    if (field == Field::kCallType && !ParseCallType(*value)) {
      return Err("CallType must be Inbound, Outbound, Internal, Consult or Unknown");
    }
    return FilterPtr(std::make_shared<Compare>(field, key, op, *value));
  }

  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

Result<FilterPtr> ParseFilter(std::string_view text) { return Parser(text).Parse(); }

}  // namespace tally::stats
