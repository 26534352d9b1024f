#!/usr/bin/env bash
# Runs every pinned model through the plugin path (the tensor plugin calling
# wasi:nn) on the CUDA execution provider and on CPU: `clusterai bench gpu`,
# which prints each model's latency beside CPU's and the largest difference
# of their outputs. CI never runs this.
#
# What it needs, checked in this order (each missing piece fails with its name):
#   1. an NVIDIA GPU and its driver: nvidia-smi and libcuda.so.1;
#   2. the GPU build of ONNX Runtime: PyPI onnxruntime-gpu (version in
#      pins.toml; the host accepts its minor version). The script extracts
#      libonnxruntime.so.<version>, libonnxruntime_providers_cuda.so and
#      libonnxruntime_providers_shared.so from the wheel, found in
#      $CLUSTERAI_WHEELS (offline) or fetched with pip;
#   3. the CUDA 13 runtime libraries that provider loads: libcudart.so.13,
#      libcublas.so.13, libcublasLt.so.13, libcurand.so.10, libcufft.so.12 and
#      cuDNN 9 (libcudnn.so.9) -- from a system CUDA 13 install, from
#      $CUDA_LIBS, or from the PyPI wheels nvidia-cuda-runtime, nvidia-cublas,
#      nvidia-curand, nvidia-cufft, nvidia-cuda-nvrtc, nvidia-cudnn-cu13 in
#      $CLUSTERAI_WHEELS (extracted here);
#   4. the pinned models in the cache (scripts/setup-models.sh);
#   5. the clusterai binary and the tensor plugin: built here with cargo, or
#      prebuilt: $CLUSTERAI_BIN and $CLUSTERAI_PLUGIN_WASM_DIR/tensor.wasm.
#
#   scripts/gpu-check.sh [--json] [SCALE]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/env.sh"
CACHE="$CLUSTERAI_CACHE"
WHEELS="$CLUSTERAI_WHEELS"
JSON=""
if [ "${1:-}" = "--json" ]; then JSON=--json; shift; fi
SCALE="${1:-1}"
GPU_VERSION="$(pin onnxruntime_gpu.version)"
fail() { echo "gpu-check: $*" >&2; exit 1; }

# 1. GPU and driver.
command -v nvidia-smi >/dev/null 2>&1 || fail "needs an NVIDIA GPU with its driver (nvidia-smi not found)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || fail "nvidia-smi sees no GPU"
ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1' || [ -e /usr/lib/x86_64-linux-gnu/libcuda.so.1 ] \
    || fail "needs the NVIDIA driver's libcuda.so.1"

# 2. ONNX Runtime, GPU build.
ORT_DIR="$CACHE/onnxruntime-gpu/$GPU_VERSION"
if [ ! -f "$ORT_DIR/libonnxruntime_providers_cuda.so" ]; then
    mkdir -p "$WHEELS" "$ORT_DIR"
    WHEEL="$(ls "$WHEELS"/onnxruntime_gpu-"$GPU_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
    if [ -z "$WHEEL" ]; then
        python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
            --platform manylinux_2_28_x86_64 "onnxruntime-gpu==$GPU_VERSION" -d "$WHEELS" >&2 \
            || fail "needs the GPU build of ONNX Runtime: put onnxruntime_gpu-$GPU_VERSION-cp311-cp311-manylinux_2_28_x86_64.whl (PyPI onnxruntime-gpu==$GPU_VERSION, ~256 MB) in $WHEELS"
        WHEEL="$(ls "$WHEELS"/onnxruntime_gpu-"$GPU_VERSION"-*.whl | head -n1)"
    fi
    python3 - "$WHEEL" "$ORT_DIR" <<'PY'
import os, shutil, sys, zipfile
wheel, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for m in z.namelist():
        base = os.path.basename(m)
        if m.startswith("onnxruntime/capi/lib") and ".so" in base and "tensorrt" not in base:
            with z.open(m) as src, open(os.path.join(out, base), "wb") as dst:
                shutil.copyfileobj(src, dst)
PY
fi
export ORT_DYLIB_PATH="$ORT_DIR/libonnxruntime.so.$GPU_VERSION"
[ -f "$ORT_DYLIB_PATH" ] || fail "no $ORT_DYLIB_PATH after extracting the onnxruntime-gpu wheel"

# 3. CUDA 13 runtime libraries.
CUDA_DIR="$CACHE/cuda13/lib"
mkdir -p "$CUDA_DIR"
for pkg in nvidia_cuda_runtime nvidia_cublas nvidia_curand nvidia_cufft nvidia_cuda_nvrtc nvidia_cudnn_cu13; do
    for whl in "$WHEELS"/"$pkg"-*.whl; do
        [ -e "$whl" ] || continue
        python3 - "$whl" "$CUDA_DIR" <<'PY'
import os, shutil, sys, zipfile
wheel, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for m in z.namelist():
        if "/lib/" in m and ".so" in os.path.basename(m):
            with z.open(m) as src, open(os.path.join(out, os.path.basename(m)), "wb") as dst:
                shutil.copyfileobj(src, dst)
PY
    done
done
export LD_LIBRARY_PATH="$ORT_DIR:$CUDA_DIR${CUDA_LIBS:+:$CUDA_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
missing=()
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcufft.so.12 libcudnn.so.9; do
    found=""
    IFS=: read -ra dirs <<< "$LD_LIBRARY_PATH"
    for d in "${dirs[@]}"; do [ -e "$d/$lib" ] && found=1 && break; done
    [ -n "$found" ] || ldconfig -p 2>/dev/null | grep -q "$lib" || missing+=("$lib")
done
[ ${#missing[@]} -eq 0 ] || fail "needs the CUDA 13 runtime libraries ${missing[*]}: install CUDA 13 + cuDNN 9, set CUDA_LIBS to their folder, or put the PyPI wheels nvidia-cuda-runtime, nvidia-cublas, nvidia-curand, nvidia-cufft, nvidia-cuda-nvrtc, nvidia-cudnn-cu13 in $WHEELS"

# 4. The models.
for m in "$CLUSTERAI_MODELS_CACHE"/ppocr-det.onnx; do
    [ -f "$m" ] || fail "needs the pinned models in $CLUSTERAI_MODELS_CACHE: run scripts/setup-models.sh"
done

# 5. The binary and the plugin.
BIN="${CLUSTERAI_BIN:-}"
if [ -z "$BIN" ]; then
    command -v cargo >/dev/null 2>&1 || fail "needs cargo to build clusterai, or CLUSTERAI_BIN and CLUSTERAI_PLUGIN_WASM_DIR set to prebuilt ones"
    (cd "$ROOT" && scripts/build-plugins.sh >&2 && cargo build --quiet --release -p clusterai-cli)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/clusterai"
fi
echo "gpu-check: ONNX Runtime $ORT_DYLIB_PATH" >&2
cd "$ROOT"
"$BIN" bench gpu --scale "$SCALE" $JSON
