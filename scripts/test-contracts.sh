#!/usr/bin/env bash
# Builds, checks and tests the CosmWasm contracts beyond what
# `cargo test --workspace` covers:
#
#   1. set-up (idempotent): the wasm32 target, wasm-opt from npm binaryen and
#      cosmwasm-check (versions in pins.toml), both in the cache outside the
#      repository;
#   2. every contract built for wasm32-unknown-unknown with `--profile contract`;
#   3. wasm-opt lowers the bulk-memory opcodes Rust >= 1.87 emits and shrinks
#      the code into cosmwasm-contracts/artifacts/<crate>.wasm (gitignored;
#      artifacts/checksums.txt lists their sha256);
#   4. cosmwasm-check with the capabilities of the pinned wasmd;
#   5. schema drift: the committed schema/ folders must match the messages;
#   6. the cosmwasm-vm workspace (cosmwasm-contracts/vm-tests) runs each
#      optimised artifact: exports, a full k=3 task lifecycle, gas.
#
# Usage: scripts/test-contracts.sh [--artifacts-only]
#   --artifacts-only  steps 1-3 only (used by scripts/bench-chain.sh).
#
# Environment:
#   CLUSTERAI_CACHE     cache root (default ~/.cache/clusterai)
#   CLUSTERAI_CW_TARGET target dir shared by the cosmwasm-check install and
#                       the vm-tests build, so wasmer is compiled once
#                       (default $CLUSTERAI_CACHE/cw-target)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
CACHE="$CLUSTERAI_CACHE"
CW_TARGET="${CLUSTERAI_CW_TARGET:-$CACHE/cw-target}"
BINARYEN_VERSION="$(pin binaryen.version)"
COSMWASM_CHECK_VERSION="$(pin cosmwasm_check.version)"
WASMD_VERSION="$(pin wasmd.version)"
WASMD_CAPABILITIES="$(pin wasmd.capabilities)"
CONTRACTS=(token node-registry task-market model-market)
ARTIFACTS="$ROOT/cosmwasm-contracts/artifacts"
WASM_OPT="$CACHE/binaryen-$BINARYEN_VERSION/node_modules/.bin/wasm-opt"
COSMWASM_CHECK="$CACHE/cosmwasm-check-$COSMWASM_CHECK_VERSION/bin/cosmwasm-check"

artifacts_only=false
for arg in "$@"; do
  case "$arg" in
    --artifacts-only) artifacts_only=true ;;
    *) echo "usage: $0 [--artifacts-only]" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*" >&2; }
started=$(date +%s)

# --- 1. set-up ----------------------------------------------------------------
step "set-up (cache: $CACHE)"
mkdir -p "$CACHE"
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown >&2
  fi
fi
if [[ ! -x "$WASM_OPT" ]] || ! "$WASM_OPT" --version | grep -q "version $BINARYEN_VERSION"; then
  command -v npm >/dev/null || { echo "npm is needed to install binaryen@$BINARYEN_VERSION" >&2; exit 1; }
  npm install --no-audit --no-fund --prefix "$CACHE/binaryen-$BINARYEN_VERSION" "binaryen@$BINARYEN_VERSION" >&2
fi
if ! $artifacts_only; then
  if [[ ! -x "$COSMWASM_CHECK" ]] || ! "$COSMWASM_CHECK" --version | grep -q "$COSMWASM_CHECK_VERSION"; then
    cargo install --locked --root "$CACHE/cosmwasm-check-$COSMWASM_CHECK_VERSION" \
      --target-dir "$CW_TARGET" "cosmwasm-check@$COSMWASM_CHECK_VERSION" >&2
  fi
fi

# --- 2. wasm32 builds ---------------------------------------------------------
step "build contracts for wasm32-unknown-unknown (profile contract)"
cd "$ROOT"
# Built one by one: cargo unifies features across the packages of one
# invocation, and a contract must never pick up another crate's features.
for c in "${CONTRACTS[@]}"; do
  cargo build --locked --target wasm32-unknown-unknown --profile contract --lib -p "clusterai-$c" >&2
done

# --- 3. wasm-opt -----------------------------------------------------------------
step "wasm-opt -Os --llvm-memory-copy-fill-lowering -> $ARTIFACTS"
mkdir -p "$ARTIFACTS"
for c in "${CONTRACTS[@]}"; do
  crate="clusterai_${c//-/_}"
  "$WASM_OPT" -Os --enable-bulk-memory --llvm-memory-copy-fill-lowering --strip-debug \
    "${CARGO_TARGET_DIR:-$ROOT/target}/wasm32-unknown-unknown/contract/$crate.wasm" -o "$ARTIFACTS/$crate.wasm"
done
(cd "$ARTIFACTS" && sha256sum clusterai_*.wasm > checksums.txt && ls -l clusterai_*.wasm >&2)
if $artifacts_only; then
  step "artifacts ready in $(( $(date +%s) - started ))s"
  exit 0
fi

# --- 4. cosmwasm-check ---------------------------------------------------------
step "cosmwasm-check $COSMWASM_CHECK_VERSION (wasmd $WASMD_VERSION capabilities)"
"$COSMWASM_CHECK" --available-capabilities "$WASMD_CAPABILITIES" "$ARTIFACTS"/clusterai_*.wasm >&2

# --- 5. schema drift -----------------------------------------------------------
step "schema drift"
for c in "${CONTRACTS[@]}"; do
  (cd "cosmwasm-contracts/contracts/$c" && cargo run --locked --quiet -p "clusterai-$c" --bin schema >/dev/null)
done
if ! git diff --exit-code -- cosmwasm-contracts/contracts/*/schema >&2 \
  || [[ -n "$(git ls-files --others --exclude-standard -- cosmwasm-contracts/contracts/*/schema)" ]]; then
  echo "schema drift: regenerate with 'cargo run -p <contract> --bin schema' in the contract's folder and commit" >&2
  git ls-files --others --exclude-standard -- cosmwasm-contracts/contracts/*/schema >&2
  exit 1
fi

# --- 6. cosmwasm-vm --------------------------------------------------------------
step "cosmwasm-vm tests on the optimised artifacts"
# The test binary may have been built from another checkout sharing
# $CW_TARGET (its built-in path would be that checkout's): name this one's.
(cd cosmwasm-contracts/vm-tests && CLUSTERAI_ARTIFACTS="$ARTIFACTS" CARGO_TARGET_DIR="$CW_TARGET" cargo test --release --locked >&2)

step "contracts OK in $(( $(date +%s) - started ))s"
