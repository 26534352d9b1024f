#!/usr/bin/env bash
# All the tests: set-up, then every test of the host workspace (the plugin
# builds, the hostile suite, the CLI and the contracts' native tests), the
# plugin crates' own unit tests (codecs, tokenizers, SDK) on the host target,
# the converted LLM graph against its numpy reference, then the contracts'
# wasm builds, cosmwasm-check, schema drift and cosmwasm-vm tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "==> headless Chromium (the dashboard test)"
scripts/setup-chromium.sh
echo "==> cargo test --workspace"
cargo test --workspace
echo "==> plugin crates' unit tests (host target)"
host_target="$(rustc -vV | sed -n 's/^host: //p')"
(cd plugins && cargo test --workspace --target "$host_target")
echo "==> the LLM graph against a numpy forward pass of its GGUF"
scripts/llm-reference.sh
echo "==> contracts on wasm"
scripts/test-contracts.sh
