#!/usr/bin/env bash
# Makes sure Node.js 18 or later is on PATH. The CDK app is C#, but the CDK itself is JavaScript
# that jsii runs in a node process, both for `dotnet run --project deploy` and for
# Tests/Deploy.Tests, which synthesises the stack in-process. Installs Debian's nodejs otherwise.
# Safe to run again: with a recent enough node it does nothing.
set -euo pipefail

minimum=18
major() { node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }

if command -v node >/dev/null 2>&1 && [ "$(major)" -ge "$minimum" ] 2>/dev/null; then
  echo "node $(node --version) is installed"
  exit 0
fi

echo "node $minimum or later is needed for the CDK (found: $(node --version 2>/dev/null || echo none)); installing Debian's nodejs"
if [ "$(id -u)" -ne 0 ]; then
  echo "run this as root, or install Node.js $minimum or later yourself" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null

if ! command -v node >/dev/null 2>&1 || [ "$(major)" -lt "$minimum" ]; then
  echo "Debian's nodejs is $(node --version 2>/dev/null || echo missing), older than $minimum: install Node.js $minimum or later yourself" >&2
  exit 1
fi
echo "node $(node --version) installed"
