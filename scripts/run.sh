#!/usr/bin/env bash
# The main job: the example plugins doing real AI work through the sandbox
# (wasmtime, wasi:nn on ONNX Runtime, pretrained models found by hash), first
# as a plugin developer runs them, then served by a local node over HTTP with
# signed receipts. KEEP_NODE=1 leaves the node serving until Ctrl-C.
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
# The files that come with models (tokenizers), kept as they are.
for blob in "$CLUSTERAI_MODELS_CACHE"/*.json "$CLUSTERAI_MODELS_CACHE"/*.bin; do
  "$clusterai" model add --blob "$blob" --json \
    | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["hash"], sys.argv[1])' "$(basename "$blob")"
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
echo "==> chat: SmolLM2-135M-Instruct in the sandbox, tokens streamed as they are generated"
"$clusterai" plugin run "$plugins/chat.wasm" --input - --param max_tokens=48 <<< "Once upon a time"
echo
echo '{"messages":[{"role":"user","content":"What is the capital of France?"}]}' \
  | "$clusterai" plugin run "$plugins/chat.wasm" --input - --content-type application/json --param max_tokens=32
echo

echo
echo "==> tensor: any model the node holds, named tensors in and out"
mlp=$("$clusterai" model add host/nn/tests/data/mlp.onnx --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])')
echo '{"inputs":{"x":{"dtype":"f32","shape":[1,4],"data":[1,2,3,4]}}}' \
  | "$clusterai" plugin run "$plugins/tensor.wasm" --input - --content-type application/json \
      --model "$mlp" --param "model=$mlp"
echo

echo
echo "==> a local node serving them: HTTP API, durable queue, signed receipts"
node_dir=$(mktemp -d)
node_pid=
stop_node() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid"
    wait "$node_pid" || true
  fi
  rm -rf "$node_dir"
}
trap stop_node EXIT
# The node keeps its key, blobs and tasks in the data directory above (the
# models are already there); this config only picks free ports and preloads.
{
  echo "[http]"
  echo "bind = \"127.0.0.1:0\""
  echo "[iroh]"
  echo "bind = \"127.0.0.1:0\""
  echo "[preload]"
  printf 'plugins = ['; for p in hello ocr embed tensor chat; do printf '"%s", ' "$PWD/$plugins/$p.wasm"; done; echo ']'
  printf 'models = ['; for m in "$CLUSTERAI_MODELS_CACHE"/*.onnx; do printf '"%s", ' "$m"; done; echo ']'
} > "$node_dir/config.toml"
"$clusterai" node start --config "$node_dir/config.toml" --json > "$node_dir/started.json" &
node_pid=$!
for _ in $(seq 600); do
  [ -s "$node_dir/started.json" ] && break
  kill -0 "$node_pid" 2>/dev/null || { echo "the node did not start" >&2; exit 1; }
  sleep 0.1
done
read -r CLUSTERAI_NODE dashboard < <(python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).readline()); print(s["http"], s["dashboard"])' "$node_dir/started.json")
export CLUSTERAI_NODE
for _ in $(seq 600); do
  curl -fs "$CLUSTERAI_NODE/readyz" >/dev/null && break
  sleep 0.1
done
echo "node $CLUSTERAI_NODE ready: $(curl -fs "$CLUSTERAI_NODE/v1/plugins" | python3 -c 'import json,sys; print(", ".join(p["name"] for p in json.load(sys.stdin)))')"

echo "--- hello"
echo "ClusterAI" | "$clusterai" task submit --plugin "$plugins/hello.wasm" --input - --wait
echo "--- ocr"
"$clusterai" task submit --plugin "$plugins/ocr.wasm" --input plugins/examples/ocr/golden/text.png --wait
echo "--- chat (task watch ID, or the dashboard, shows a generation token by token)"
"$clusterai" task submit --plugin "$plugins/chat.wasm" --input - --param max_tokens=32 --wait <<< "The best thing about open models is"
echo
echo "--- embed, with its signed receipt"
"$clusterai" task submit --plugin "$plugins/embed.wasm" --input plugins/examples/embed/golden/sentences.txt \
  --wait --json > "$node_dir/embed.json"
python3 - "$node_dir" <<'PY'
import json, sys
d = sys.argv[1]
r = json.load(open(f"{d}/embed.json"))
json.dump(r["receipt"], open(f"{d}/receipt.json", "w"))
print("task", r["task"]["id"], "took", r["task"]["usage"]["wall_us"], "us;", len(r["inferences"]), "inferences")
print("receipt:", json.dumps(r["receipt"]["receipt"], indent=1)[:900])
PY
task=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["task"]["id"])' "$node_dir/embed.json")
"$clusterai" task get "$task" | sed -n 1,3p
curl -fs "$CLUSTERAI_NODE/v1/tasks/$task/output" > "$node_dir/embed.out"
"$clusterai" receipt verify "$node_dir/receipt.json" --plugin "$plugins/embed.wasm" \
  --input plugins/examples/embed/golden/sentences.txt --output "$node_dir/embed.out"
echo "--- the node's figures"
curl -fs "$CLUSTERAI_NODE/metrics" | grep -E '^clusterai_(tasks_total|queue_depth|inference_seconds_count)' | sed -n 1,8p
echo "dashboard: $dashboard"
if [ "${KEEP_NODE:-0}" = 1 ]; then
  echo "serving until Ctrl-C"
  wait "$node_pid" || true
fi
kill -TERM "$node_pid"
wait "$node_pid" && echo "node stopped cleanly (exit 0)"
node_pid=
