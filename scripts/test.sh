#!/usr/bin/env bash
# All the tests: set-up, then every test of the host workspace (the plugin
# builds, the hostile suite and the CLI included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "==> cargo test --workspace"
cargo test --workspace
