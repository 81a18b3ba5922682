// Filters (`dynamicFilter`): boolean conditions on the data attached to actions and statuses.
// Grammar (DESIGN.md §4, documented in docs/statistics.md):
//   expr    := and ('|' and)*          and := unary ('&' unary)*
//   unary   := '~' unary | '(' expr ')' | call | compare
//   call    := PairExists("k","v") | KeyExists("k") | ReasonExists("k"[,"v"])
//   compare := field op value          op := = | != | < | <= | > | >=
//   field   := Media | MediaType | CallType | ThisQueue | ANI | DNIS
//            | UserData.<key> | Reasons.<key> | <key>  (a bare unknown key means UserData.<key>)
// Values are bare tokens or "quoted strings"; < <= > >= compare numerically when both sides are
// numbers, else as text. Names of fields and functions are case-insensitive.
// Threading: a parsed Filter is immutable and may be shared.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/errc.h"
#include "stats/event.h"

namespace tally::stats {

class Filter {
 public:
  Filter();
  virtual ~Filter() = default;
  Filter(const Filter&) = delete;
  Filter& operator=(const Filter&) = delete;
  [[nodiscard]] virtual bool Matches(const Attributes& a) const = 0;
  // Matches, remembered on the record: an Attributes record never changes once it is shared, so
  // a filter is evaluated once per record (a call's record serves every status of the call).
  [[nodiscard]] bool MatchesRecord(const Attributes& a) const {
    if (const auto known = a.filter_memo.Find(id_)) return *known;
    const bool matches = Matches(a);
    a.filter_memo.Put(id_, matches);
    return matches;
  }

 private:
  std::uint64_t id_;  // unique in the process (never reused, so a memo cannot be stale)
};
using FilterPtr = std::shared_ptr<const Filter>;

// Parses a filter; errors say "column N: …". An empty text is an error (callers omit the filter).
[[nodiscard]] Result<FilterPtr> ParseFilter(std::string_view text);

}  // namespace tally::stats
