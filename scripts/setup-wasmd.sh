#!/usr/bin/env bash
# Builds the pinned wasmd (the reference CosmWasm chain) from the Go module
# proxy and prints the path of the binary.
#
# `go install github.com/CosmWasm/wasmd/cmd/wasmd@VERSION` refuses to work
# because wasmd's go.mod has `replace` directives, so the module is downloaded,
# copied somewhere writable and built as the main module. libwasmvm comes inside
# the wasmvm Go module and is linked with an rpath into the module cache, so the
# binary needs nothing else. Idempotent: a binary already built for the pinned
# version is reused without network or compiler.
#
#   scripts/setup-wasmd.sh            # prints the wasmd path
#
# Environment (scripts/env.sh): CLUSTERAI_CACHE (cache root).
set -euo pipefail
source "$(dirname "$0")/env.sh"

VERSION="$(pin wasmd.version)"
DEST="$CLUSTERAI_CACHE/wasmd/$VERSION"
BIN="$DEST/wasmd"

say() { echo "setup-wasmd: $*" >&2; }

works() { [ -x "$1" ] && "$1" version >/dev/null 2>&1; }

if works "$BIN"; then
    echo "$BIN"
    exit 0
fi

command -v go >/dev/null 2>&1 || { say "needs Go (1.25 or newer) to build wasmd $VERSION"; exit 1; }
command -v gcc >/dev/null 2>&1 || { say "needs gcc: wasmd links libwasmvm through cgo"; exit 1; }

say "downloading github.com/CosmWasm/wasmd@$VERSION from the Go module proxy"
MODDIR="$(go mod download -json "github.com/CosmWasm/wasmd@$VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"

mkdir -p "$DEST"
WORK="$(mktemp -d "$DEST/.build.XXXXXX")"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
cp -r "$MODDIR/." "$WORK/"
chmod -R u+w "$WORK"

say "building wasmd $VERSION (first time only: minutes on two cores)"
started=$(date +%s)
(
    cd "$WORK"
    # Version metadata as wasmd's Makefile sets it, so `wasmd version` is true.
    LD="-X github.com/cosmos/cosmos-sdk/version.Name=wasm"
    LD="$LD -X github.com/cosmos/cosmos-sdk/version.AppName=wasmd"
    LD="$LD -X github.com/cosmos/cosmos-sdk/version.Version=${VERSION#v}"
    CGO_ENABLED=1 go build -mod=mod -trimpath -ldflags "$LD" -o "$WORK/wasmd.bin" ./cmd/wasmd
)
mv "$WORK/wasmd.bin" "$BIN"
works "$BIN" || { say "the built binary does not run: $("$BIN" version 2>&1 | tail -n 3)"; exit 1; }
say "built $BIN in $(( $(date +%s) - started ))s"
echo "$BIN"
