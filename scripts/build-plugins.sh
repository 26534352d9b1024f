#!/usr/bin/env bash
# Builds every plugin in plugins/ (SDK, examples, hostile test programs) as a
# wasm32-wasip2 component into plugins/target/wasm32-wasip2/release/.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
cargo build --release --target wasm32-wasip2 --workspace --manifest-path plugins/Cargo.toml
