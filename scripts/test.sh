#!/usr/bin/env bash
# All the tests: set-up, then every test of the host workspace (the plugin
# builds, the hostile suite, the CLI and the contracts' native tests), then
# the contracts' wasm builds, cosmwasm-check, schema drift and cosmwasm-vm tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "==> cargo test --workspace"
cargo test --workspace
echo "==> contracts on wasm"
scripts/test-contracts.sh
