#!/usr/bin/env bash
# The main job: the example plugins doing their work through the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "==> building clusterai (release)"
cargo build --release -p clusterai-cli
clusterai=target/release/clusterai
plugins=plugins/target/wasm32-wasip2/release

echo "==> hello"
echo "ClusterAI" | "$clusterai" plugin run "$plugins/hello.wasm" --input -
echo "ClusterAI" | "$clusterai" plugin run "$plugins/hello.wasm" --input - --param greeting=Welcome --json
