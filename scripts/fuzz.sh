#!/usr/bin/env bash
# Fuzzing: every cargo-fuzz target in fuzz/ (the code that parses bytes
# from strangers) runs for SECONDS (default 30) from its committed corpus
# under AddressSanitizer. SEED fixes libFuzzer's random choices (0, the
# default, draws a new seed): the tests pass a fixed one, so that they replay
# the corpus and explore the same path each time, and a red run means a
# regression; `make fuzz` explores anew. New inputs go to a scratch folder, so the
# committed corpus changes only when someone adds to it on purpose; a crash
# leaves its input in fuzz/artifacts/<target>/ and fails the run. Targets are
# built as the code ships (optimised, without overflow checks: the plugins'
# release builds wrap, as a third-party image decoder's arithmetic does), with
# AddressSanitizer. Needs the dated nightly toolchain pinned in pins.toml
# and cargo-fuzz; both are installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
seconds="${1:-30}"
seed="${2:-0}"
case "$seconds$seed" in
  *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS [SEED]]" >&2; exit 2 ;;
esac
toolchain="$(pin cargo_fuzz.toolchain)"
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  echo "==> installing the $toolchain toolchain (cargo-fuzz needs nightly)"
  rustup toolchain install "$toolchain" --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version "$(pin cargo_fuzz.version)"
fi
cd fuzz
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo "+$toolchain" fuzz list); do
  echo "==> fuzz $target for ${seconds}s"
  mkdir -p "$scratch/$target"
  cargo "+$toolchain" fuzz run --release "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -seed="$seed" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done
