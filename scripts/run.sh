#!/usr/bin/env bash
# The main job: the example plugins doing real AI work through the sandbox
# (wasmtime, wasi:nn on ONNX Runtime, pretrained models found by hash).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "==> building clusterai (release)"
cargo build --release -p clusterai-cli
clusterai="${CARGO_TARGET_DIR:-target}/release/clusterai"
plugins=plugins/target/wasm32-wasip2/release
source scripts/env.sh

echo
echo "==> models into the node's blob store ($CLUSTERAI_DATA_DIR)"
for model in "$CLUSTERAI_MODELS_CACHE"/*.onnx; do
  "$clusterai" model add "$model" --json \
    | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["hash"], sys.argv[1])' "$(basename "$model")"
done

echo
echo "==> hello: no model, the smallest plugin"
echo "ClusterAI" | "$clusterai" plugin run "$plugins/hello.wasm" --input -

echo
echo "==> ocr: PP-OCR detector -> direction classifier -> recogniser, on an image"
"$clusterai" plugin inspect "$plugins/ocr.wasm"
for image in plugins/examples/ocr/golden/text.png plugins/examples/ocr/golden/text.jpg; do
  echo "--- $image"
  "$clusterai" plugin run "$plugins/ocr.wasm" --input "$image"
  echo
done

echo
echo "==> embed: all-MiniLM-L6-v2 sentence embeddings (first values of each vector)"
"$clusterai" plugin run "$plugins/embed.wasm" --input plugins/examples/embed/golden/sentences.txt --json \
  | python3 -c 'import json,sys; v=json.load(sys.stdin); out=v["output"]["json"]
lines=[l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
for s,e in zip(lines, out["embeddings"]): print(f"{s[:48]!r:52} {[round(x,4) for x in e[:4]]} ...")
print("dim:", out["dim"], "usage:", v["usage"], "inferences:", len(v["inferences"]))' plugins/examples/embed/golden/sentences.txt

echo
echo "==> tensor: any model the node holds, named tensors in and out"
mlp=$("$clusterai" model add host/nn/tests/data/mlp.onnx --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])')
echo '{"inputs":{"x":{"dtype":"f32","shape":[1,4],"data":[1,2,3,4]}}}' \
  | "$clusterai" plugin run "$plugins/tensor.wasm" --input - --content-type application/json \
      --model "$mlp" --param "model=$mlp"
echo
