#!/bin/sh
# Writes N small C files into DIR: each has a few functions that call functions of the next file, and
# small_0000.c has main, which walks the whole chain. Usage: gen-small.sh DIR [N]
set -eu
dir=$1; n=${2:-1000}
mkdir -p "$dir"
i=0
while [ "$i" -lt "$n" ]; do
  next=$(( (i + 1) % n ))
  f=$(printf '%s/small_%04d.c' "$dir" "$i")
  {
    printf 'int chain_%d(int depth, int x);\n' "$next"
    printf 'static int table_%d[4] = { %d, %d, %d, %d };\n' "$i" "$i" "$((i * 3))" "$((i * 7))" "$((i + 11))"
    printf 'static int mix_%d(int x) { return (x * 31 + table_%d[x & 3]) ^ %d; }\n' "$i" "$i" "$i"
    printf 'int leaf_%d(int x) { return mix_%d(x) + 1; }\n' "$i" "$i"
    printf 'int chain_%d(int depth, int x) { return depth == 0 ? leaf_%d(x) : chain_%d(depth - 1, mix_%d(x)); }\n' "$i" "$i" "$next" "$i"
  } > "$f"
  i=$((i + 1))
done
cat >> "$dir/small_0000.c" <<EOC
#include <stdio.h>
int main(void) { printf("%d\\n", chain_0($((n - 1)), 1)); return 0; }
EOC
