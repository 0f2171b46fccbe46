#!/usr/bin/env bash
# Builds everything and runs every test suite. The last line is the summary "N passed, N failed",
# summed over all test projects. Exits non-zero if anything failed to build or any test failed.
set -uo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if ! command -v dotnet >/dev/null 2>&1; then
  echo "dotnet (the .NET 10 SDK) is not installed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

echo "== make sure node (18 or later) is there: the CDK that Tests/Deploy.Tests synthesises runs in it"
if ! deploy/install.sh; then
  echo "node 18 or later is missing; the deploy tests will fail and say so" >&2
fi

echo "== install the AWS emulators (kinesis-local, dynalite) from npm"
if ! Tests/Emulators/install.sh; then
  echo "installing the emulators failed; the AWS tests will fail and say so" >&2
fi

echo "== install the browser for the dashboard tests (Debian's chromium)"
if ! Tests/Browser/install.sh; then
  echo "installing chromium failed; the dashboard tests will fail and say so" >&2
fi

echo "== build (Release)"
if ! dotnet build Orleans.sln -c Release -nologo -v quiet -clp:ErrorsOnly; then
  echo "build failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
for project in Tests/*/*.csproj; do
  grep -q '<IsTestProject>true</IsTestProject>' "$project" || continue
  echo "== test $project"
  out=$(mktemp)
  # A hung test is reported and killed instead of eating the CI budget.
  dotnet test "$project" -c Release --no-build -nologo --blame-hang-timeout 5m > "$out" 2>&1 || status=1
  # A test host killed for hanging cannot stop the processes it started: end any of this checkout's
  # silos, tools, emulators and Playwright drivers that outlived it, so no process or port leaks
  # into the next suite (a driver takes its chromium with it).
  pkill -KILL -f "$(pwd)/(Silo|Client|Tests/Emulators|Tests/[^/]+/bin/.*/\.playwright)/" 2>/dev/null || true
  cat "$out" >> "$log"
  # Show each failure with its message, then the project's summary line.
  grep -E -A6 '^\s+Failed [A-Za-z]' "$out" || true
  grep -E '^\s*(Failed|Passed)!' "$out" || tail -5 "$out"
  rm -f "$out"
done

passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # a test host crashed or hung without reporting a count
fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
