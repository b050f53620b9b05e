#!/usr/bin/env bash
# Runs every test of the repo: builds the CLI (./orcsharp does on first use), then dotnet test.
# Prints one closing line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
./orcsharp --help >/dev/null || exit 1
dotnet test tests/OrcSharp.Tests -c Release --logger "console;verbosity=normal" 2>&1 | tee /tmp/orcsharp-test.log
rc=${PIPESTATUS[0]}
passed=$(grep -Eo 'Passed: +[0-9]+' /tmp/orcsharp-test.log | tail -1 | grep -Eo '[0-9]+')
failed=$(grep -Eo 'Failed: +[0-9]+' /tmp/orcsharp-test.log | tail -1 | grep -Eo '[0-9]+')
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
[ "$rc" -eq 0 ] && [ -n "${passed:-}" ]
