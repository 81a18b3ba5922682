#!/usr/bin/env bash
# House rules that a compiler does not check (STYLE.md). Exit 1 with one line per violation.
#  - clang-format clean (.clang-format)
#  - the module arrows of DESIGN.md §2 also hold for #include lines (cmake/TallyModules.cmake
#    enforces them for linking)
#  - Asio/Beast only in net/ and server/; no std::cout in src/; no system_clock::now() outside
#    common/; no machine paths in tracked files
set -u
cd "$(dirname "$0")/.."
fail=0
say() { echo "check_style: $*"; fail=1; }

mapfile -t sources < <(git ls-files 'src/*.h' 'src/*.cc' 'bench/*.h' 'bench/*.cc' 'tests/*.h' 'tests/*.cc' 2>/dev/null)
if [ ${#sources[@]} -eq 0 ]; then
  mapfile -t sources < <(find src bench tests -name '*.h' -o -name '*.cc' 2>/dev/null | grep -v node_modules)
fi

if command -v clang-format >/dev/null 2>&1; then
  for f in "${sources[@]}"; do
    [ -f "$f" ] || continue
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
      say "$f is not clang-formatted (run: make format)"
    fi
  done
else
  say "clang-format is not installed (make deps installs it)"
fi

declare -A allowed=(
  [common]=""
  [config]="common"
  [stats]="common"
  [events]="common stats"
  [storage]="common"
  [bayeux]="common"
  [api]="common stats events bayeux"
  [auth]="common config"
  [net]="common"
  [sim]="common events stats"
  [server]="common config stats events storage bayeux api auth net sim"
)
for f in "${sources[@]}"; do
  [[ "$f" == src/*/* ]] || continue
  mod=$(echo "$f" | cut -d/ -f2)
  [ -n "${allowed[$mod]+x}" ] || { say "$f: module '$mod' is not in DESIGN.md §2"; continue; }
  while IFS= read -r inc; do
    dep=${inc%%/*}
    [ "$dep" = "$mod" ] && continue
    [ -n "${allowed[$dep]+x}" ] || continue  # not a module header (e.g. generated)
    case " ${allowed[$mod]} " in
      *" $dep "*) ;;
      *) say "$f includes $inc: module '$mod' may not depend on '$dep'" ;;
    esac
  done < <(grep -oE '^#include "[a-z_]+/[^"]+"' "$f" | sed -E 's/#include "(.*)"/\1/')
done

for f in "${sources[@]}"; do
  [[ "$f" == src/* ]] || continue
  case "$f" in
    src/net/*|src/server/*) ;;
    *) grep -nE '#include <boost/(asio|beast)' "$f" /dev/null | sed 's/^/Asio\/Beast outside net\/ and server\/: /' | while read -r l; do echo "check_style: $l"; done
       grep -qE '#include <boost/(asio|beast)' "$f" && fail=1 ;;
  esac
  if grep -nE 'std::cout' "$f" >/dev/null; then say "$f uses std::cout (log through common/log.h)"; fi
  case "$f" in
    src/common/*) ;;
    *) if grep -nE 'system_clock::now\(\)' "$f" >/dev/null; then say "$f reads the system clock (inject a tally::Clock)"; fi ;;
  esac
done

if git rev-parse --git-dir >/dev/null 2>&1; then
  hits=$(git ls-files -z | xargs -0 grep -lE '/(work|home|root)/[A-Za-z0-9_.-]+/' 2>/dev/null | grep -vE '^(tools/check_style.sh)$' || true)
  [ -z "$hits" ] || say "machine paths in: $hits"
fi

if [ $fail -ne 0 ]; then exit 1; fi
echo "check_style: ok (${#sources[@]} files)"
