#!/usr/bin/env bash
# Replays LLVM's ELF JITLink tests (llvm/test/ExecutionEngine/JITLink: x86-64/ELF_*, AArch64/ELF_*,
# Generic/*) with `orcsharp jitlink` or with Debian's llvm-jitlink-19, as lit would run their RUN lines.
# The tests are not part of this repository: pass the directory of an llvm-project checkout (or of
# Debian's llvm-toolchain-19 source package) that holds them.
#
#   bench/llvm-jitlink-tests.sh LLVM_TEST_DIR [--tool orcsharp|llvm] [-v]
#
# LLVM_TEST_DIR is llvm/test/ExecutionEngine/JITLink (or any parent that contains it). Every test ends
# as PASS, FAIL or N/A (a REQUIRES/UNSUPPORTED condition this build does not meet, e.g. `asserts` for
# -debug-only, which Debian's release build lacks). A failing `not TOOL ... | FileCheck` step whose
# exit status was right is reported as FAIL(wording): only the error text differs from LLVM's.
# The last line is "N passed, N failed, N skipped" (skipped = not applicable).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=""; tool=orcsharp; verbose=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tool) tool=$2; shift 2 ;;
    -v) verbose=1; shift ;;
    -*) echo "usage: $0 LLVM_TEST_DIR [--tool orcsharp|llvm] [-v]" >&2; exit 2 ;;
    *) dir=$1; shift ;;
  esac
done
[ -n "$dir" ] || { echo "usage: $0 LLVM_TEST_DIR [--tool orcsharp|llvm] [-v]" >&2; exit 2; }
for cand in "$dir" "$dir/ExecutionEngine/JITLink" "$dir/test/ExecutionEngine/JITLink" "$dir/llvm/test/ExecutionEngine/JITLink"; do
  if [ -d "$cand/x86-64" ]; then dir=$(cd "$cand" && pwd); break; fi
done
[ -d "$dir/x86-64" ] || { echo "no JITLink tests under $dir" >&2; exit 2; }

case "$tool" in
  orcsharp) jitlink="$here/orcsharp jitlink"; "$here/orcsharp" --help >/dev/null || exit 1 ;;
  llvm) jitlink=$(command -v llvm-jitlink-19) || { echo "llvm-jitlink-19 not found" >&2; exit 2; } ;;
  *) echo "unknown tool $tool" >&2; exit 2 ;;
esac
bin19=/usr/lib/llvm-19/bin
for t in llvm-mc FileCheck not yaml2obj llc split-file count; do
  [ -x "$bin19/$t" ] || { echo "missing $bin19/$t (install llvm-19 and llvm-19-tools)" >&2; exit 2; }
done

# lit features of this build: a Linux x86-64 host, no assertions, no Intel JIT events.
features=" native x86_64-linux system-linux x86-registered-target aarch64-registered-target "
triple=x86_64-unknown-linux-gnu
work=$(mktemp -d "${TMPDIR:-/tmp}/llvm-jitlink-tests.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Whether a lit boolean expression (terms joined by &&, ||, with ! and parentheses) holds here.
holds() {
  local expr=$1 py
  py=$(sed -E 's/&&/ and /g; s/\|\|/ or /g; s/!/ not /g' <<<"$expr")
  python3 - "$py" "$features" "$triple" <<'EOF'
import re, sys
expr, feats, triple = sys.argv[1], set(sys.argv[2].split()), sys.argv[3]
def term(m):
    t = m.group(0)
    if t in ("and", "or", "not"): return t
    if t.startswith("target="):
        pat = t[len("target="):].replace("{{", "(").replace("}}", ")")
        return str(re.fullmatch(pat, triple) is not None)
    return str(t in feats)
print(eval(re.sub(r"target=\S+|[A-Za-z0-9_.\-=]+", term, expr)))
EOF
}

# Reads one directive's values (continuation lines joined).
directive() { grep -E "^[^A-Za-z0-9]*$1:" "$2" | sed -E "s/^.*$1:[[:space:]]*//"; }

runlines() {
  # RUN: lines with trailing backslashes joined, one command per output line.
  awk '
    /RUN:/ { sub(/^.*RUN:[ \t]*/, ""); if (sub(/\\[ \t]*$/, "")) { acc = acc $0 " "; next } print acc $0; acc = ""; next }
  ' "$1"
}

pass=0; fail=0; skip=0
declare -a report=()
for test in "$dir"/x86-64/ELF_* "$dir"/AArch64/ELF_* "$dir"/Generic/*.test "$dir"/Generic/*.s "$dir"/Generic/*.ll; do
  [ -f "$test" ] || continue
  rel=${test#"$dir"/}
  na=""
  while IFS= read -r req; do
    [ -z "$req" ] && continue
    IFS=',' read -ra parts <<<"$req"
    for p in "${parts[@]}"; do [ "$(holds "$p")" = True ] || na="requires $p"; done
  done < <(directive REQUIRES "$test")
  while IFS= read -r uns; do
    [ -z "$uns" ] && continue
    IFS=',' read -ra parts <<<"$uns"
    for p in "${parts[@]}"; do [ "$(holds "$p")" = True ] && na="unsupported: $p"; done
  done < <(directive UNSUPPORTED "$test")
  if [ -n "$na" ]; then skip=$((skip + 1)); report+=("N/A   $rel ($na)"); continue; fi
  xfail=0
  while IFS= read -r xf; do
    [ -z "$xf" ] && continue
    IFS=',' read -ra parts <<<"$xf"
    for p in "${parts[@]}"; do [ "$(holds "$p")" = True ] && xfail=1; done
  done < <(directive XFAIL "$test")

  tdir="$work/$(echo "$rel" | tr '/' '_')"
  mkdir -p "$tdir"
  tmp="$tdir/t.tmp"
  status=PASS; detail=""; n=0
  while IFS= read -r cmd; do
    n=$((n + 1))
    # lit substitutions, then the tools: whole words only (llvm-jitlink-executor stays as it is).
    cmd=$(TOOL="$jitlink" BIN="$bin19" S="$(dirname "$test")" SFILE="$test" T="$tmp" perl -pe '
      s/%s(?![A-Za-z])/$ENV{SFILE}/g; s/%S/$ENV{S}/g; s/%p/$ENV{S}/g; s/%t/$ENV{T}/g; s/%T/$ENV{T}.dir/g;
      s/(?<![\w\/.-])llvm-jitlink(?![\w-])/$ENV{TOOL}/g;
      s/(?<![\w\/.-])(llvm-mc|FileCheck|not|yaml2obj|llc|split-file|count)(?![\w-])/$ENV{BIN}\/$1/g;' <<<"$cmd")
    out=$(cd "$tdir" && bash -o pipefail -c "$cmd" 2>&1 </dev/null)
    rc=$?
    [ "$verbose" = 1 ] && printf '  [%s] %s\n%s\n' "$rc" "$cmd" "$out" | sed 's/^/    /' >&2
    if [ $rc -ne 0 ]; then
      status=FAIL; detail="RUN line $n"
      if [[ "$cmd" == *"| "*"/FileCheck"* ]]; then
        left=${cmd%%|*}
        (cd "$tdir" && bash -o pipefail -c "$left" >/dev/null 2>&1) && status="FAIL(wording)"
      fi
      detail="$detail: $(head -c 300 <<<"$out" | tr '\n' ' ')"
      break
    fi
  done < <(runlines "$test")
  if [ $xfail = 1 ]; then
    if [ "$status" = PASS ]; then status="FAIL(unexpectedly passed)"; else status=PASS; detail="expected failure"; fi
  fi
  if [ "$status" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
  kind=${status%%(*}; why=""; [ "$kind" != "$status" ] && why=${status#"$kind"}
  report+=("$(printf '%-6s %s%s' "$kind" "$rel" "${why:+ $why}${detail:+ $detail}")")
done
printf '%s\n' "${report[@]}"
echo "llvm-jitlink tests with $tool: $pass passed, $fail failed, $skip skipped"
