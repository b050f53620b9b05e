#!/bin/bash
# Builds the performance workloads, times orcsharp against its peers side by side, and writes
# docs/performance.md. Usage: bench/perf.sh [RUNS]   (default 20 runs per command, medians reported)
#
# Workloads (in bench/.work, never committed): the sqlite amalgamation from the npm package
# better-sqlite3@13.2.0 compiled by clang -O2 -fPIC and by gcc -O2 (and aarch64-linux-gnu-gcc -O2), with
# bench/sqlite/driver.c; 1,000 small generated C files; bench/python/embed.c against Debian's static
# libpython3.11.a; hello.c; renamed copies of sqlite for the scaling table. Peers: llvm-jitlink -noexec
# (Debian llvm-19), `ld -shared` and `mold -shared` to a file plus dlopen, gcc -fuse-ld=mold, tcc -run,
# the native arm64 binaries under qemu-aarch64. Needs: npm, clang-14, gcc, hyperfine, llvm-19, mold,
# tcc, lld-19, libpython3.11-dev, qemu-user, gcc-aarch64-linux-gnu, strace (installed with apt if missing).
# ORCSHARP_PERF_BDN=0 leaves out the BenchmarkDotNet pass (minutes); its section then says so.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${1:-20}
work="$root/bench/.work"
mkdir -p "$work"
orc="$root/orcsharp"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v llvm-jitlink-19 >/dev/null || need+=(llvm-19)
command -v npm >/dev/null || need+=(npm)
command -v mold >/dev/null || need+=(mold)
command -v tcc >/dev/null || need+=(tcc)
command -v ld.lld-19 >/dev/null || need+=(lld-19)
command -v strace >/dev/null || need+=(strace)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
[ -f /usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a ] || need+=(libpython3.11-dev)
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
# Embedded Python (Debian's static libpython3.11.a), linked natively by gcc with mold.
pyconfig=/usr/bin/python3.11-config
libpython="$($pyconfig --configdir)/libpython3.11.a"
gcc $($pyconfig --includes) -O2 -c "$root/bench/python/embed.c" -o embed.o
gcc -fuse-ld=mold -no-pie embed.o "$libpython" -lexpat -lz -lm -Wl,-E -o embed-native
diff <(./embed-native) <("$orc" run embed.o "$libpython" -l expat -l z -l m) >/dev/null || { echo "perf: embedded Python output differs from native" >&2; exit 1; }
printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' > hello.c
# Another architecture: the same workloads for arm64, natively linked and run under qemu-user.
arm_root=/usr/aarch64-linux-gnu
[ -f sqlite-arm64.o ] || aarch64-linux-gnu-gcc -O2 -c sqlite3.c -o sqlite-arm64.o
aarch64-linux-gnu-gcc -O2 -I. -c "$root/bench/sqlite/driver.c" -o driver-arm64.o
aarch64-linux-gnu-gcc driver-arm64.o sqlite-arm64.o -o native-arm64 -lm
aarch64-linux-gnu-gcc hello.c -o hello-arm64
diff <(qemu-aarch64 -L $arm_root ./native-arm64) <("$orc" run --target aarch64 driver-arm64.o sqlite-arm64.o) >/dev/null ||
  { echo "perf: sqlite under --target aarch64 differs from native arm64" >&2; exit 1; }
# The scaling table: K copies of sqlite, each but the first with its global definitions renamed.
nm --defined-only -g sqlite-gcc.o | awk '{ print $3 }' > sqlite-globals.txt
scale_counts="1 4 16 72"
for k in $(seq 1 71); do
  [ -f scale/copy-$k.o ] && continue
  mkdir -p scale
  sed "s/.*/& copy${k}_&/" sqlite-globals.txt > scale/map-$k.txt
  objcopy --redefine-syms=scale/map-$k.txt sqlite-gcc.o scale/copy-$k.o
done
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
    "sh -c 'ld -shared -Bsymbolic -o $work/lib-$w.so driver-pic.o sqlite-$w.o && ./dlopen-main $work/lib-$w.so'" \
    "sh -c 'mold -shared -Bsymbolic -o $work/lib-mold-$w.so driver-pic.o sqlite-$w.o && ./dlopen-main $work/lib-mold-$w.so'")
  T[noexec-$w-orc]=${r[0]}; T[noexec-$w-llvm]=${r[1]}; T[noexec-$w-ld]=${r[2]}; T[noexec-$w-mold]=${r[3]}
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
stats_oop=$("$orc" run --oop --stats driver.o sqlite-gcc.o 2>&1 >/dev/null | tail -1)

mapfile -t r < <(time_cmds python "$orc run embed.o $libpython -l expat -l z -l m" \
  "sh -c 'gcc -fuse-ld=mold -no-pie embed.o $libpython -lexpat -lz -lm -Wl,-E -o $work/embed-mold && $work/embed-mold'" \
  "./embed-native")
T[py-orc]=${r[0]}; T[py-gcc]=${r[1]}; T[py-native]=${r[2]}
M[py-orc]=$(peak_kib "$orc" run embed.o "$libpython" -l expat -l z -l m)
M[py-native]=$(peak_kib ./embed-native)
py_input_kib=$(( ($(stat -c %s embed.o "$libpython" | paste -sd+ | bc)) / 1024 ))
"$orc" run hello.c >/dev/null # the source cache is warm from here on
mapfile -t r < <(time_cmds hello "$orc run hello.c" "tcc -run hello.c")
T[hello-orc]=${r[0]}; T[hello-tcc]=${r[1]}

# Scaling: time per MB of input as the input grows (orcsharp run --noexec, whole process).
declare -A S
for k in $scale_counts; do
  files="driver.o sqlite-gcc.o"
  for j in $(seq 1 $((k - 1))); do files="$files scale/copy-$j.o"; done
  S[$k-mb]=$(stat -c %s $files | paste -sd+ | bc | awk '{ printf "%.1f", $1 / 1048576 }')
  S[$k-ms]=$(time_cmds "scale-$k" "$orc run --noexec $files")
  S[$k-kib]=$(peak_kib "$orc" run --noexec $files)
done

# Another architecture, under qemu-user.
"$orc" run --target aarch64 hello.c >/dev/null # builds the arm64 executor and caches hello.c's object
mapfile -t r < <(time_cmds cross-hello "$orc run --target aarch64 hello.c" "qemu-aarch64 -L $arm_root ./hello-arm64")
T[xhello-orc]=${r[0]}; T[xhello-native]=${r[1]}
mapfile -t r < <(time_cmds cross-sqlite "$orc run --target aarch64 driver-arm64.o sqlite-arm64.o" "qemu-aarch64 -L $arm_root ./native-arm64")
T[xsqlite-orc]=${r[0]}; T[xsqlite-native]=${r[1]}

# System calls of a whole --noexec link, as an installed binary makes them (no launcher).
bin="$root/.cache/orcsharp-cli/OrcSharp.Cli"
strace_noexec=$(strace -c -f -o /dev/stdout "$bin" run --noexec driver.o sqlite-gcc.o 2>/dev/null | head -60)
strace_threads=$(strace -f -e trace=clone,clone3 "$bin" run --noexec driver.o sqlite-gcc.o 2>&1 >/dev/null | grep -c 'clone' || true)
strace_stats=$(strace -f -e trace=newfstatat,statx,getdents64,sched_yield "$bin" run --noexec driver.o sqlite-gcc.o 2>&1 >/dev/null | grep -cE 'newfstatat|statx|getdents64|sched_yield' || true)
stats_small=$("$orc" run --noexec --stats small/*.o 2>&1 >/dev/null | tail -1)

# --- in-process (BenchmarkDotNet) ---------------------------------------------------------------------
if [ "${ORCSHARP_PERF_BDN:-1}" != 0 ]; then
  rm -rf "$work/bdn"
  ORCSHARP_BENCH_WORK="$work" ORCSHARP_BENCH_CLI="$bin" dotnet run -c Release --project "$root/bench/OrcSharp.Benchmarks" -- \
    --filter '*' --exporters github --artifacts "$work/bdn" >"$work/bdn.log" 2>&1 || { tail -30 "$work/bdn.log"; exit 1; }
  bdn=$(cat "$work"/bdn/results/*-report-github.md)
else
  bdn="| Method | (not run in this pass: ORCSHARP_PERF_BDN=0) |"
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

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
  echo "Whole-process figures are hyperfine medians of $runs runs after 3 warm-ups, wall time in ms; every peer"
  echo "of a row ran in the same hyperfine call. Load average (1, 5, 15 min) at the start: $load_start; at the end:"
  echo "$load_end (the machine is shared: other people's builds and tests ran meanwhile, so ratios are the figures"
  echo "to read, not absolute times). Rerun the script to reproduce; it rewrites this file (the notes at the end"
  echo "are kept in the script)."
  echo
  heading "Linking sqlite (whole process, nothing runs)"
  table_header objects "orcsharp run --noexec" "llvm-jitlink -noexec" "ld -shared + dlopen" "mold -shared + dlopen" "orcsharp / llvm-jitlink" "orcsharp / ld" "orcsharp / mold"
  for w in clang gcc; do
    echo "| sqlite ($w) + driver | ${T[noexec-$w-orc]} | ${T[noexec-$w-llvm]} | ${T[noexec-$w-ld]} | ${T[noexec-$w-mold]} | $(ratio "${T[noexec-$w-orc]}" "${T[noexec-$w-llvm]}") | $(ratio "${T[noexec-$w-orc]}" "${T[noexec-$w-ld]}") | $(ratio "${T[noexec-$w-orc]}" "${T[noexec-$w-mold]}") |"
  done
  echo "| 1,000 small objects | ${T[small-orc]} | ${T[small-llvm]} | ${T[small-ld]} | | $(ratio "${T[small-orc]}" "${T[small-llvm]}") | $(ratio "${T[small-orc]}" "${T[small-ld]}") | |"
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
  heading "Embedded Python (whole process, the program runs)"
  echo "\`bench/python/embed.c\` with Debian's \`libpython3.11.a\` and \`-l expat -l z -l m\`; the peer links with"
  echo "\`gcc -fuse-ld=mold -no-pie\` and runs the binary. Peak memory is max RSS (KiB); the target is 1.5 times the native"
  echo "program's peak plus the input size ($py_input_kib KiB)."
  echo
  table_header "" "orcsharp run" "gcc -fuse-ld=mold + run" "native binary alone" "orcsharp / (gcc + run)" "peak orcsharp" "peak native" "orcsharp / (1.5 native + input)"
  echo "| embedded Python | ${T[py-orc]} | ${T[py-gcc]} | ${T[py-native]} | $(ratio "${T[py-orc]}" "${T[py-gcc]}") | ${M[py-orc]} | ${M[py-native]} | $(awk -v a="${M[py-orc]}" -v n="${M[py-native]}" -v i="$py_input_kib" 'BEGIN { printf "%.3f", a / (1.5 * n + i) }') |"
  echo
  heading "A C source with a warm cache"
  table_header "" "orcsharp run hello.c" "tcc -run hello.c" "orcsharp / tcc"
  echo "| hello.c | ${T[hello-orc]} | ${T[hello-tcc]} | $(ratio "${T[hello-orc]}" "${T[hello-tcc]}") |"
  echo
  heading "Scaling (orcsharp run --noexec, whole process)"
  echo "The sqlite driver with K copies of sqlite (gcc -O2), every copy after the first with its global"
  echo "definitions renamed (\`objcopy --redefine-syms\`)."
  echo
  table_header "copies" "input (MB)" "median (ms)" "ms per MB" "peak RSS (KiB)"
  for k in $scale_counts; do
    echo "| $k | ${S[$k-mb]} | ${S[$k-ms]} | $(ratio "${S[$k-ms]}" "${S[$k-mb]}") | ${S[$k-kib]} |"
  done
  echo
  heading "Another architecture (--target aarch64, under qemu-user)"
  table_header "" "orcsharp run --target aarch64" "native arm64 binary under qemu-aarch64" "orcsharp / native"
  echo "| hello.c (object cached) | ${T[xhello-orc]} | ${T[xhello-native]} | $(ratio "${T[xhello-orc]}" "${T[xhello-native]}") |"
  echo "| sqlite + driver | ${T[xsqlite-orc]} | ${T[xsqlite-native]} | $(ratio "${T[xsqlite-orc]}" "${T[xsqlite-native]}") |"
  echo
  heading "System calls of a --noexec link (installed binary, no launcher)"
  echo "\`strace -c -f .cache/orcsharp-cli/OrcSharp.Cli run --noexec driver.o sqlite-gcc.o\`; threads started (clone): $strace_threads;"
  echo "stat, getdents64 and sched_yield calls together: $strace_stats."
  echo
  echo '```'
  echo "$strace_noexec"
  echo '```'
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
  echo "out of process (\`--oop\`, sqlite (gcc) + driver; segment bytes through shared memory):"
  echo
  echo '```'
  echo "$stats_oop"
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
