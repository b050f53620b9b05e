#!/bin/bash
# What registering debug objects costs a link: `orcsharp run --noexec` on the sqlite workload, this
# checkout against base commits built in scratch worktrees (deleted afterwards), and against itself with
# ORCSHARP_DEBUG_OBJECTS=0. Runs are interleaved (every round runs each command once, in a shuffled order)
# so that load from other processes falls on all of them alike. Reported: medians of wall-clock time and
# of CPU time (user + system, all threads: what a busy machine disturbs least), as ratios to the first base.
# Usage: bench/debug-registration.sh [ROUNDS [BASE-COMMIT...]]
#   defaults: 40 rounds; 1e87edc (the issue's "today") and 2534012 (main just before the debug work merged)
# Needs the workloads of bench/perf.sh in bench/.work (run it once), plus driver-g.o and sqlite-gcc-g.o,
# built here with -g if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rounds=${1:-40}
shift || true
if [ $# -gt 0 ]; then bases=("$@"); else bases=(1e87edc 2534012); fi
work="$root/bench/.work"
[ -f "$work/sqlite-gcc.o" ] || { echo "debug-registration: run bench/perf.sh first (it builds bench/.work)" >&2; exit 1; }
[ -f "$work/sqlite-gcc-g.o" ] || gcc -O2 -g -c "$work/sqlite3.c" -o "$work/sqlite-gcc-g.o"
[ -f "$work/driver-g.o" ] || gcc -O2 -g -I"$work" -c "$root/bench/sqlite/driver.c" -o "$work/driver-g.o"

scratch=$(mktemp -d)
cleanup() {
  for b in "${bases[@]}"; do git -C "$root" worktree remove --force "$scratch/$b" >/dev/null 2>&1 || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT
# Each launcher builds its CLI (NativeAOT) on first use; the timings call the binaries themselves.
binaries=()
for b in "${bases[@]}"; do
  git -C "$root" worktree add --detach "$scratch/$b" "$b" >/dev/null 2>&1
  "$scratch/$b/orcsharp" run --noexec "$work/driver.o" "$work/sqlite-gcc.o"
  binaries+=("$b=$scratch/$b/.cache/orcsharp-cli/OrcSharp.Cli")
done
"$root/orcsharp" run --noexec "$work/driver.o" "$work/sqlite-gcc.o"
binaries+=("this=$root/.cache/orcsharp-cli/OrcSharp.Cli")

cd "$work"
python3 - "$rounds" "${binaries[@]}" <<'EOF'
import os, random, statistics, subprocess, sys, time
rounds = int(sys.argv[1])
builds = [a.split("=", 1) for a in sys.argv[2:]]
off = dict(os.environ, ORCSHARP_DEBUG_OBJECTS="0")
on = dict(os.environ); on.pop("ORCSHARP_DEBUG_OBJECTS", None)
for inputs in (["driver.o", "sqlite-clang.o"], ["driver.o", "sqlite-gcc.o"], ["driver-g.o", "sqlite-gcc-g.o"]):
    variants = {name: (exe, on) for name, exe in builds}
    variants["this, ORCSHARP_DEBUG_OBJECTS=0"] = (builds[-1][1], off)
    wall = {k: [] for k in variants}
    cpu = {k: [] for k in variants}
    for _ in range(3 + rounds):  # the first 3 rounds warm the page cache and are dropped
        for name in random.sample(list(variants), len(variants)):
            exe, env = variants[name]
            t = time.monotonic()
            p = subprocess.Popen([exe, "run", "--noexec", *inputs], env=env, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(p.pid, 0)
            wall[name].append(time.monotonic() - t)
            cpu[name].append(usage.ru_utime + usage.ru_stime)
            if status != 0: sys.exit(f"{exe} failed on {inputs}")
    med = lambda xs: statistics.median(xs[3:])
    first = builds[0][0]
    print(f"{' '.join(inputs)}: medians of {rounds} runs, wall and CPU time")
    for name in variants:
        w, c = med(wall[name]), med(cpu[name])
        print(f"  {name:32} {w * 1000:7.1f} ms ({w / med(wall[first]):.2f}x)   {c * 1000:7.1f} ms CPU ({c / med(cpu[first]):.2f}x)")
EOF
