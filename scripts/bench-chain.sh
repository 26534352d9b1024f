#!/usr/bin/env bash
# The contracts' figures: gas of a k=3 task lifecycle on the optimised
# artifacts in cosmwasm-vm against a cw20 transfer, and the economics
# simulation (each deviating strategy's profit against honesty's).
#
# Usage: scripts/bench-chain.sh [--json] [--tasks N]
#   Builds the artifacts (scripts/test-contracts.sh --artifacts-only), runs
#   the gas-bench tool of cosmwasm-contracts/vm-tests, then the economics
#   simulation (N market tasks per run, default 300). With --json, stdout is
#   exactly the project's bench JSON:
#   {"suite":"chain","results":[{"name","unit","value","baseline","baseline_value","ratio"}]}
#   Gas: gas:cw20_transfer, gas:post, gas:assign, gas:beacon_round, gas:commit_{1,2,3},
#   gas:reveal_{1,2,3}, gas:settle, gas:task_lifecycle_k3(_own_round); unit vm_gas
#   (CosmWasm VM gas); baseline cw20_transfer.
#   Economics: profit:<strategy>@<share> for lazy, colluding, colluding_split,
#   withholding, declining, griefing at 0.10, 0.20, 0.30; unit tokens/task;
#   baseline profit:honest@<share>.
#   Logs and tables go to stderr. Exits 1 if a deviation out-earns honesty.
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
json=false
econ_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --json) json=true ;;
    --tasks) econ_args+=(--tasks "${2:?--tasks needs a number}"); shift ;;
    *) echo "usage: $0 [--json] [--tasks N]" >&2; exit 2 ;;
  esac
  shift
done
cd "$ROOT"
cargo build --release --locked -q -p clusterai-economy-testing --bin economics >&2
economics="${CARGO_TARGET_DIR:-$ROOT/target}/release/economics"
if ! $json; then
  "$CW_TARGET/release/gas-bench"
  exec "$economics" "${econ_args[@]}"
fi
gas_json="$("$CW_TARGET/release/gas-bench" --json)"
econ_json="$("$economics" --json "${econ_args[@]}")"
python3 - "$gas_json" "$econ_json" <<'PY'
import json, sys
gas, econ = (json.loads(a) for a in sys.argv[1:3])
print(json.dumps({"suite": "chain", "results": gas["results"] + econ["results"]}, indent=2))
PY
