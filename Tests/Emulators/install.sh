#!/usr/bin/env bash
# Installs the AWS emulators that Tests/Aws.Tests starts (kinesis-mock and dynalite) into
# Tests/Emulators/node_modules, exactly as package-lock.json pins them. Safe to run again: when the
# installed tree already matches the lockfile it does nothing.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node and npm are required for the AWS emulators (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi

# npm ci wipes and reinstalls node_modules every time; skip it when npm's own record of the
# installed tree is newer than the lockfile and both emulators' entry points are there.
marker=node_modules/.package-lock.json
if [ -f "$marker" ] && [ "$marker" -nt package-lock.json ] \
  && [ -f node_modules/kinesis-local/main.js ] && [ -f node_modules/dynalite/cli.js ]; then
  echo "emulators already installed in $(pwd)/node_modules"
  exit 0
fi

# --ignore-scripts: nothing needs building. The only install script (classic-level's, under
# dynalite) looks for a native build that the package already ships prebuilt, and dynalite runs
# in memory anyway; skipping it keeps the install free of third-party scripts and compilers.
npm ci --no-audit --no-fund --ignore-scripts
echo "emulators installed in $(pwd)/node_modules"
