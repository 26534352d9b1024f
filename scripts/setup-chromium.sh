#!/usr/bin/env bash
# Headless Chromium for the dashboard test, from Debian's `chromium` package.
# Skips when a browser is already on PATH; where it cannot install (no
# apt-get, not root), it says so and the dashboard test reports the skip.
set -euo pipefail
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then
    echo "$("$b" --version 2>/dev/null | head -1) (already installed)"
    exit 0
  fi
done
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "no chromium and no root apt-get here: install Debian's chromium for the dashboard test" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version
