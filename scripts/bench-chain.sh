#!/usr/bin/env bash
# Gas of a k=3 task lifecycle on the optimised contract artifacts, in
# cosmwasm-vm, against a cw20 transfer.
#
# Usage: scripts/bench-chain.sh [--json]
#   Builds the artifacts (scripts/test-contracts.sh --artifacts-only), then runs
#   the gas-bench tool of cosmwasm-contracts/vm-tests. With --json, stdout is
#   exactly the project's bench JSON:
#   {"suite":"chain","results":[{"name","unit","value","baseline","baseline_value","ratio"}]}
#   Names: gas:cw20_transfer, gas:post, gas:commit_{1,2,3}, gas:reveal_{1,2,3},
#   gas:settle, gas:task_lifecycle_k3; unit vm_gas (CosmWasm VM gas); baseline cw20_transfer.
#   Logs go to stderr.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
CW_TARGET="${CLUSTERAI_CW_TARGET:-$CLUSTERAI_CACHE/cw-target}"
"$ROOT/scripts/test-contracts.sh" --artifacts-only >&2
cd "$ROOT/cosmwasm-contracts/vm-tests"
CARGO_TARGET_DIR="$CW_TARGET" cargo build --release --locked --bin gas-bench >&2
# The binary may come from another checkout sharing $CW_TARGET (cargo uplifts
# one release/gas-bench for all of them), so name this checkout's artifacts.
export CLUSTERAI_ARTIFACTS="$ROOT/cosmwasm-contracts/artifacts"
exec "$CW_TARGET/release/gas-bench" "$@"
