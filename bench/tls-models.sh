#!/usr/bin/env bash
# Thread-local access cost per TLS model: the same objects linked natively (gcc, PIE executable) and
# JIT-linked by orcsharp, N calls of a function doing thread-local read-modify-writes, timed inside the
# program. Prints the median of RUNS runs per model and the JIT/native ratio.
# Usage: bench/tls-models.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000000}; runs=${2:-5}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
models=(
  "local-exec|-O2"
  "initial-exec|-O2 -fPIC -ftls-model=initial-exec"
  "local-dynamic|-O2 -fPIC -ftls-model=local-dynamic"
  "global-dynamic|-O2 -fPIC -ftls-model=global-dynamic"
  "gnu2 descriptors|-O2 -fPIC -mtls-dialect=gnu2"
)
# Code alignment is pinned so the figures compare TLS access sequences, not where a loop happens to fall.
align="-falign-functions=64 -falign-loops=64"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-18s %12s %12s %7s\n' model "native ns" "orcsharp ns" ratio
for m in "${models[@]}"; do
  name=${m%%|*}; flags=${m#*|}
  d="$work/${name// /_}"; mkdir -p "$d"
  gcc $flags $align -c bench/tls/counter.c -o "$d/counter.o"
  gcc $flags $align -c bench/tls/main.c -o "$d/main.o"
  gcc "$d/main.o" "$d/counter.o" -o "$d/native"
  nat=$(for i in $(seq "$runs"); do "$d/native" "$n" | cut -d' ' -f1; done | median)
  jit=$(for i in $(seq "$runs"); do ./orcsharp run "$d/main.o" "$d/counter.o" -- "$n" | cut -d' ' -f1; done | median)
  printf '%-18s %12s %12s %7s\n' "$name" "$nat" "$jit" "$(awk -v a="$jit" -v b="$nat" 'BEGIN{printf "%.3f", a/b}')"
done
