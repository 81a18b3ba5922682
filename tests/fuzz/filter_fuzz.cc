// The filter language (stats/filter.h): any text parses or is refused naming a column, and a
// parsed filter evaluates on any attributes. Properties: "(f)" means f and "~(f)" its negation.
#include "fuzz/fuzz_support.h"
#include "stats/filter.h"

namespace tally::fuzz {
namespace {

const std::vector<stats::Attributes>& Samples() {
  static const std::vector<stats::Attributes> samples = [] {
    std::vector<stats::Attributes> s(4);
    s[1].media_type = "chat";
    s[1].call_type = stats::CallType::kInbound;
    s[1].this_queue = "8001";
    s[1].ani = "+33123456789";
    s[1].dnis = "800";
    s[1].reasons = {{"NotReady", "Lunch"}, {"Code", "12"}};
    s[1].user_data = {{"Segment", "Gold"}, {"Amount", "12.5"}, {"", ""}};
    s[2].call_type = stats::CallType::kConsult;
    s[2].user_data = {{"Amount", "-3e2"}, {"Segment", "gold"}, {"Segment", "Silver"}};
    s[3].media_type = "";
    s[3].reasons = {{"k", "v\"\\"}};
    return s;
  }();
  return samples;
}

}  // namespace
}  // namespace tally::fuzz

TALLY_FUZZ_TARGET(filter) {
  using namespace tally;
  auto f = stats::ParseFilter(input);
  if (!f) {
    TALLY_FUZZ_CHECK(f.error().message.rfind("dynamicFilter: column ", 0) == 0, f.error().message);
    return 0;
  }
  TALLY_FUZZ_CHECK(*f != nullptr, "a parsed filter is null");
  const std::string text(input);
  auto wrapped = stats::ParseFilter("(" + text + ")");
  auto negated = stats::ParseFilter("~(" + text + ")");
  for (const auto& a : fuzz::Samples()) {
    const bool v = (*f)->Matches(a);
    if (wrapped) TALLY_FUZZ_CHECK((*wrapped)->Matches(a) == v, "(f) differs from f");
    if (negated) TALLY_FUZZ_CHECK((*negated)->Matches(a) == !v, "~(f) is not the negation of f");
  }
  return 0;
}
