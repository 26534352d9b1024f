#!/usr/bin/env bash
# All the tests: set-up, then every test of the host workspace (the plugin
# builds, the hostile suite, the CLI and the contracts' native tests), the
# plugin crates' own unit tests (codecs, tokenizers, SDK) on the host target,
# the fuzz targets for a bounded time (scripts/fuzz.sh),
# the converted LLM graph against its numpy reference, then the contracts'
# wasm builds, cosmwasm-check, schema drift and cosmwasm-vm tests. The
# end-to-end tests (tests/) start a real wasmd chain, built here from the Go
# module proxy on first use, with the contracts' optimised artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "==> headless Chromium (the dashboard test)"
scripts/setup-chromium.sh
echo "==> wasmd (the real chain of the end-to-end tests)"
CLUSTERAI_WASMD="$(scripts/setup-wasmd.sh)"
export CLUSTERAI_WASMD
echo "==> contract artifacts (the end-to-end tests deploy them)"
scripts/test-contracts.sh --artifacts-only
echo "==> cargo test --workspace"
cargo test --workspace
echo "==> plugin crates' unit tests (host target)"
host_target="$(rustc -vV | sed -n 's/^host: //p')"
(cd plugins && cargo test --workspace --target "$host_target")
echo "==> fuzzing: each target 30 s from its committed corpus, on a fixed seed"
scripts/fuzz.sh 30 1
echo "==> the LLM graph against a numpy forward pass of its GGUF"
scripts/llm-reference.sh
echo "==> contracts on wasm"
scripts/test-contracts.sh
