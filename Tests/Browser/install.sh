#!/usr/bin/env bash
# Installs the browser that Tests/Dashboard.Tests drives: Debian's chromium. Playwright's own
# browser download needs hosts our machines cannot reach, so the tests launch /usr/bin/chromium
# instead. Safe to run again: when chromium is already there it does nothing.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not found: install chromium at /usr/bin/chromium by hand for the dashboard tests" >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# fonts-dejavu-core: headless chromium draws text with whatever fonts exist; without one the
# screenshots show boxes.
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
