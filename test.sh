#!/usr/bin/env bash
# Runs every test of the repo: builds the CLI (./orcsharp does on first use), then dotnet test.
# Prints one closing line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
log=$(mktemp "${TMPDIR:-/tmp}/orcsharp-test.XXXXXX")
trap 'rm -f "$log"' EXIT
./orcsharp --help >/dev/null || exit 1
dotnet test tests/OrcSharp.Tests -c Release --logger "console;verbosity=normal" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
[ "$rc" -eq 0 ] && [ -n "${passed:-}" ]
