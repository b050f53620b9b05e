#!/bin/bash
# Builds the performance workloads, times orcsharp against its peers side by side, and writes
# docs/performance.md. Usage: bench/perf.sh [RUNS]   (default 20 runs per command, medians reported)
#
# Workloads (in bench/.work, never committed): the sqlite amalgamation from the npm package
# better-sqlite3@13.2.0 compiled by clang -O2 -fPIC and by gcc -O2, with bench/sqlite/driver.c; and
# 1,000 small generated C files. Peers: llvm-jitlink -noexec (Debian llvm-19), and `ld -shared` to a file
# plus dlopen. Needs: npm, clang-14, gcc, hyperfine, llvm-19 (installed with apt if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${1:-20}
work="$root/bench/.work"
mkdir -p "$work"
orc="$root/orcsharp"

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v llvm-jitlink-19 >/dev/null || need+=(llvm-19)
command -v npm >/dev/null || need+=(npm)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null
fi

# --- workloads -------------------------------------------------------------------------------------
cd "$work"
if [ ! -f sqlite3.c ]; then
  npm pack better-sqlite3@13.2.0 --silent >/dev/null
  tar xzf better-sqlite3-13.2.0.tgz package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h
  mv package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h . && rm -rf package better-sqlite3-13.2.0.tgz
fi
[ -f sqlite-clang.o ] || clang-14 -O2 -fPIC -c sqlite3.c -o sqlite-clang.o &
[ -f sqlite-gcc.o ] || gcc -O2 -c sqlite3.c -o sqlite-gcc.o &
wait
gcc -O2 -I. -c "$root/bench/sqlite/driver.c" -o driver.o
gcc -O2 -fPIC -I. -c "$root/bench/sqlite/driver.c" -o driver-pic.o
gcc driver.o sqlite-clang.o -o native-clang -lm
gcc driver.o sqlite-gcc.o -o native-gcc -lm
gcc -O2 "$root/bench/dlopen-main.c" -o dlopen-main
if [ ! -f small/small_0999.o ]; then
  sh "$root/bench/gen-small.sh" small 1000
  (cd small && ls small_*.c | xargs -P 2 -n 50 gcc -O2 -c)
fi
gcc small/*.o -o native-small
# Two objects that differ only in their number of relocations (allocations per relocation).
for n in 1000 100000; do
  [ -f relocs-$n.o ] && continue
  awk -v n=$n 'BEGIN { print ".text\n.globl main\nmain: xorl %eax, %eax\n ret\n.data\n.globl table\ntable:";
    for (i = 0; i < n; i++) printf " .quad main + %d\n", i % 64; print ".section .note.GNU-stack,\"\",@progbits" }' > relocs-$n.s
  gcc -c relocs-$n.s -o relocs-$n.o
done
for w in clang gcc; do
  diff <(./native-$w) <("$orc" run driver.o sqlite-$w.o) >/dev/null || { echo "perf: sqlite-$w output differs from native" >&2; exit 1; }
done
diff <(./native-small) <("$orc" run small/*.o) >/dev/null || { echo "perf: small objects output differs from native" >&2; exit 1; }
"$orc" run --noexec driver.o sqlite-clang.o >/dev/null # the launcher builds the CLI now, not during timing

# --- whole-process timings ---------------------------------------------------------------------------
median() { grep -o '"median": *[0-9.e+-]*' "$1" | sed 's/.*: *//' | awk '{printf "%.1f\n", $1 * 1000}'; }
time_cmds() { # name, then commands; prints the median of each in ms, one per line
  local name=$1; shift
  hyperfine -N -w 3 -r "$runs" --export-json "$work/$name.json" "$@" >/dev/null 2>&1
  median "$work/$name.json"
}
peak_kib() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

declare -A T M
for w in clang gcc; do
  mapfile -t r < <(time_cmds "noexec-$w" \
    "$orc run --noexec driver.o sqlite-$w.o" \
    "llvm-jitlink-19 -noexec driver.o sqlite-$w.o" \
    "sh -c 'ld -shared -Bsymbolic -o $work/lib-$w.so driver-pic.o sqlite-$w.o && ./dlopen-main $work/lib-$w.so'")
  T[noexec-$w-orc]=${r[0]}; T[noexec-$w-llvm]=${r[1]}; T[noexec-$w-ld]=${r[2]}
  mapfile -t r < <(time_cmds "run-$w" "./native-$w" "$orc run driver.o sqlite-$w.o" "$orc run --oop driver.o sqlite-$w.o")
  T[run-$w-native]=${r[0]}; T[run-$w-orc]=${r[1]}; T[run-$w-oop]=${r[2]}
  M[$w-orc]=$(peak_kib "$orc" run --noexec driver.o sqlite-$w.o)
  M[$w-llvm]=$(peak_kib llvm-jitlink-19 -noexec driver.o sqlite-$w.o)
done
small=$(echo small/*.o) # hyperfine -N runs commands without a shell: no globbing
mapfile -t r < <(time_cmds small "$orc run --noexec $small" "llvm-jitlink-19 -noexec $small" \
  "sh -c 'ld -shared -Bsymbolic -o $work/small.so small/*.o && ./dlopen-main $work/small.so'")
T[small-orc]=${r[0]}; T[small-llvm]=${r[1]}; T[small-ld]=${r[2]}
stats=$("$orc" run --noexec --stats driver.o sqlite-clang.o 2>&1 >/dev/null | tail -1)
stats_small=$("$orc" run --noexec --stats small/*.o 2>&1 >/dev/null | tail -1)

# --- in-process (BenchmarkDotNet) ---------------------------------------------------------------------
ORCSHARP_BENCH_WORK="$work" dotnet run -c Release --project "$root/bench/OrcSharp.Benchmarks" -- \
  --filter '*' --exporters github --artifacts "$work/bdn" >"$work/bdn.log" 2>&1 || { tail -30 "$work/bdn.log"; exit 1; }
bdn=$(cat "$work"/bdn/results/*-report-github.md)

heading() { printf '## %s\n\n' "$1"; }
table_header() { # column names: the header row and its separator row
  local head="|" rule="|" c
  for c in "$@"; do head="$head $c |"; rule="$rule --- |"; done
  printf '%s\n%s\n' "$head" "$rule"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
cd "$root"
{
  echo "# Performance"
  echo
  echo "Written by \`bench/perf.sh $runs\` on $(date -u +%Y-%m-%d): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'),"
  echo "$(. /etc/os-release; echo "$PRETTY_NAME"), $(gcc --version | head -1), $(clang-14 --version | head -1), $(llvm-jitlink-19 --version 2>&1 | grep -m1 -o 'LLVM version [0-9.]*')."
  echo "Whole-process figures are hyperfine medians of $runs runs after 3 warm-ups, wall time in ms. Rerun the"
  echo "script to reproduce; it rewrites this file (the notes at the end are kept in the script)."
  echo
  heading "Linking sqlite (whole process, nothing runs)"
  table_header objects "orcsharp run --noexec" "llvm-jitlink -noexec" "ld -shared + dlopen" "orcsharp / llvm-jitlink" "orcsharp / ld"
  for w in clang gcc; do
    echo "| sqlite ($w) + driver | ${T[noexec-$w-orc]} | ${T[noexec-$w-llvm]} | ${T[noexec-$w-ld]} | $(ratio "${T[noexec-$w-orc]}" "${T[noexec-$w-llvm]}") | $(ratio "${T[noexec-$w-orc]}" "${T[noexec-$w-ld]}") |"
  done
  echo "| 1,000 small objects | ${T[small-orc]} | ${T[small-llvm]} | ${T[small-ld]} | $(ratio "${T[small-orc]}" "${T[small-llvm]}") | $(ratio "${T[small-orc]}" "${T[small-ld]}") |"
  echo
  echo "Peak memory (max RSS, KiB) of the same \`--noexec\` link:"
  echo
  table_header objects orcsharp llvm-jitlink "orcsharp / llvm-jitlink"
  for w in clang gcc; do echo "| sqlite ($w) + driver | ${M[$w-orc]} | ${M[$w-llvm]} | $(ratio "${M[$w-orc]}" "${M[$w-llvm]}") |"; done
  echo
  heading "Running the sqlite driver (whole process)"
  table_header objects "native program" "orcsharp run" "JIT overhead" "orcsharp run --oop" "out-of-process overhead over in-process"
  for w in clang gcc; do
    echo "| sqlite ($w) + driver | ${T[run-$w-native]} | ${T[run-$w-orc]} | $(minus "${T[run-$w-orc]}" "${T[run-$w-native]}") | ${T[run-$w-oop]} | $(minus "${T[run-$w-oop]}" "${T[run-$w-orc]}") |"
  done
  echo
  heading "In process (BenchmarkDotNet)"
  echo "Objects already in memory (bytes) to a callable \`main\`, then the JITDylib is removed again"
  echo "(\`bench/OrcSharp.Benchmarks\`, run by this script with \`ORCSHARP_BENCH_WORK=bench/.work\`)."
  echo
  echo "$bdn" | sed -n '/^| *Method/,$p' | grep '^|'
  echo
  heading "Where the time goes (\`--stats\`)"
  echo "\`orcsharp run --noexec --stats\` on sqlite (clang) + driver, phases in ms:"
  echo
  echo '```'
  echo "$stats"
  echo '```'
  echo
  echo "and on the 1,000 small objects:"
  echo
  echo '```'
  echo "$stats_small"
  echo '```'
  echo
  cat "$root/bench/perf-notes.md"
} > docs/performance.md
echo "perf: wrote docs/performance.md"
